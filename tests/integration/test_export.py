"""Export on SQLite and PostgreSQL: filters, the caller's visibility, labels in the chosen
locale, formula injection neutralised, .xlsx and .csv, and the round trip back in."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine

from callboard.engine.access import Actor
from callboard.engine.errors import NotFound, ValidationFailed
from callboard.engine.queries import Query, filterable_fields, parse_query
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant
from callboard.io import exporter
from callboard.io.exporter import export_records
from callboard.io.importer import import_file
from callboard.workflows.hooks import records_service

EVIL = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)"]


@pytest.fixture
def svc(engine: Engine, water: Tenant, people: dict[str, Actor]) -> RecordService:
    return records_service(engine, water)


@pytest.fixture
def data(svc: RecordService, people: dict[str, Actor]) -> dict[str, Any]:
    owner, agent = people["owner"], people["agent"]
    made = {
        "mine": svc.create(agent, "customer", {"name": "Của agent", "phone": "0901000001",
                                               "district": "quan_1"}),
        "pool": svc.create(owner, "customer", {"name": "Chung", "phone": "0901000002",
                                               "district": "quan_1",
                                               "customer_type": "business",
                                               "tax_code": "0301234567"}),
        "other": svc.create(people["agent_b"], "customer", {
            "name": "Của agent_b", "phone": "0901000003", "district": "quan_3"}),
    }
    for i, text in enumerate(EVIL):
        made[f"evil{i}"] = svc.create(owner, "customer", {
            "name": text, "address": text, "phone": f"090200000{i}",
            "district": "quan_5"})
    return made


def read(path: Path) -> list[list[Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))
    return [list(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]


def query(svc: RecordService, **params: str) -> Query:
    return parse_query(params, filterable_fields(svc.model, svc.entity("customer")))


def test_filters_visibility_and_labels(svc: RecordService, people: dict[str, Actor],
                                       data: dict[str, Any], tmp_path: Path) -> None:
    owner, agent = people["owner"], people["agent"]
    out = export_records(svc, owner, "customer", tmp_path / "q1.xlsx",
                         query=query(svc, district="quan_1"))
    rows = read(tmp_path / "q1.xlsx")
    header = rows[0]
    assert out["rows"] == 2 and len(rows) == 3
    assert header[:3] == ["Mã", "Tên chủ hộ / Tên khách hàng", "Điện thoại 1"]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    pool = by_id[data["pool"]["id"]]
    assert pool["Loại khách hàng"] == "Doanh nghiệp - Tổ chức"  # the option's vi label
    assert pool["Điện thoại 1"] == "0901000002"  # national format, leading 0 kept
    assert by_id[data["mine"]["id"]]["Người phụ trách"] == "agent@water.test"
    # English headers and labels on request, as csv.
    export_records(svc, owner, "customer", tmp_path / "q1.csv",
                   query=query(svc, district="quan_1"), locale="en")
    rows = read(tmp_path / "q1.csv")
    assert rows[0][:2] == ["ID", "Account holder"]
    assert "Business / organisation" in [c for r in rows for c in r]
    # The agent exports what it sees: its own and the unowned, never agent_b's.
    export_records(svc, agent, "customer", tmp_path / "agent.xlsx")
    seen = {r[0] for r in read(tmp_path / "agent.xlsx")[1:]}
    assert data["mine"]["id"] in seen and data["pool"]["id"] in seen
    assert data["other"]["id"] not in seen
    assert len(seen) == len(data) - 1
    sup = export_records(svc, people["supervisor"], "customer", tmp_path / "sup.csv")
    assert sup["rows"] == len(data) - 1  # team a: agent's and the pool, not team b's


def test_formula_injection_is_neutralised(svc: RecordService, people: dict[str, Actor],
                                          data: dict[str, Any], tmp_path: Path) -> None:
    for name in ("evil.xlsx", "evil.csv"):
        export_records(svc, people["owner"], "customer", tmp_path / name,
                       query=query(svc, district="quan_5"))
        rows = read(tmp_path / name)
        col = rows[0].index("Địa chỉ sử dụng nước")
        cells = sorted(r[col] for r in rows[1:])
        assert cells == sorted("'" + t for t in EVIL), name
    wb = openpyxl.load_workbook(tmp_path / "evil.xlsx")
    assert all(c.data_type != "f" for row in wb.active.iter_rows() for c in row)


def test_exported_file_imports_back_by_id(svc: RecordService, people: dict[str, Actor],
                                          data: dict[str, Any], tmp_path: Path) -> None:
    owner = people["owner"]
    export_records(svc, owner, "customer", tmp_path / "all.xlsx",
                   query=query(svc, district="quan_1"))
    wb = openpyxl.load_workbook(tmp_path / "all.xlsx")
    ws = wb.active
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        row[header.index("Quận / Huyện")].value = "Quận 7"
    wb.save(tmp_path / "all.xlsx")
    result = import_file(svc, owner, "customer", tmp_path / "all.xlsx", mode="upsert",
                         key="id")
    assert (result["updated"], result["created"], result["failed"]) == (2, 0, 0), result
    assert svc.get(owner, "customer", data["pool"]["id"])["district"] == "quan_7"
    assert svc.get(owner, "customer", data["pool"]["id"])["tax_code"] == "0301234567"


def test_bad_exports(svc: RecordService, people: dict[str, Actor], tmp_path: Path,
                     store: Any) -> None:
    with pytest.raises(ValidationFailed):
        export_records(svc, people["owner"], "customer", tmp_path / "x.pdf")
    with pytest.raises(NotFound):
        export_records(svc, people["owner"], "nothing", tmp_path / "x.xlsx")
    stranger = Actor(people["owner"].tenant_id + 99, 99, "owner")
    with pytest.raises(NotFound):  # another tenant's user finds nothing here
        export_records(svc, stranger, "customer", tmp_path / "x.xlsx")


# -- through the API --------------------------------------------------------------------------
def test_export_api_with_filters_and_download(as_: Any) -> None:
    owner = as_("water", "owner")
    for i, d in enumerate(["quan_1", "quan_1", "quan_3"]):
        owner.post("/records/customer", json={"name": f"=K{i}", "phone": f"090100000{i}",
                                               "district": d})
    coffee = as_("coffee", "owner")
    coffee.post("/records/customer", json={"name": "Cà phê", "phone": "0901000009"})
    r = owner.post("/export/customer?district=quan_1&format=csv&locale=en")
    assert r.status_code == 202
    job = owner.get(f"/jobs/{r.get_json()['job']}").get_json()
    assert job["status"] == "done" and job["result"]["rows"] == 2
    r = owner.get(f"/jobs/{job['id']}/file")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0][:2] == ["ID", "Account holder"]
    assert sorted(x[1] for x in rows[1:]) == ["'=K0", "'=K1"]
    assert coffee.get(f"/jobs/{job['id']}/file").status_code == 404
    r = coffee.post("/export/customer")
    job = coffee.get(f"/jobs/{r.get_json()['job']}").get_json()
    assert job["result"]["rows"] == 1  # only coffee's own customer


# -- a helper process reading the rows ---------------------------------------------------------
def test_helper_and_in_process_write_the_same_file(svc: RecordService,
                                                   people: dict[str, Actor],
                                                   data: dict[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper process reads and formats the rows (several messages of them) while this
    process writes: the same cells as reading them here, visibility and filters included,
    and the progress rises to the end."""
    monkeypatch.setattr(exporter, "LINES_PER_BATCH", 2)
    for actor, q in ((people["owner"], None), (people["agent"], None),
                     (people["owner"], query(svc, district="quan_5"))):
        for suffix in (".xlsx", ".csv"):
            files, steps = [], []
            for parallel in (False, True):
                path = tmp_path / f"{actor.role}-{parallel}{suffix}"
                seen: list[float] = []
                out = export_records(svc, actor, "customer", path, query=q,
                                     parallel=parallel, progress=seen.append)
                assert out["parallel"] is parallel
                files.append(read(path))
                steps.append(seen)
            assert files[1] == files[0], (actor.role, suffix)
            assert len(files[0]) > 2 and steps[1] == steps[0]
            assert steps[0] == sorted(steps[0]) and steps[0][-1] == 1.0
    assert not list(tmp_path.glob("*.part"))


def test_a_failing_helper_fails_the_export_and_leaves_no_file(
        svc: RecordService, people: dict[str, Actor], data: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper breaks off after a few rows (a read that fails): the export fails with
    its traceback, and neither the file nor a part of it is left."""
    monkeypatch.setattr(exporter, "LINES_PER_BATCH", 2)
    real = exporter.iter_records

    def breaks_off(*args: Any, **kw: Any) -> Any:
        for n, record in enumerate(real(*args, **kw)):
            if n == 3:
                raise OSError("disk read error")
            yield record

    monkeypatch.setattr(exporter, "iter_records", breaks_off)
    for suffix in (".xlsx", ".csv"):
        path = tmp_path / f"broken{suffix}"
        with pytest.raises(RuntimeError, match="export-reading process failed") as e:
            export_records(svc, people["owner"], "customer", path, parallel=True)
        assert "disk read error" in str(e.value)
        assert not path.exists() and not list(tmp_path.glob("*.part"))
