"""Imports whose rows a helper process reads and validates (`io.rowsource`) while the
importing process writes them: the same outcome as reading them in-process, row for row,
on SQLite and PostgreSQL; a helper that dies leaves a resumable import."""
from __future__ import annotations

import gc
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select

from callboard.engine.access import Actor
from callboard.engine.records import RecordService
from callboard.engine.tables import activity, import_rows, records
from callboard.engine.tenancy import Tenant
from callboard.io.importer import import_file
from callboard.io.ledger import revert
from callboard.io.sheets import FileProblem
from callboard.jobs.runner import create_job
from callboard.workflows.hooks import records_service
from tests.conftest import children, running

HEADER = ["Tên chủ hộ / Tên khách hàng", "Điện thoại 1", "Email", "Loại khách hàng",
          "Quận / Huyện", "Số nhân khẩu đăng ký định mức", "Người phụ trách"]


@pytest.fixture
def svc(engine: Engine, water: Tenant, people: dict[str, Actor]) -> RecordService:
    return records_service(engine, water)


def workbook(path: Path, rows: int) -> Path:
    """`rows` customers over several batches, with every kind of bad row among them."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(HEADER)
    ws.append(["name", "phone", "email", "customer_type", "district", "household_members",
               "owner"])  # the template's row of names
    for i in range(rows):
        phone: Any = 901000000 + i if i % 3 == 0 else f"0{901000000 + i}"  # lost its 0
        row = [f"Khách {i}", phone, f"kh{i}@example.vn" if i % 4 == 0 else None,
               "Hộ gia đình" if i != 17 else "business", "Quận 1", (i % 6) + 1,
               "agent2@water.test" if i % 2 else None]
        if i == 7:
            row[2] = "not-an-email"
        if i == 11:
            row[6] = "nobody@water.test"  # no such user
        if i == 30:
            row[1] = "0901000025"  # repeats row 25, in the same batch
        if i == 230:
            row[1] = "0901000005"  # repeats row 5, in another batch
        if i == 13:
            row[5] = "many"  # (row 17 is a business without its required tax code)
        if i == 40:
            row = [None] * len(row)  # an empty row, skipped
        ws.append(row)
    wb.save(path)
    return path


def rejected(path: Path) -> list[tuple[Any, ...]]:
    """The rejected rows, the ids of records they collide with left out (a second run
    collides with records of its own)."""
    ws = openpyxl.load_workbook(path).active
    return [(*r[:-1], re.sub(r"customer \d+", "customer …", str(r[-1])))
            for r in ws.iter_rows(values_only=True)]


def stored(svc: RecordService) -> list[tuple[Any, ...]]:
    """The live customers as written: everything but ids and times."""
    with svc.engine.connect() as conn:
        rows = conn.execute(select(records).where(
            records.c.tenant_id == svc.tenant.id, records.c.entity == "customer",
            records.c.deleted_at.is_(None)).order_by(records.c.title)).all()
    return [(r.title, sorted(r.data.items()), r.owner_id, r.status, r.version) for r in rows]


def logged(svc: RecordService, since: int) -> list[Any]:
    with svc.engine.connect() as conn:
        return sorted((r.changes.get("name", [None, None])[1], sorted(r.changes.items()))
                      for r in conn.execute(select(activity).where(
                          activity.c.tenant_id == svc.tenant.id, activity.c.id > since,
                          activity.c.action == "create")))


def last_activity(svc: RecordService) -> int:
    with svc.engine.connect() as conn:
        return conn.execute(select(func.max(activity.c.id))).scalar() or 0


def test_helper_and_in_process_give_the_same_outcome(svc: RecordService,
                                                     people: dict[str, Actor],
                                                     tmp_path: Path) -> None:
    owner = people["owner"]
    path = workbook(tmp_path / "c.xlsx", 260)
    outcomes = []
    for parallel in (False, True):
        job = create_job(svc.engine, svc.tenant.id, owner.user_id, "import", {})
        mark = last_activity(svc)
        errors = tmp_path / f"rejected-{parallel}.xlsx"
        result = import_file(svc, owner, "customer", path, job_id=job, errors_path=errors,
                             batch_size=100, parallel=parallel)
        assert result["parallel"] is parallel
        outcomes.append(({k: result[k] for k in ("created", "failed", "rows", "unchanged")},
                         rejected(errors), stored(svc), logged(svc, mark)))
        assert revert(svc, owner, job, "customer")["removed"] == result["created"]
        assert gc.get_freeze_count() == 0  # the heap frozen meanwhile is handed back
    in_process, helper = outcomes
    assert in_process[0] == {"created": 253, "failed": 6, "rows": 259, "unchanged": 0}
    assert [r[-2] for r in in_process[1][1:]] == [10, 14, 16, 20, 33, 233]  # sheet rows
    assert helper == in_process
    errors = [r[-1] for r in in_process[1][1:]]
    assert "repeats row 28" in errors[4] and "already used by" in errors[5]


def test_helper_dry_run_writes_nothing(svc: RecordService, people: dict[str, Actor],
                                       tmp_path: Path) -> None:
    path = workbook(tmp_path / "d.xlsx", 150)
    results = [import_file(svc, people["owner"], "customer", path, dry_run=True,
                           batch_size=40, parallel=p) for p in (False, True)]
    assert results[0]["parallel"] is False and results[1]["parallel"] is True
    for r in results:
        r.pop("parallel")
    assert results[0] == results[1]
    assert (results[1]["created"], results[1]["failed"]) == (144, 5)  # 7, 11, 13, 17, 30
    assert svc.list(people["owner"], "customer").total == 0


def test_helper_reports_bad_files(svc: RecordService, people: dict[str, Actor],
                                  tmp_path: Path) -> None:
    (tmp_path / "n.xlsx").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(FileProblem, match="not an Excel workbook"):
        import_file(svc, people["owner"], "customer", tmp_path / "n.xlsx", parallel=True)
    late = tmp_path / "late.csv"
    body = "name,phone\n" + "".join(f"N{i} {'x' * 40},09010{i:05d}\n" for i in range(3000))
    late.write_bytes(body.encode() + "Trân,0902000000\n".encode("cp1258"))
    with pytest.raises(FileProblem, match="not UTF-8"):
        import_file(svc, people["owner"], "customer", late, batch_size=1000, parallel=True)
    assert svc.list(people["owner"], "customer").total in (2000, 3000)
    assert multiprocessing.active_children() == []  # every helper was waited for


def test_helper_killed_half_way_then_resume(svc: RecordService, people: dict[str, Actor],
                                            tmp_path: Path) -> None:
    """The helper dies after the second batch: the import stops with an error, what was
    committed stays, and running the job again completes it without duplicates."""
    owner = people["owner"]
    path = workbook(tmp_path / "k.xlsx", 260)
    job = create_job(svc.engine, svc.tenant.id, owner.user_id, "import", {})
    batches = []

    def kill_after_two(_fraction: float) -> None:
        batches.append(1)
        if len(batches) == 2:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(RuntimeError, match="stopped"):
        import_file(svc, owner, "customer", path, job_id=job, batch_size=50, parallel=True,
                    progress=kill_after_two)
    with svc.engine.connect() as conn:
        first = conn.execute(select(func.count()).where(import_rows.c.job_id == job)).scalar()
    assert 100 <= first < 259
    result = import_file(svc, owner, "customer", path, job_id=job, batch_size=50,
                         parallel=True)
    assert (result["created"], result["failed"], result["rows"]) == (253, 6, 259)
    assert svc.list(owner, "customer").total == 253


def test_command_line_import_of_a_large_file_uses_the_helper(
        db_url: str, water: Tenant, people: dict[str, Actor], tmp_path: Path) -> None:
    """`callboard import`, a single-threaded process, hands a large insert to a helper."""
    path = workbook(tmp_path / "big.xlsx", 6000)
    env = {**os.environ, "CALLBOARD_DATABASE_URL": db_url, "CALLBOARD_REDIS_URL": "",
           "CALLBOARD_DATA_DIR": str(tmp_path / "data"), "CALLBOARD_SECRET_KEY": "t"}

    def cli(*args: str) -> str:
        out = subprocess.run([sys.executable, "-c", "from callboard.cli import main; main()",
                              *args], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    said = cli("import", "water", "customer", str(path))
    assert "created 5993, updated 0, unchanged 0, failed 6 of 5999 rows" in said, said
    job = said.split("(job ")[1].split(")")[0]
    assert '"parallel": true' in cli("jobs", "show", job)


def test_helper_stops_when_the_importer_dies(db_url: str, engine: Engine, water: Tenant,
                                             people: dict[str, Actor],
                                             tmp_path: Path) -> None:
    """`callboard import` SIGKILLed mid-way: its helper, blocked on a full pipe, gets a
    broken pipe and stops rather than waiting for ever."""
    path = workbook(tmp_path / "big.xlsx", 12000)
    env = {**os.environ, "CALLBOARD_DATABASE_URL": db_url, "CALLBOARD_REDIS_URL": "",
           "CALLBOARD_DATA_DIR": str(tmp_path / "data"), "CALLBOARD_SECRET_KEY": "t"}
    importer = subprocess.Popen(
        [sys.executable, "-c", "from callboard.cli import main; main()", "import", "water",
         "customer", str(path)], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _rows(engine) < 2000:
            assert importer.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import made no progress"
            time.sleep(0.02)
        helpers = children(importer.pid)
        assert helpers, "no helper process"
    finally:
        importer.kill()
        importer.wait(10)
    assert _rows(engine) < 11000, "the import was not interrupted half-way"
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in helpers):
        assert time.monotonic() < deadline, "the helper outlived its importer"
        time.sleep(0.05)


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(import_rows)).scalar_one()


def test_a_frozen_heap_is_handed_back_and_an_outer_freeze_kept() -> None:
    from callboard.io.forked import frozen_heap

    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen  # someone else's freeze stays theirs
    finally:
        gc.unfreeze()
