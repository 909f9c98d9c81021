"""Import from Excel and CSV on SQLite and PostgreSQL: the template, column matching, value
shapes (dates, phones that lost their 0, owners, user lists), the record service's own
validation, insert and upsert, dry run, batches, rejected rows, listeners and revert."""
from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select

from callboard.engine.access import Actor
from callboard.engine.errors import ValidationFailed
from callboard.engine.records import Change, RecordService
from callboard.engine.tables import import_rows, records
from callboard.engine.tenancy import Tenant
from callboard.io.importer import import_file
from callboard.io.ledger import revert
from callboard.io.sheets import FileProblem
from callboard.io.template import write_template
from callboard.jobs.runner import create_job
from callboard.workflows.hooks import records_service


@pytest.fixture
def svc(engine: Engine, water: Tenant, people: dict[str, Actor]) -> RecordService:
    return records_service(engine, water)


def xlsx(path: Path, rows: list[list[Any]], *, sheet: str = "data") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def rejected(path: Path) -> list[dict[str, Any]]:
    ws = openpyxl.load_workbook(path).active
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def customers(svc: RecordService, actor: Actor) -> dict[str, dict[str, Any]]:
    """Live customers by name."""
    return {r["name"]: r for r in svc.list(actor, "customer", _all()).items}


def _all() -> Any:
    from callboard.engine.queries import Query

    return Query(per_page=500)


def run(svc: RecordService, actor: Actor, path: Path, entity: str = "customer",
        **kw: Any) -> dict[str, Any]:
    kw.setdefault("errors_path", path.with_name(path.stem + "-rejected.xlsx"))
    return import_file(svc, actor, entity, path, **kw)


