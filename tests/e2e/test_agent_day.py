"""The agent's day in a real browser: an admin adds a custom field; an agent creates a
customer with it, filters the list by it, gets a simulated call's screen pop, creates a
ticket from the pop and transfers it. At a desktop and at a phone width."""
from __future__ import annotations

import re
from typing import Any

import pytest

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize(("db_url", "viewport"), [
    ("sqlite", DESKTOP), ("postgresql", DESKTOP), ("sqlite", PHONE)],
    ids=["sqlite-desktop", "postgresql-desktop", "sqlite-phone"], indirect=["db_url"])
def test_agent_day(live: Any, open_page: Any, shot: Any, viewport: dict[str, int]) -> None:
    tag = "desktop" if viewport is DESKTOP else "phone"
    # 1. the admin adds a custom field in a form; it is checked and applied live
    admin = open_page("admin", viewport)
    admin.goto(f"{live.url}/ui/admin/fields/customer")
    admin.fill("#fld-name", "loyalty_tier")
    admin.select_option("#fld-type", "select")
    admin.fill("#fld-label-en", "Loyalty tier")
    admin.fill("#fld-label-vi", "Hạng thành viên")
    admin.fill("#fld-options", "silver = Silver\ngold = Gold")
    shot(admin, f"{tag}-admin-field")
    admin.click("#fld-save")
    admin.wait_for_selector("[data-edit=loyalty_tier]")
    files = live.app.extensions["callboard"].store.files(
        live.app.extensions["callboard"].store.get("water").id)
    assert "loyalty_tier: {type: select" in files["entities/customer.yaml"]
    assert "# The system customer" in files["entities/customer.yaml"]  # comments kept

    # 2. an agent creates a customer with it (tax code appears only for a business)
    agent = open_page("agent", viewport)
    if viewport is PHONE:  # the menu folds into the toggle
        assert agent.is_hidden("#nav-customer")
        agent.click(".navbar-toggle")
        agent.wait_for_selector("#nav-customer", state="visible")
    agent.goto(f"{live.url}/ui/r/customer/new")
    assert agent.is_hidden("[data-field=tax_code]")
    agent.select_option("#f-customer_type", "business")
    assert agent.is_visible("[data-field=tax_code]")
    agent.fill("#f-name", "Trần Thị Lựu")
    agent.fill("#f-phone", "0909 111 222")
    agent.select_option("#f-loyalty_tier", "gold")
    agent.click("#cb-save")  # the server asks for the tax code of a business
    agent.wait_for_selector("[data-field=tax_code].has-error")
    agent.select_option("#f-customer_type", "residential")
    shot(agent, f"{tag}-customer-form")
    agent.click("#cb-save")
    agent.wait_for_url(re.compile(r".*/ui/r/customer/\d+$"))
    assert "Gold" in agent.inner_text("dd[data-field=loyalty_tier]")
    shot(agent, f"{tag}-customer-detail")
    agent.click("dd[data-field=phone] .cb-call")          # click-to-call on every phone
    agent.wait_for_selector(".cb-toast-success")

    # 3. ... and filters the list by it
    agent.goto(f"{live.url}/ui/r/customer")
    agent.wait_for_selector("#cb-total")
    if agent.is_visible("#cb-filter-toggle"):  # phones: the filters fold away
        agent.click("#cb-filter-toggle")
    agent.select_option("#flt-loyalty_tier", "gold")
    agent.wait_for_selector("#cb-total[data-total='1']")
    assert "Trần Thị Lựu" in agent.inner_text("#cb-table")
    shot(agent, f"{tag}-customer-list")

    # 4. a supervisor plays an inbound call through the sim provider; the pop appears
    agent.goto(f"{live.url}/ui/")
    agent.wait_for_selector("body[data-stream=open]")
    agent.click("#status-ready")
    agent.wait_for_selector("#status-ready.active")
    sup = open_page("supervisor", viewport)
    sup.goto(f"{live.url}/ui/")
    sup.fill("#sim-from", "0909111222")
    sup.fill("#sim-agent", "101")
    sup.wait_for_selector("#cb-queue-rows tr[data-queue=support]")
    for step in ("incoming", "digits-send", "ringing"):
        sup.click(f"#sim-{step}")
        sup.wait_for_function("n => document.getElementById('cb-sim-log').textContent"
                              ".split('\\n').length > n", arg=["incoming", "digits-send",
                                                               "ringing"].index(step) + 1)
    agent.wait_for_selector("#cb-pop-title")
    assert agent.inner_text("#cb-pop-title") == "Trần Thị Lựu"
    shot(agent, f"{tag}-screen-pop")
    shot(sup, f"{tag}-simulate")

    # 5. a ticket from the pop, prefilled for the caller, then transferred
    agent.click("#cb-pop-ticket")
    agent.wait_for_selector("#f-type")
    agent.select_option("#f-type", "complaint")
    agent.wait_for_selector("#f-subject")
    agent.fill("#f-subject", "Nước yếu từ sáng")
    agent.select_option("#f-product", "water")
    agent.wait_for_function(  # the link widget fetches the prefilled customer's title
        "name => document.getElementById('f-customer').value === name", arg="Trần Thị Lựu")
    agent.click("#cb-save")
    agent.wait_for_url(re.compile(r".*/ui/r/ticket/\d+$"))
    agent.click("#tr-transfer")
    agent.select_option("#tr-department", "billing")
    agent.fill("#tr-comment", "Hóa đơn sai chỉ số")
    agent.click("#tr-go")
    agent.wait_for_selector("#cb-timeline li.cb-tl-transition, #cb-timeline li")
    agent.wait_for_function("document.querySelector('#cb-fields') && "
                            "document.querySelector('#cb-fields').innerText.includes('Billing')")
    shot(agent, f"{tag}-ticket-detail")
    ticket = live.app.extensions["callboard"]
    tenant = ticket.store.get("water")
    from callboard.engine.access import system_actor
    items = ticket.records(tenant).list(system_actor(tenant.id), "ticket").items
    assert [(t["subject"], t["department"]) for t in items] == [("Nước yếu từ sáng", "billing")]
    assert items[0]["call"] is not None                   # the ticket remembers the call
