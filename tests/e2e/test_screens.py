"""More of the screens in a real browser: conditions evaluated in the page exactly as the
server does, the YAML editor showing the checker's messages at their lines, languages,
saved filters and ticket views."""
from __future__ import annotations

import re
from typing import Any

import pytest

from callboard.engine.expressions import evaluate, parse
from callboard.jobs.runner import wait_for_reapers
from callboard.web.ui.expressions_json import tree

# SQLite only: the agent's day (test_agent_day.py) makes the PostgreSQL pass.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
DESKTOP = {"width": 1280, "height": 800}
CASES = [
    ("tier == 'gold'", {"tier": "gold"}), ("tier == 'gold'", {}),
    ("tier != 'gold'", {"tier": None}), ("n > 3", {"n": 4}), ("n > 3", {"n": "5"}),
    ("n >= 3 and n < 10", {"n": 10}), ("n < 3", {"n": None}), ("n < 3", {"n": True}),
    ("x in ['a', 'b']", {"x": "b"}), ("x not in ['a', 'b']", {"x": "c"}),
    ("tags in ['a']", {"tags": ["z", "a"]}), ("not flag", {"flag": False}),
    ("flag == true", {"flag": 1}), ("a or b and c", {"a": False, "b": True, "c": False}),
    ("customer.tier == 'vip'", {"customer": {"tier": "vip"}}), ("n == 2", {"n": 2.0}),
    ("d >= '2026-01-01'", {"d": "2026-03-01"}), ("x", {"x": ""}), ("x == null", {}),
    ("'ab' in s", {"s": "xaby"}),
]


def test_conditions_in_the_browser_match_the_server(live: Any, open_page: Any) -> None:
    page = open_page("agent", DESKTOP)
    page.goto(f"{live.url}/ui/r/customer/new")
    for source, values in CASES:
        expected = evaluate(parse(source), values)
        got = page.evaluate("([t, v]) => CB.evaluate(t, v)", [tree(parse(source).tree), values])
        assert bool(got) == bool(expected), (source, values, got, expected)


def test_yaml_editor_shows_problems_at_their_lines(live: Any, open_page: Any,
                                                   shot: Any) -> None:
    page = open_page("admin", DESKTOP)
    page.goto(f"{live.url}/ui/admin/config?file=ticket_types/complaint.yaml")
    page.wait_for_function("document.getElementById('cfg-text').value.length > 100")
    text = page.input_value("#cfg-text")
    broken = text.replace("type: select", "type: selec", 1)
    line = broken[:broken.index("type: selec")].count("\n") + 1
    page.fill("#cfg-text", broken)
    page.click("#cfg-save")
    page.wait_for_selector(f"#cfg-problems li[data-line='{line}']")
    assert "selec" in page.inner_text("#cfg-problems")
    assert page.is_visible(f"#cfg-gutter .cb-bad-line[data-line='{line}']")
    shot(page, "desktop-yaml-problems")
    # the fixed file is applied live: a new option shows in the agent's ticket form
    page.fill("#cfg-text", text.replace("{value: sewage", "{value: meter_fee, label: {en: Meter "
                                        "fee}}\n      - {value: sewage", 1))
    page.click("#cfg-save")
    page.wait_for_selector("#cfg-status.text-success")
    agent = open_page("agent", DESKTOP)
    agent.goto(f"{live.url}/ui/r/ticket/new?type=complaint")
    agent.wait_for_selector("#f-product option[value=meter_fee]", state="attached")


def test_views_saved_filters_and_language(live: Any, open_page: Any, shot: Any) -> None:
    page = open_page("agent", DESKTOP)
    page.goto(f"{live.url}/ui/r/ticket")
    page.wait_for_selector("#view-to_handle")
    assert "active" in page.get_attribute("#view-to_handle >> xpath=..", "class")
    page.click("#view-created_by_me")
    page.wait_for_url("**view=created_by_me**")
    page.goto(f"{live.url}/ui/r/customer")
    page.select_option("#flt-customer_type", "business")
    page.wait_for_url("**customer_type=business**")
    page.fill("#cb-filter-name", "Doanh nghiệp")
    page.click("#cb-save-filter")
    page.wait_for_selector("[data-saved='Doanh nghiệp']")
    page.click("#cb-clear")
    page.wait_for_function("!location.search.includes('customer_type')")
    page.click("[data-saved='Doanh nghiệp']")
    page.wait_for_url("**customer_type=business**")
    page.goto(f"{live.url}/ui/lang/zh")
    page.goto(f"{live.url}/ui/r/customer")
    assert page.inner_text("#cb-title") == "客户"
    assert "筛选" in page.inner_text("#cb-filter-form")
    shot(page, "desktop-list-zh")