# -- the template ----------------------------------------------------------------------------
def test_template_has_labels_names_lists_text_columns_and_instructions(
        svc: RecordService, tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    write_template(svc.model, svc.entity("customer"), path)
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    labels = [c.value for c in ws[1]]
    names = [c.value for c in ws[2]]
    assert labels[names.index("name")] == "Tên chủ hộ / Tên khách hàng *"  # vi, required
    assert labels[names.index("phone")] == "Điện thoại 1"
    assert "owner" in names and "id" not in names
    col = openpyxl.utils.get_column_letter(names.index("customer_type") + 1)
    dv = next(d for d in ws.data_validations.dataValidation
              if str(d.sqref).startswith(f"{col}3:"))
    assert dv.type == "list" and dv.formula1.startswith("=lists!")
    options = [c.value for row in wb["lists"][dv.formula1.split("!")[1].replace("$", "")]
               for c in row]
    assert options == ["Hộ gia đình", "Doanh nghiệp - Tổ chức"]
    phone_col = names.index("phone") + 1
    assert ws.cell(row=3, column=phone_col).number_format == "@"
    info = [[c for c in r] for r in wb["instructions"].iter_rows(values_only=True)]
    by_name = {r[1]: r for r in info if r and len(r) > 1}
    assert by_name["name"][3] == "yes"
    assert "Hộ gia đình (residential)" in by_name["customer_type"][4]
    assert "dd/mm/yyyy" not in by_name["phone"][5] and "leading 0" in by_name["phone"][5]
    write_template(svc.model, svc.entity("contract"), tmp_path / "c.xlsx", locale="en")
    c = openpyxl.load_workbook(tmp_path / "c.xlsx")
    cnames = [x.value for x in c.worksheets[0][2]]
    assert c.worksheets[0].cell(row=3, column=cnames.index("signed_date") + 1
                                ).number_format == "@"
    assert c.worksheets[0].cell(row=1, column=1).value == "Contract code *"


def test_filled_template_imports_with_shapes_people_type(
        svc: RecordService, people: dict[str, Actor], tmp_path: Path) -> None:
    """Fill the template as a person would: phones as numbers that lost their 0, labels
    for options, the owner by e-mail or by extension."""
    path = tmp_path / "t.xlsx"
    write_template(svc.model, svc.entity("customer"), path)
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    names = [c.value for c in ws[2]]

    def put(row: int, **values: Any) -> None:
        for k, v in values.items():
            ws.cell(row=row, column=names.index(k) + 1, value=v)

    put(3, name="Nguyễn Văn An", phone=901234567, customer_type="Hộ gia đình",
        district="Quận 3", owner="agent@water.test", email="AN@Example.vn")
    put(4, name="Trần Thị Bình", phone="090 123 4568", customer_type="business",
        tax_code="0301234567", owner=104)  # agent's extension, as a number
    put(5, name="Lê Cường", phone="12", customer_type="nobody")
    wb.save(path)
    owner = people["owner"]
    result = run(svc, owner, path)
    assert (result["created"], result["failed"], result["rows"]) == (2, 1, 3)
    got = customers(svc, owner)
    an, binh = got["Nguyễn Văn An"], got["Trần Thị Bình"]
    assert an["phone"] == "+84901234567" and an["district"] == "quan_3"
    assert an["email"] == "an@example.vn" and an["owner"] == people["agent"].user_id
    assert binh["customer_type"] == "business" and binh["owner"] == people["agent"].user_id
    assert an["usage_purpose"] == "domestic"  # defaults as the API gives them
    bad = rejected(tmp_path / "t-rejected.xlsx")
    assert [b["row"] for b in bad] == [5]
    assert "Điện thoại 1: '12' is not a phone number" in bad[0]["error"]
    assert "'nobody' is not one of residential, business" in bad[0]["error"]
    assert bad[0]["Tên chủ hộ / Tên khách hàng *"] == "Lê Cường"  # the row as it was


def test_same_validation_as_the_api(svc: RecordService, people: dict[str, Actor],
                                    tmp_path: Path) -> None:
    owner = people["owner"]
    values = {"name": "X", "phone": "0901234999", "customer_type": "business",
              "household_members": 99, "account_no": "123"}
    with pytest.raises(ValidationFailed) as api:
        svc.create(owner, "customer", values)
    path = xlsx(tmp_path / "v.xlsx", [list(values), list(values.values())])
    result = run(svc, owner, path)
    assert result["failed"] == 1
    error = rejected(tmp_path / "v-rejected.xlsx")[0]["error"]
    for field, messages in api.value.errors.items():
        for m in messages:
            assert f"{field}: {m}" in error or m in error, (field, m, error)
    assert svc.list(owner, "customer").total == 0


def test_columns_by_label_in_any_locale_csv_dates_and_users(
        svc: RecordService, people: dict[str, Actor], tmp_path: Path) -> None:
    owner = people["owner"]
    cust = svc.create(owner, "customer", {"name": "KH", "phone": "0901000001"})
    # Contracts: English and Chinese headers, dates in three shapes, a user by extension.
    path = xlsx(tmp_path / "c.xlsx", [
        ["Contract code", "合同名称", "customer", "Signing date", "start_date",
         "Signed by (our side)", "Status", "Unknown column"],
        ["HD-1", "Một", cust["id"], "31/01/2026", "2026-02-01", 105, "active", "x"],
        ["HD-2", "Hai", cust["id"], 46054, datetime(2026, 3, 1, 0, 0), "agent2@water.test",
         "active", "y"],
        ["HD-3", "Ba", cust["id"], "2026-13-45", None, None, "active", None],
    ])
    result = run(svc, owner, path, "contract")
    assert result["ignored_columns"] == ["Unknown column"]
    assert (result["created"], result["failed"]) == (2, 1), rejected(tmp_path / "c-rejected.xlsx")
    rows = {r["code"]: r for r in svc.list(owner, "contract", _all()).items}
    assert rows["HD-1"]["signed_date"] == "2026-01-31"
    assert rows["HD-1"]["start_date"] == "2026-02-01"
    assert rows["HD-1"]["signer"] == people["agent2"].user_id  # extension 105
    assert rows["HD-2"]["signed_date"] == "2026-02-01"  # Excel serial 46054
    assert rows["HD-2"]["start_date"] == "2026-03-01"
    assert rows["HD-2"]["signer"] == people["agent2"].user_id
    assert "is not a date" in rejected(tmp_path / "c-rejected.xlsx")[0]["error"]
    # A CSV with a BOM and semicolons, English labels, watchers as a comma list.
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("\ufefftype;Subject;Customer;Watchers;Product\n"
                        f"complaint;Nước yếu;{cust['id']};agent@water.test, 105;water\n"
                        f"complaint;Không có;{cust['id']};nobody@x.test;water\n",
                        encoding="utf-8")
    result = run(svc, owner, csv_path, "ticket")
    assert (result["created"], result["failed"]) == (1, 1)
    ticket = svc.list(owner, "ticket").items[0]
    assert ticket["watchers"] == [people["agent"].user_id, people["agent2"].user_id]
    assert ticket["status"] == "new" and ticket.get("respond_by")  # SLA hook ran
    assert "no user 'nobody@x.test'" in rejected(tmp_path / "t-rejected.xlsx")[0]["error"]
    # The watchers see the ticket: links were written for them.
    assert svc.get(people["agent"], "ticket", ticket["id"])["id"] == ticket["id"]


def test_upsert_by_phone_and_duplicates_within_the_file_and_table(
        svc: RecordService, people: dict[str, Actor], tmp_path: Path) -> None:
    owner = people["owner"]
    old = svc.create(owner, "customer", {"name": "Cũ", "phone": "0901000001",
                                         "account_no": "10000000001"})
    rows = [["name", "phone", "account_no", "district"],
            ["A", "0901000002", "10000000002", "quan_1"],
            ["B", "0901000002", "10000000003", None],       # repeats A's phone
            ["C", "0901000003", "10000000001", None],       # account taken by "Cũ"
            ["D", "0901000004", "10000000004", None]]
    result = run(svc, owner, xlsx(tmp_path / "a.xlsx", rows), batch_size=2)
    assert (result["created"], result["failed"]) == (2, 2)
    errors = {r["name"]: r["error"] for r in rejected(tmp_path / "a-rejected.xlsx")}
    assert "repeats row 2 of this file" in errors["B"]
    assert f"'10000000001' is already used by customer {old['id']}" in errors["C"]
    # Upsert by phone, written three ways; an empty cell keeps the value.
    rows = [["name", "phone", "district"],
            ["Cũ đổi tên", "+84 901 000 001", "quan_5"],
            ["A", "0901000002", None],
            ["E", "0901000005", "quan_7"]]
    result = run(svc, owner, xlsx(tmp_path / "u.xlsx", rows), mode="upsert", key="phone")
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 1, 1)
    got = customers(svc, owner)
    assert got["Cũ đổi tên"]["id"] == old["id"] and got["Cũ đổi tên"]["district"] == "quan_5"
    assert got["Cũ đổi tên"]["account_no"] == "10000000001"
    assert got["A"]["district"] == "quan_1"
    assert len(got) == 4
    activity = svc.activity(owner, "customer", old["id"])
    assert activity[0]["action"] == "update" and activity[0]["changes"]["name"] == [
        "Cũ", "Cũ đổi tên"]
    with pytest.raises(ValidationFailed) as e:
        run(svc, owner, xlsx(tmp_path / "k.xlsx", rows), mode="upsert", key="district")
    assert "cannot match records" in str(e.value.errors["key"])


