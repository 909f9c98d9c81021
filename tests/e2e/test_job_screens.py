"""Jobs in the screens: a list exported as its user sees it, the recent jobs of the import
page with a revert, and a delete by file for the owner."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from callboard.web.users import create_user
from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
DESKTOP = {"width": 1280, "height": 800}


def _api(app: Any, email: str) -> tuple[Any, dict[str, str]]:
    c = app.test_client()
    tok = c.post("/api/v1/security/login", json={"username": email, "password": PASSWORD,
                                                 "provider": "db"})
    return c, {"Authorization": f"Bearer {tok.get_json()['access_token']}"}


def _create(live: Any, who: str, name: str, phone: str, kind: str, **more: Any) -> None:
    c, h = _api(live.app, live.emails.get(who, who))
    r = c.post("/api/v1/records/customer", headers=h, json={
        "name": name, "phone": phone, "customer_type": kind, **more})
    assert r.status_code == 201, r.get_json()


def _phones(live: Any, who: str) -> set[str]:
    c, h = _api(live.app, live.emails.get(who, who))
    r = c.get("/api/v1/records/customer?per_page=100", headers=h)
    return {i["phone"] for i in r.get_json()["items"]}


def test_a_list_is_exported_as_its_user_sees_it(live: Any, open_page: Any, shot: Any) -> None:
    _create(live, "agent", "Lan Một", "0901000011", "residential")
    _create(live, "agent", "Minh Hai", "0901000012", "business", tax_code="0312345678")
    _create(live, "agent2", "Hoa Ba", "0901000013", "residential")  # not the agent's
    page = open_page("agent", DESKTOP)
    page.goto(f"{live.url}/ui/r/customer?customer_type=residential")
    page.wait_for_selector("#cb-table tbody tr[data-id]")
    page.click("#cb-export")
    with page.expect_download(timeout=60_000) as download:
        page.click("#cb-export-xlsx")
    assert download.value.suggested_filename == "customer.xlsx"
    book = io.BytesIO(Path(download.value.path()).read_bytes())
    rows = list(openpyxl.load_workbook(book).active.iter_rows(values_only=True))
    cells = {str(c) for row in rows[1:] for c in row if c is not None}
    assert "Lan Một" in cells and not {"Minh Hai", "Hoa Ba"} & cells, rows
    assert len(rows) == 2
    assert page.inner_text("#cb-export-done").startswith("Rows exported: 1.")
    shot(page, "desktop-list-exported")


def test_recent_jobs_revert_and_delete_by_file(live: Any, open_page: Any, shot: Any,
                                               tmp_path: Any) -> None:
    create_user(live.app, "water", "owner@water.test", PASSWORD, "owner", name="Owner")
    agent = open_page("agent", DESKTOP)
    agent.goto(f"{live.url}/ui/import/customer")
    agent.wait_for_selector("#cb-jobs")
    assert not agent.is_visible("#cb-bulk-delete")              # the owner's alone
    page = open_page("owner@water.test", DESKTOP)
    page.on("dialog", lambda dialog: dialog.accept())
    csv = tmp_path / "three.csv"
    csv.write_text("name,phone,customer_type\nAn,0902000001,residential\n"
                   "Bình,0902000002,residential\nChi,0902000003,residential\n", encoding="utf-8")
    page.goto(f"{live.url}/ui/import/customer")
    page.set_input_files("#imp-file", str(csv))
    page.click("#imp-go")
    page.wait_for_selector("#imp-summary", timeout=60_000)
    assert {"+84902000001", "+84902000003"} <= _phones(live, "owner@water.test")
    page.click("#cb-jobs .cb-revert")                           # confirmed by the dialog
    page.wait_for_selector("#cb-jobs .label", timeout=60_000)   # "reverted"
    gone = {"+84902000001", "+84902000002", "+84902000003"}
    assert not gone & _phones(live, "owner@water.test")
    kinds = page.inner_text("#cb-jobs")
    assert "Revert" in kinds and "Import" in kinds, kinds
    # delete by file: two known phones, one unknown
    _create(live, "owner@water.test", "Dũng", "0903000001", "residential")
    _create(live, "owner@water.test", "Em", "0903000002", "residential")
    phones = tmp_path / "phones.csv"
    phones.write_text("phone\n0903000001\n0903000002\n0903999999\n", encoding="utf-8")
    page.set_input_files("#del-file", str(phones))
    page.click("#del-go")
    page.wait_for_selector("#del-summary", timeout=60_000)
    text = page.inner_text("#del-summary")
    assert "deleted 2" in text and "not found 1" in text, text
    assert not {"+84903000001", "+84903000002"} & _phones(live, "owner@water.test")
    shot(page, "desktop-import-jobs")
