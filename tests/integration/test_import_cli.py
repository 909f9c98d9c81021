"""`callboard import | export | template | bulk-delete | jobs` on SQLite and PostgreSQL,
through click's CliRunner with the settings in the environment."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from callboard.cli import main
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.tables import records
from callboard.engine.tenancy import Tenant, TenantStore

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., Result]


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def run(db_url: str, tmp_path: Path) -> Run:
    env = {"CALLBOARD_DATA_DIR": str(tmp_path / "data"), "CALLBOARD_DATABASE_URL": db_url,
           "CALLBOARD_SECRET_KEY": "test-secret", "CALLBOARD_REDIS_URL": ""}
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], env=env)


@pytest.fixture
def db(run: Run, db_url: str) -> Iterator[Engine]:
    assert run("db", "upgrade").exit_code == 0
    engine = connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def water(db: Engine) -> Tenant:
    store = TenantStore(db)
    tenant = store.create("water", None, BundleSource.from_dir(ROOT / "config"))
    store.add_member(tenant.id, 1, "owner@water.test", "owner", extension="100")
    return tenant


def live(db: Engine) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(records).where(
            records.c.deleted_at.is_(None))).scalar_one()


def test_template_import_upsert_export_revert_delete(run: Run, db: Engine, water: Tenant,
                                                     tmp_path: Path) -> None:
    tpl = tmp_path / "t.xlsx"
    r = run("template", "water", "customer", tpl)
    assert r.exit_code == 0, r.output
    assert openpyxl.load_workbook(tpl).sheetnames == ["Khách hàng", "lists", "instructions"]
    data = tmp_path / "kh.csv"
    data.write_text("name,phone,owner,district\nAn,0901000001,owner@water.test,Quận 1\n"
                    "Bình,901000002,100,quan_3\nSai,12,,\n", encoding="utf-8")
    r = run("import", "water", "customer", data, "--dry-run")
    assert r.exit_code == 0 and r.output.startswith("would create 2, updated 0"), r.output
    assert live(db) == 0
    r = run("import", "water", "customer", data)
    assert r.exit_code == 0, r.output
    assert "created 2, updated 0, unchanged 0, failed 1 of 3 rows (job 2)" in r.output
    rejected = Path(r.output.split("error column: ")[1].strip())
    rows = list(openpyxl.load_workbook(rejected).active.iter_rows(values_only=True))
    assert rows[0][-1] == "error" and rows[1][0] == "Sai"
    data.write_text("name,phone\nAn mới,0901000001\n", encoding="utf-8")
    r = run("import", "water", "customer", data, "--mode", "upsert", "--key", "phone")
    assert "created 0, updated 1" in r.output, r.output
    out = tmp_path / "out.xlsx"
    r = run("export", "water", "customer", out, "--filter", "district=quan_1",
            "--locale", "en")
    assert r.output.strip() == f"exported 1 customer records to {out}"
    sheet = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert sheet[0][1] == "Account holder" and sheet[1][1] == "An mới"
    r = run("jobs", "revert", "2")
    assert r.exit_code == 0 and "removed 2" in r.output, r.output
    assert live(db) == 0
    r = run("jobs", "show", "2")
    assert '"reverted_by": 4' in r.output
    run("import", "water", "customer", tmp_path / "kh.csv")
    delete = tmp_path / "del.csv"
    delete.write_text("phone\n0901000001\n0999999999\n", encoding="utf-8")
    r = run("bulk-delete", "water", "customer", delete)
    assert r.output.startswith("deleted 1, not found 1 of 2 values"), r.output


def test_bad_input_is_one_line(run: Run, water: Tenant, tmp_path: Path) -> None:
    good = tmp_path / "a.csv"
    good.write_text("name,phone\nA,0901000001\n", encoding="utf-8")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    cases = [
        (("import", "nowhere", "customer", good), "no tenant"),
        (("import", "water", "nothing", good), "no entity 'nothing'"),
        (("import", "water", "customer", tmp_path / "missing.csv"), "no such file"),
        (("import", "water", "customer", bad), "not an Excel workbook"),
        (("import", "water", "customer", good, "--mode", "upsert", "--key", "address"),
         "cannot match records"),
        (("import", "water", "customer", good, "--mode", "merge"), "merge"),
        (("export", "water", "customer", tmp_path / "o.xlsx", "--filter", "nope=1"),
         "nope"),
        (("export", "water", "customer", tmp_path / "o.xlsx", "--filter", "oops"),
         "FIELD__OP=VALUE"),
        (("template", "water", "nothing", tmp_path / "t.xlsx"), "no entity"),
        (("template", "water", "customer", tmp_path / "t.csv"), ".xlsx"),
        (("jobs", "show", "999"), "no job 999"),
        (("jobs", "resume", "999"), "no job 999"),
    ]
    for args, message in cases:
        assert message in one_line_error(run(*args)), args