def test_dry_run_writes_nothing_and_reports_what_would_happen(
        svc: RecordService, people: dict[str, Actor], tmp_path: Path) -> None:
    owner = people["owner"]
    rows = [["name", "phone"]] + [[f"N{i}", f"09010000{i:02d}"] for i in range(10)] + [
        ["dup", "0901000000"]]
    result = run(svc, owner, xlsx(tmp_path / "d.xlsx", rows), dry_run=True, batch_size=3)
    assert (result["created"], result["failed"], result["dry_run"]) == (10, 1, True)
    assert svc.list(owner, "customer").total == 0
    with svc.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records)).scalar_one() == 0


def test_agents_import_as_themselves(svc: RecordService, people: dict[str, Actor],
                                     tmp_path: Path) -> None:
    agent, other = people["agent"], people["agent_b"]
    theirs = svc.create(other, "customer", {"name": "B's", "phone": "0901000009"})
    rows = [["name", "phone", "owner"], ["Mine", "0901000008", None],
            ["Given", "0901000007", "agent_b@water.test"]]
    result = run(svc, agent, xlsx(tmp_path / "a.xlsx", rows))
    assert (result["created"], result["failed"]) == (1, 1)
    assert customers(svc, agent)["Mine"]["owner"] == agent.user_id
    rows = [["name", "phone"], ["Taken over", "0901000009"]]
    result = run(svc, agent, xlsx(tmp_path / "u.xlsx", rows), mode="upsert", key="phone")
    assert result["failed"] == 1
    assert "may not change" in rejected(tmp_path / "u-rejected.xlsx")[0]["error"]
    assert svc.get(other, "customer", theirs["id"])["name"] == "B's"