def _api(app: Any, email: str) -> tuple[Any, dict[str, str]]:
    c = app.test_client()
    tok = c.post("/api/v1/security/login", json={"username": email, "password":
                                                 "correct-horse-1", "provider": "db"})
    return c, {"Authorization": f"Bearer {tok.get_json()['access_token']}"}


def test_knowledge_search_and_import(live: Any, open_page: Any, shot: Any,
                                     tmp_path: Any) -> None:
    c, h = _api(live.app, live.emails["admin"])
    art = c.post("/api/v1/records/kb_article", headers=h, json={
        "title": "Hướng dẫn đọc hóa đơn tiền nước", "body": "Chỉ số đồng hồ và đơn giá bậc thang"})
    assert art.status_code == 201, art.get_json()
    r = c.post(f"/api/v1/records/kb_article/{art.get_json()['id']}/transitions/publish",
               headers=h, json={})
    assert r.status_code == 200, r.get_json()
    page = open_page("agent", DESKTOP)
    page.goto(f"{live.url}/ui/")
    page.fill("#cb-kb-q", "hoa don")                   # diacritics folded by the search
    page.wait_for_selector("#cb-kb-results a")
    assert "hóa đơn" in page.inner_text("#cb-kb-results")
    # import a CSV with one bad row: progress to the end, counts and the rejected rows
    csv = tmp_path / "customers.csv"
    csv.write_text("name,phone,customer_type\nNguyễn Văn Một,0901000001,residential\n"
                   "Trần Thị Hai,0901000002,residential\nBad row,not-a-phone,residential\n",
                   encoding="utf-8")
    page.goto(f"{live.url}/ui/import/customer")
    page.set_input_files("#imp-file", str(csv))
    page.click("#imp-go")
    page.wait_for_selector("#imp-summary", timeout=60_000)
    summary = page.inner_text("#imp-summary")
    assert "done" in summary and "2" in summary and "1" in summary, summary
    assert page.is_visible(".cb-job-file")
    shot(page, "desktop-import")


def test_a_large_import_shows_its_progress(live: Any, open_page: Any, tmp_path: Any) -> None:
    """A large file, no Redis: the page asks to be answered at once, the import runs in a
    process of its own meanwhile, and the page follows it to its end."""
    rows = "".join(f"Khách {i},09{31000000 + i},residential\n" for i in range(2500))
    csv = tmp_path / "many.csv"
    csv.write_text("name,phone,customer_type\n" + rows, encoding="utf-8")
    page = open_page("admin", DESKTOP)
    asked = []
    page.on("request", lambda req: asked.append(req.headers.get("prefer"))
            if req.method == "POST" and "/import/customer" in req.url else None)
    page.goto(f"{live.url}/ui/import/customer")
    page.set_input_files("#imp-file", str(csv))
    page.click("#imp-go")
    page.wait_for_function("/Status: (queued|running)/.test("
                           "document.getElementById('imp-result').textContent)")
    page.wait_for_selector("#imp-summary", timeout=120_000)
    summary = page.inner_text("#imp-summary")
    assert "done" in summary and "2500" in summary, summary
    assert asked == ["respond-async"]
    wait_for_reapers(60)