def test_listeners_hear_bulk_changes_after_commit(engine: Engine, water: Tenant,
                                                  people: dict[str, Actor],
                                                  tmp_path: Path) -> None:
    heard: list[Change] = []
    svc = records_service(engine, water, listeners=(heard.append,))
    rows = [["name", "phone"], ["A", "0901000001"], ["B", "0901000002"], ["C", "x"]]
    run(svc, people["owner"], xlsx(tmp_path / "a.xlsx", rows))
    assert [(c.action, c.record["name"]) for c in heard] == [("create", "A"), ("create", "B")]
    heard.clear()
    rows = [["name", "phone"], ["A2", "0901000001"]]
    run(svc, people["owner"], xlsx(tmp_path / "b.xlsx", rows), mode="upsert")
    assert heard[0].action == "update" and heard[0].before["name"] == "A"
    heard.clear()
    run(svc, people["owner"], xlsx(tmp_path / "c.xlsx", rows), dry_run=True)
    assert heard == []


def test_revert_removes_created_and_restores_updated(
        svc: RecordService, people: dict[str, Actor], tmp_path: Path) -> None:
    owner = people["owner"]
    svc.create(owner, "customer", {"name": "Old", "phone": "0901000001",
                                   "district": "quan_1", "owner": 104})
    job = create_job(svc.engine, svc.tenant.id, owner.user_id, "import", {})
    rows = [["name", "phone", "district", "email", "owner"],
            ["Old renamed", "0901000001", "quan_3", "old@x.vn", "agent2@water.test"],
            ["New", "0901000002", "quan_4", None, None]]
    result = run(svc, owner, xlsx(tmp_path / "r.xlsx", rows), mode="upsert", job_id=job)
    assert (result["created"], result["updated"]) == (1, 1)
    with svc.engine.connect() as conn:
        actions = sorted(r.action for r in conn.execute(
            select(import_rows.c.action).where(import_rows.c.job_id == job)))
    assert actions == ["create", "update"]
    counts = revert(svc, owner, job, "customer")
    assert counts == {"removed": 1, "restored": 1, "skipped": 0}
    got = customers(svc, owner)
    assert list(got) == ["Old"]
    back = got["Old"]
    assert (back["district"], back.get("email"), back["owner"]) == (
        "quan_1", None, people["agent"].user_id)
    assert svc.find_by_key(owner, "0901000002") == []  # the created one's keys are gone
    assert revert(svc, owner, job, "customer") == {"removed": 0, "restored": 0, "skipped": 0}
    # The removed phone is free again: the same file imports anew.
    assert run(svc, owner, xlsx(tmp_path / "r2.xlsx", rows[:1] + rows[2:]))["created"] == 1


# -- bad files -------------------------------------------------------------------------------
def _bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 2**20))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _bomb(p / "bomb.xlsx"), "zip bomb"),
    (lambda p: (p / "n.xlsx").write_bytes(b"PK\x03\x04 not really") and p / "n.xlsx",
     "not an Excel workbook"),
    (lambda p: (p / "w.xlsx").write_text("name,phone\n") and p / "w.xlsx",
     "not an Excel workbook"),
    (lambda p: xlsx(p / "e.xlsx", []), "empty first sheet"),
    (lambda p: xlsx(p / "h.xlsx", [["name", "phone"]]), "no data rows"),
    (lambda p: xlsx(p / "u.xlsx", [["foo", "bar"], [1, 2]]), "no column matches a field"),
    (lambda p: (p / "b.csv").write_bytes("name\nTrân\n".encode("cp1258")) and p / "b.csv",
     "not UTF-8"),
    (lambda p: (p / "z.csv").write_bytes(b"") or p / "z.csv", "is empty"),
    (lambda p: (p / "x.pdf").write_bytes(b"%PDF") and p / "x.pdf", "not a spreadsheet"),
    (lambda p: xlsx(p / "d.xlsx", [["phone", "Điện thoại 1"], ["1", "2"]]), "are both"),
])
def test_bad_files_get_one_clear_sentence(svc: RecordService, people: dict[str, Actor],
                                          tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(FileProblem) as e:
        run(svc, people["owner"], path)
    assert message in e.value.errors["file"][0]
    assert svc.list(people["owner"], "customer").total == 0


def test_late_bad_bytes_in_a_csv_keep_the_rows_before(svc: RecordService,
                                                      people: dict[str, Actor],
                                                      tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = "name,phone\n" + "".join(f"N{i} {'x' * 40},09010{i:05d}\n" for i in range(3000))
    path.write_bytes(body.encode() + "Trân,0902000000\n".encode("cp1258"))
    with pytest.raises(FileProblem) as e:
        run(svc, people["owner"], path, batch_size=1000)
    assert "not UTF-8" in e.value.errors["file"][0]
    # Batches read before the bad bytes are committed whole (and in the ledger of a job).
    assert svc.list(people["owner"], "customer").total in (2000, 3000)


def test_date_cells_from_excel(svc: RecordService, people: dict[str, Actor],
                               tmp_path: Path) -> None:
    owner = people["owner"]
    cust = svc.create(owner, "customer", {"name": "KH", "phone": "0901000001"})
    path = xlsx(tmp_path / "d.xlsx", [["code", "name", "customer", "signed_date", "status"],
                                      ["D1", "n", cust["id"], date(2026, 5, 4), "draft"]])
    assert run(svc, owner, path, "contract")["created"] == 1
    assert svc.list(owner, "contract").items[0]["signed_date"] == "2026-05-04"


def test_rejected_rows_keep_text_as_text(svc: RecordService, people: dict[str, Actor],
                                         tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('name,phone\n"=HYPERLINK(""x"")",bad\n', encoding="utf-8")
    assert run(svc, people["owner"], path)["failed"] == 1
    ws = openpyxl.load_workbook(tmp_path / "f-rejected.xlsx").active
    cell = ws.cell(row=2, column=1)
    assert (cell.value, cell.data_type) == ("=HYPERLINK(\"x\")", "s")  # never a formula


def test_other_writers_meanwhile_do_not_break_a_batch(engine: Engine, water: Tenant,
                                                      people: dict[str, Actor],
                                                      tmp_path: Path) -> None:
    """Users keep saving records (another thread) while an import runs: both succeed."""
    import threading

    svc = records_service(engine, water)
    owner = people["owner"]
    saved: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def user() -> None:
        while not done.is_set() or len(saved) < 5:
            try:
                saved.append(svc.create(owner, "customer", {
                    "name": f"API {len(saved)}", "phone": f"0902{len(saved):06d}"})["id"])
            except BaseException as e:  # reported below
                errors.append(e)
                return

    rows = [["name", "phone"]] + [[f"N{i}", f"0901{i:06d}"] for i in range(300)]
    path = xlsx(tmp_path / "a.xlsx", rows)
    thread = threading.Thread(target=user)
    thread.start()
    try:
        result = import_file(svc, owner, "customer", path, batch_size=10)
    finally:
        done.set()
        thread.join(60)
    assert errors == [] and result["created"] == 300 and result["failed"] == 0
    assert svc.list(owner, "customer").total == 300 + len(saved)