def test_link_search_and_table_rows(live: Any, open_page: Any, shot: Any) -> None:
    c, h = _api(live.app, live.emails["admin"])
    r = c.post("/api/v1/records/customer", headers=h, json={
        "name": "Phạm Văn Bảy", "phone": "0907000777", "customer_type": "residential"})
    assert r.status_code == 201, r.get_json()
    page = open_page("agent", DESKTOP)
    page.goto(f"{live.url}/ui/r/order/new")
    page.fill("#f-title", "Dời đồng hồ nước")
    page.fill("#f-customer", "Bảy")                       # a searchable select over the API
    page.click(".cb-link-menu a[data-id]")
    page.fill("#f-order_date", "2026-11-30")
    page.click("#f-lines .cb-add-row")
    page.click("#f-lines .cb-add-row")
    rows = page.locator("#f-lines tbody tr")
    assert rows.nth(0).locator("[data-child=qty]").input_value() == "1"  # the child default
    for i, (product, qty, price) in enumerate([("Đồng hồ DN15", "1", "850000"),
                                               ("Công lắp đặt", "2", "150000")]):
        rows.nth(i).locator("[data-child=product]").fill(product)
        rows.nth(i).locator("[data-child=qty]").fill(qty)
        rows.nth(i).locator("[data-child=price]").fill(price)
    page.click("#cb-save")
    page.wait_for_url(re.compile(r".*/ui/r/order/\d+$"))
    assert page.locator("dd[data-field=lines] tbody tr").count() == 2
    # the link shows "#id" until its title arrives from the API
    page.wait_for_selector("dd[data-field=customer]:has-text('Phạm Văn Bảy')")
    assert "Phạm Văn Bảy" in page.inner_text("dd[data-field=customer]")
    shot(page, "desktop-order-detail")
    page.goto(f"{live.url}/ui/r/order")                  # a link filter searches the same way
    page.wait_for_selector("#cb-total")
    page.fill("#flt-customer", "Bảy")
    page.click("#cb-filter-form .cb-link-menu a[data-id]")
    page.wait_for_url("**customer=**")
    page.wait_for_selector("#cb-total[data-total='1']")


def test_global_search_follow_and_delete(live: Any, open_page: Any) -> None:
    c, h = _api(live.app, live.emails["agent"])
    r = c.post("/api/v1/records/customer", headers=h, json={
        "name": "Đinh Công Tám", "phone": "0908000888", "customer_type": "residential"})
    assert r.status_code == 201, r.get_json()
    t = c.post("/api/v1/records/ticket", headers=h, json={
        "type": "inquiry", "subject": "Hỏi lịch cúp nước", "customer": r.get_json()["id"]})
    assert t.status_code == 201, t.get_json()
    page = open_page("agent", DESKTOP)
    page.goto(f"{live.url}/ui/")
    page.fill("#cb-search", "dinh cong tam")             # folded diacritics, any screen
    page.click(f"[data-hit='customer:{r.get_json()['id']}']")
    page.wait_for_url(re.compile(r".*/ui/r/customer/\d+$"))
    page.goto(f"{live.url}/ui/r/ticket/{t.get_json()['id']}")
    page.click("#cb-follow")
    page.wait_for_selector("#cb-follow .fa-eye-slash")
    page.on("dialog", lambda d: d.accept())
    page.click("#cb-delete")
    page.wait_for_url(re.compile(r".*/ui/r/ticket(\?.*)?$"))
    assert c.get(f"/api/v1/records/ticket/{t.get_json()['id']}", headers=h).status_code == 404


def test_assignment_reaches_the_console(live: Any, open_page: Any) -> None:
    page = open_page("agent2", DESKTOP)
    page.goto(f"{live.url}/ui/")
    page.wait_for_selector("body[data-stream=open]")
    c, h = _api(live.app, live.emails["agent"])
    t = c.post("/api/v1/records/ticket", headers=h, json={
        "type": "inquiry", "subject": "Chuyển cho đồng nghiệp"}).get_json()
    agent2 = c.get("/api/v1/users?email=agent2@water.test", headers=h).get_json()["items"][0]
    r = c.post(f"/api/v1/records/ticket/{t['id']}/transitions/transfer", headers=h,
               json={"assignee": agent2["id"], "comment": "nhờ xử lý"})
    assert r.status_code == 200, r.get_json()
    page.wait_for_selector(f"#cb-event-list a[href='/ui/r/ticket/{t['id']}']")
    assert "Chuyển cho đồng nghiệp" in page.inner_text("#cb-event-list")
