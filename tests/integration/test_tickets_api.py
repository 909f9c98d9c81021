"""Tickets and workflows over HTTP (issue 4, CONTRACT §4), on SQLite and PostgreSQL.

The real app, real logins and tokens, the real SSE stream: transitions and each of their
answers, transfers and the department rules, the `ticket_assigned` event, the activity,
following, the ticket views with filters, the quick ticket from a call, the knowledge
base's workflow, saved filters, and the issue's "tried as a new user would" story.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from callboard.engine.access import system_actor
from callboard.engine.tables import members
from callboard.engine.values import format_datetime
from callboard.web.platform import platform
from callboard.web.users import create_user

API = "/api/v1"

# Users with a department (conftest's cast has none): name -> (role, team, department)
STAFF: dict[str, tuple[str, str | None, str]] = {
    "bill1": ("agent", "bill", "billing"),
    "bill2": ("agent", "bill", "billing"),
    "care1": ("agent", "a", "support"),
    "care2": ("agent", "a", "support"),
    "care3": ("agent", "a", "support"),
    "tech1": ("agent", "tech", "technical"),
}


# -- helpers --------------------------------------------------------------------------------
def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:600])
    return r.get_json()


def errors_of(r: Any, status: int) -> dict[str, list[str]]:
    """The `{"errors": {field: [message…]}}` body of an error answer, checked."""
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:600])
    body = r.get_json()
    assert isinstance(body, dict) and set(body) == {"errors"}, body
    for key, messages in body["errors"].items():
        assert isinstance(key, str) and isinstance(messages, list) and messages, body
        assert all(isinstance(m, str) and m for m in messages), body
    return body["errors"]


def ids(page: dict[str, Any]) -> set[int]:
    assert page["total"] == len(page["items"]), page
    return {item["id"] for item in page["items"]}


@pytest.fixture
def staff(app: Flask, users: dict[str, dict[str, Any]], password: str) -> dict[str, int]:
    """Department members of the water tenant, by name (e-mail NAME@water.test)."""
    return {name: create_user(app, "water", f"{name}@water.test", password, role, team=team,
                              department=dep)
            for name, (role, team, dep) in STAFF.items()}


@pytest.fixture
def uid(users: dict[str, dict[str, Any]], staff: dict[str, int]) -> Callable[[str], int]:
    """uid("agent") / uid("bill1"): the user id of a water user."""
    def _uid(name: str) -> int:
        return staff[name] if name in staff else users["water"][name].id
    return _uid


def set_status(app: Flask, statuses: dict[int, str]) -> None:
    """Agent statuses (ready, paused, offline…) by user id: members.status."""
    with platform(app).engine.begin() as conn:
        for user, status in statuses.items():
            conn.execute(update(members).where(members.c.user_id == user)
                         .values(status=status))


def complaint(api: Any, subject: str = "Nước đục", **values: Any) -> dict[str, Any]:
    return ok(api.post("/records/ticket", json={"type": "complaint", "subject": subject,
                                                "product": "water", **values}), 201)


def transition(api: Any, ticket: dict[str, Any] | int, name: str, entity: str = "ticket",
               **body: Any) -> Any:
    rid = ticket if isinstance(ticket, int) else ticket["id"]
    return api.post(f"/records/{entity}/{rid}/transitions/{name}", json=body)


def move(api: Any, ticket: dict[str, Any] | int, name: str, entity: str = "ticket",
         **body: Any) -> dict[str, Any]:
    return ok(transition(api, ticket, name, entity, **body))


class Stream:
    """A user's open `GET /agents/me/events` stream, read by a thread of its own (as a
    browser would keep it open) while the test goes on."""

    LIMIT = 2.0     # seconds the stream may sit idle before the server ends it

    def __init__(self, app: Flask, client: FlaskClient, headers: dict[str, str]):
        app.config["SSE_KEEPALIVE_SECONDS"] = 0.05
        self.chunks: list[str] = []
        self.status: int | None = None
        self.listening = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(client, headers), daemon=True)
        self.thread.start()
        assert self.listening.wait(30), "the event stream did not open"
        assert self.status == 200

    def _read(self, client: FlaskClient, headers: dict[str, str]) -> None:
        r = client.get(f"{API}/agents/me/events?limit={self.LIMIT}", headers=headers,
                       buffered=False)
        self.status = r.status_code
        try:
            assert r.mimetype == "text/event-stream"
            for chunk in r.response:
                self.chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
                self.listening.set()        # the first frame: the broker has our queue
        finally:
            r.close()
            self.listening.set()

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """Every event the stream carried, once the server has ended it."""
        self.thread.join(self.LIMIT + 30)
        assert not self.thread.is_alive()
        assert self.chunks and self.chunks[0].startswith("retry:")
        out = []
        for text in self.chunks:
            if text.startswith("event:"):
                head, data = text.strip().split("\n")
                out.append((head.removeprefix("event: "),
                            json.loads(data.removeprefix("data: "))))
        return out


@pytest.fixture
def stream(app: Flask, client: FlaskClient, login: Callable[[str], dict[str, str]]
           ) -> Callable[[str], Stream]:
    """stream("bill1@water.test"): that user's event stream, listening from now on."""
    return lambda mail: Stream(app, client, login(mail))


# -- transitions: every answer --------------------------------------------------------------
def test_transition_answers_over_http(as_: Any, uid: Callable[[str], int]) -> None:
    agent, sup, owner = as_("water", "agent"), as_("water", "supervisor"), as_("water", "owner")
    c = complaint(agent)
    assert (c["status"], c["department"], c["owner"]) == ("new", "support", uid("agent"))
    listed = ok(agent.get(f"/records/ticket/{c['id']}/transitions?locale=vi"))
    assert listed == {"state": "new", "items": [
        {"name": "start", "label": "Tiếp nhận", "to": "in_progress", "require": [],
         "transfer": False},
        {"name": "transfer", "label": "Chuyển xử lý", "to": "in_progress", "require": [],
         "transfer": True}]}
    # 404: unknown transition, unknown record, another tenant's ticket, no workflow
    e = errors_of(transition(agent, c, "teleport"), 404)
    assert "no transition 'teleport'" in e["_"][0]
    errors_of(transition(agent, 10**9, "start"), 404)
    errors_of(transition(as_("coffee", "owner"), c, "start"), 404)
    errors_of(transition(as_("water", "agent2"), c, "start"), 404)     # not agent2's to see
    customer = ok(agent.post("/records/customer", json={"name": "An"}), 201)
    errors_of(transition(agent, customer["id"], "start", entity="customer"), 404)
    errors_of(transition(agent, c, "start", entity="nothing"), 404)
    # 409: not from this state, naming what is possible now
    e = errors_of(transition(agent, c, "resolve"), 409)
    assert e == {"_": ["'resolve' cannot be done from 'new' (possible now: start, transfer)"]}
    # 200: the record
    started = move(agent, c, "start")
    assert (started["id"], started["status"], started["version"]) == (c["id"], "in_progress", 2)
    assert ok(agent.get(f"/records/ticket/{c['id']}")) == started
    # 422: a required field missing
    assert errors_of(transition(agent, c, "resolve", comment="xong"), 422) == {
        "resolution": ["required to Resolve"]}
    resolved = move(agent, c, "resolve", fields={"resolution": "Đã súc xả"})
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    # 403: close needs supervisor or admin; the transitions offered follow the role
    e = errors_of(transition(agent, c, "close"), 403)
    assert e == {"_": ["'close' needs the role supervisor or admin"]}
    assert [t["name"] for t in ok(agent.get(f"/records/ticket/{c['id']}/transitions"))[
        "items"]] == ["reopen"]
    assert [t["name"] for t in ok(sup.get(f"/records/ticket/{c['id']}/transitions"))[
        "items"]] == ["reopen", "close"]
    # ... the owner may always
    assert move(owner, c, "close")["status"] == "closed"
    assert ok(agent.get(f"/records/ticket/{c['id']}/transitions")) == {"state": "closed",
                                                                        "items": []}
    # bodies: not JSON, not an object
    c2 = complaint(agent)
    path = f"/records/ticket/{c2['id']}/transitions/start"
    errors_of(agent.post(path, data="start!", content_type="application/json"), 422)
    errors_of(agent.post(path, json=["start"]), 422)
    assert move(agent, c2, "start")["status"] == "in_progress"      # an empty body is fine


def test_422_guards_and_transfers_over_http(as_: Any, uid: Callable[[str], int]) -> None:
    owner, agent = as_("water", "owner"), as_("water", "agent")
    leak = ok(owner.post("/records/ticket", json={
        "type": "leak_report", "subject": "Rò rỉ", "location": "5 Lý Thường Kiệt",
        "district": "quan_10", "outcome": "Rò sau đồng hồ"}), 201)
    e = errors_of(transition(owner, leak, "customer_side"), 422)
    assert e == {"_": ["'customer_side' is not allowed now: leak_side == 'after_meter'"]}
    assert ok(owner.get(f"/records/ticket/{leak['id']}"))["status"] == "new"
    closed = move(owner, leak, "customer_side", fields={"leak_side": "after_meter"})
    assert closed["status"] == "closed"
    c = complaint(agent)
    assert errors_of(transition(agent, c, "transfer", comment="?"), 422) == {
        "department": ["a transfer needs a department and/or an assignee"]}
    e = errors_of(transition(agent, c, "transfer", department="marketing"), 422)
    assert list(e) == ["department"] and e["department"][0].startswith(
        "no department 'marketing'")
    for nobody in ("nobody@water.test", "agent@coffee.test", 10**6):
        assert errors_of(transition(agent, c, "transfer", assignee=nobody), 422) == {
            "assignee": [f"no user '{nobody}' in this tenant"]}
    errors_of(transition(agent, c, "start", department="billing"), 422)
    after = ok(agent.get(f"/records/ticket/{c['id']}"))
    assert (after["status"], after["version"]) == ("new", 1)
    assert [a["action"] for a in ok(agent.get(f"/records/ticket/{c['id']}/activity"))[
        "items"]] == ["create"]


def test_status_never_changes_through_patch(as_: Any) -> None:
    for name in ("agent", "supervisor", "admin", "owner"):
        api = as_("water", name)
        c = complaint(api)
        assert errors_of(api.patch(f"/records/ticket/{c['id']}", json={"status": "closed"}),
                         422) == {"status": ["changes only through a workflow transition"]}
        assert errors_of(api.patch(f"/records/ticket/{c['id']}",
                                   json={"resolved_at": "2026-01-01T00:00:00Z"}), 422) == {
            "resolved_at": ["is read-only"]}
        assert errors_of(api.post("/records/ticket", json={
            "type": "complaint", "subject": "s", "product": "water", "status": "closed"}),
            422) == {"status": ["changes only through a workflow transition"]}
        assert ok(api.get(f"/records/ticket/{c['id']}"))["status"] == "new"
    owner = as_("water", "owner")
    kb = ok(owner.post("/records/kb_article", json={"title": "Giá nước"}), 201)
    errors_of(owner.patch(f"/records/kb_article/{kb['id']}", json={"status": "published"}), 422)


def test_per_type_fields_metadata_and_type_change(as_: Any) -> None:
    agent = as_("water", "agent")
    meta = ok(agent.get("/meta/entities/ticket"))
    types = {t["name"]: t for t in meta["ticket_types"]}
    assert set(types) == {"complaint", "inquiry", "leak_report", "suggestion"}
    assert [f["name"] for f in types["complaint"]["fields"]] == [
        "product", "category", "severity", "resolution", "satisfaction"]
    assert types["complaint"]["sla"] == {"respond": 4 * 3600, "resolve": 3 * 86400,
                                         "schedule": "business"}
    assert types["leak_report"]["sla"]["schedule"] == "round_the_clock"
    waiting = [s for s in types["leak_report"]["workflow"]["states"] if s["name"] == "waiting"]
    assert waiting[0]["pause_sla"] is True
    close = [t for t in types["complaint"]["workflow"]["transitions"] if t["name"] == "close"]
    assert close[0]["roles"] == ["supervisor", "admin"]
    # validation by type
    assert errors_of(agent.post("/records/ticket", json={
        "type": "leak_report", "subject": "Bể", "product": "water"}), 422) == {
        "product": ["unknown field"], "location": ["required"], "district": ["required"]}
    c = complaint(agent, severity="high")
    move(agent, c, "start")
    assert errors_of(agent.patch(f"/records/ticket/{c['id']}", json={"type": "leak_report"}),
                     422) == {"location": ["required"], "district": ["required"]}
    changed = ok(agent.patch(f"/records/ticket/{c['id']}", json={
        "type": "leak_report", "location": "1 Lê Lợi", "district": "quan_1"}))
    assert changed["type"] == "leak_report" and changed["status"] == "new"
    assert "product" not in changed and "severity" not in changed
    assert changed["leak_size"] == "small"
    items = ok(agent.get(f"/records/ticket/{c['id']}/transitions"))["items"]
    assert [t["name"] for t in items] == ["dispatch", "customer_side"]


# -- transfer and assignment ----------------------------------------------------------------
def test_transfer_to_a_round_robin_department(app: Flask, as_: Any,
                                              uid: Callable[[str], int]) -> None:
    owner = as_("water", "owner")
    care1, care2, care3 = uid("care1"), uid("care2"), uid("care3")
    set_status(app, {care1: "ready", care2: "offline", care3: "paused"})

    def next_assignee() -> int:
        c = complaint(owner)
        return move(owner, c, "transfer", department="support")["assignee"]

    assert [next_assignee() for _ in range(4)] == [care1, care3, care1, care3]
    set_status(app, {care1: "offline", care3: "offline"})
    assert [next_assignee() for _ in range(4)] == [care1, care2, care3, care1]


def test_transfer_to_a_least_open_department_and_by_email(
        app: Flask, as_: Any, uid: Callable[[str], int]) -> None:
    owner = as_("water", "owner")
    bill1, bill2 = uid("bill1"), uid("bill2")
    set_status(app, {bill1: "ready", bill2: "ready"})
    for _ in range(2):
        c = complaint(owner)
        by_mail = move(owner, c, "transfer", department="billing", assignee="Bill1@Water.test")
        assert by_mail["assignee"] == bill1
    # bill1 has two open tickets, bill2 none
    c = complaint(owner)
    assert move(owner, c, "transfer", department="billing")["assignee"] == bill2
    c = complaint(owner)
    assert move(owner, c, "transfer", department="billing")["assignee"] == bill2
    # two each: the tie goes to the one after the last assignee (bill2)
    c = complaint(owner)
    assert move(owner, c, "transfer", department="billing")["assignee"] == bill1
    # technical has no rule: the ticket waits there for someone to take it
    c = move(owner, c, "transfer", department="technical", comment="Kiểm tra đồng hồ")
    assert "assignee" not in c and c["department"] == "technical"
    tech = as_("water", "tech1")
    assert c["id"] in ids(ok(tech.get("/tickets?view=to_handle")))


def test_the_new_assignee_gets_ticket_assigned(as_: Any, uid: Callable[[str], int],
                                               stream: Callable[[str], Stream]) -> None:
    agent = as_("water", "agent")
    c = move(agent, complaint(agent, "Hóa đơn tháng 10 quá cao"), "start")
    bill1, bill2 = stream("bill1@water.test"), stream("bill2@water.test")
    care1 = stream("care1@water.test")
    # refused transitions tell nobody anything, even one that brought an assignee
    errors_of(transition(agent, c, "resolve", fields={"assignee": "bill2@water.test"}), 422)
    errors_of(transition(agent, c, "transfer", department="nowhere"), 422)
    moved = move(agent, c, "transfer", assignee="bill1@water.test", department="billing",
                 comment="Sai chỉ số")
    for _ in range(3):          # and later writes do not bring the refused one back
        move(agent, c, "transfer", assignee="bill1@water.test", comment="nhắc lại")
    # an assignee named when the ticket is made, or changed by a plain PATCH, hears too
    owner = as_("water", "owner")
    made = complaint(owner, "Đồng hồ chạy nhanh", assignee="care1@water.test",
                     priority="high")
    ok(as_("water", "supervisor").patch(f"/records/ticket/{c['id']}",
                                        json={"assignee": "bill2@water.test"}))
    assert bill1.events() == [("ticket_assigned", {
        "id": c["id"], "subject": "Hóa đơn tháng 10 quá cao", "type": "complaint",
        "status": "in_progress", "department": "billing", "due_at": moved["due_at"],
        "by": uid("agent")})]
    assert bill2.events() == [("ticket_assigned", {
        "id": c["id"], "subject": "Hóa đơn tháng 10 quá cao", "type": "complaint",
        "status": "in_progress", "department": "billing", "due_at": moved["due_at"],
        "by": uid("supervisor")})]
    assert care1.events() == [("ticket_assigned", {
        "id": made["id"], "subject": "Đồng hồ chạy nhanh", "type": "complaint",
        "status": "new", "department": "support", "due_at": made["due_at"],
        "by": uid("owner")})]


def test_activity_shows_who_moved_it_where_and_why(as_: Any, uid: Callable[[str], int]
                                                   ) -> None:
    agent, bill1, sup = as_("water", "agent"), as_("water", "bill1"), as_("water", "supervisor")
    c = complaint(agent)
    move(agent, c, "transfer", department="billing", assignee="bill1@water.test",
         comment="Chuyển phòng Hóa đơn")
    move(bill1, c, "resolve", fields={"resolution": "Điều chỉnh"}, comment="Đã xử lý")
    move(bill1, c, "reopen", comment="Khách chưa đồng ý")
    move(bill1, c, "transfer", department="support", assignee="agent@water.test",
         comment="Trả lại CSKH")
    log = ok(agent.get(f"/records/ticket/{c['id']}/activity"))["items"]
    assert [(e["action"], e["actor"], e["comment"]) for e in log] == [
        ("transition:transfer", uid("bill1"), "Trả lại CSKH"),
        ("transition:reopen", uid("bill1"), "Khách chưa đồng ý"),
        ("transition:resolve", uid("bill1"), "Đã xử lý"),
        ("transition:transfer", uid("agent"), "Chuyển phòng Hóa đơn"),
        ("create", uid("agent"), None)]
    assert log[0]["changes"]["department"] == ["billing", "support"]
    assert log[0]["changes"]["assignee"] == [uid("bill1"), uid("agent")]
    assert log[3]["changes"]["department"] == ["support", "billing"]
    assert log[3]["changes"]["assignee"] == [None, uid("bill1")]
    assert log[3]["changes"]["status"] == ["new", "in_progress"]
    assert log[1]["changes"]["resolved_at"][1] is None          # reopen clears it
    assert all(e["at"].endswith("Z") for e in log)
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
    assert "resolved_at" not in ok(sup.get(f"/records/ticket/{c['id']}"))


def test_follow_unfollow_and_the_following_view(as_: Any, uid: Callable[[str], int]) -> None:
    owner, agent, agent2 = as_("water", "owner"), as_("water", "agent"), as_("water", "agent2")
    mine = complaint(agent)                        # agent's: agent2 cannot see it
    pool = complaint(owner)                        # nobody's: every agent sees it
    errors_of(agent2.post(f"/records/ticket/{mine['id']}/follow"), 404)
    followed = ok(agent2.post(f"/records/ticket/{pool['id']}/follow"))
    assert followed["watchers"] == [uid("agent2")]
    again = ok(agent2.post(f"/records/ticket/{pool['id']}/follow"))
    assert again["watchers"] == [uid("agent2")] and again["version"] == followed["version"]
    ok(agent.post(f"/records/ticket/{pool['id']}/follow"))
    assert ok(owner.get(f"/records/ticket/{pool['id']}"))["watchers"] == [uid("agent2"),
                                                                          uid("agent")]
    assert ids(ok(agent2.get("/tickets?view=following"))) == {pool["id"]}
    assert ids(ok(agent.get("/tickets?view=following"))) == {pool["id"]}
    assert ids(ok(owner.get("/tickets?view=following"))) == set()
    assert ok(agent2.get("/tickets?view=following&priority=high"))["total"] == 0
    unfollowed = ok(agent2.delete(f"/records/ticket/{pool['id']}/follow"))
    assert unfollowed["watchers"] == [uid("agent")]
    assert ids(ok(agent2.get("/tickets?view=following"))) == set()
    actions = [a["action"] for a in ok(owner.get(f"/records/ticket/{pool['id']}/activity"))[
        "items"]]
    assert actions == ["unfollow", "follow", "follow", "create"]
    # a supervisor adds a watcher: the watcher now sees the ticket and follows it
    ok(as_("water", "supervisor").patch(f"/records/ticket/{mine['id']}",
                                        json={"watchers": ["agent2@water.test"]}))
    assert ok(agent2.get(f"/records/ticket/{mine['id']}"))["id"] == mine["id"]
    assert ids(ok(agent2.get("/tickets?view=following"))) == {mine["id"]}
    errors_of(as_("coffee", "owner").post(f"/records/ticket/{mine['id']}/follow"), 404)


# -- views ----------------------------------------------------------------------------------
def test_views_with_filters_over_http(as_: Any, uid: Callable[[str], int]) -> None:
    owner, care1, care2 = as_("water", "owner"), as_("water", "care1"), as_("water", "care2")
    bill1 = as_("water", "bill1")
    past = format_datetime(datetime.now(UTC) - timedelta(hours=3))
    t: dict[str, int] = {}
    a = complaint(care1, "A", priority="high")
    t["A"] = move(care1, a, "transfer", assignee="me")["id"]                   # mine, started
    t["B"] = complaint(care1, "B")["id"]                                        # new, support
    t["C"] = complaint(owner, "C", priority="high")["id"]                       # nobody's
    t["D"] = complaint(owner, "D", priority="high", assignee=uid("care2"), due_at=past)["id"]
    e = complaint(owner, "E", due_at=past, resolution="ok")
    move(owner, e, "start"), move(owner, e, "resolve")
    t["E"] = move(owner, e, "close")["id"]                                      # closed
    t["F"] = ok(bill1.post("/records/ticket", json={
        "type": "inquiry", "subject": "F", "department": "billing",
        "watchers": ["care1@water.test"]}), 201)["id"]

    def names(api: Any, query: str) -> set[str]:
        page = ok(api.get(f"/tickets?{query}"))
        assert page["view"] == (query.split("&")[0].removeprefix("view=")
                                if query.startswith("view=") else "all")
        return {k for k, v in t.items() if v in ids(page)}

    assert names(care1, "view=all") == set(t)
    assert names(care1, "") == set(t)
    assert names(care1, "view=mine") == {"A"}
    assert names(care1, "view=to_handle") == {"A", "B", "C"}
    assert names(care1, "view=to_handle&priority=high") == {"A", "C"}
    assert names(care1, "view=overdue") == {"D"}
    assert names(care1, "view=unprocessed") == {"B", "C", "D", "F"}
    assert names(care1, "view=unprocessed&type=complaint&sort=-id") == {"B", "C", "D"}
    assert names(care1, "view=created_by_me") == {"A", "B"}
    assert names(care1, "view=following") == {"F"}
    assert names(care2, "view=mine") == {"D"}
    assert names(care2, "view=to_handle") == {"C", "D"}
    assert names(care2, "view=overdue&priority=high") == {"D"}
    assert names(care2, "view=overdue&priority=low") == set()
    assert names(bill1, "view=to_handle") == {"F"}
    assert names(owner, "view=created_by_me&status=closed") == {"E"}
    assert names(owner, "view=overdue") == {"D"}
    assert names(owner, "view=unprocessed&department=support&priority=high") == {"C", "D"}
    # an export of the list in a view holds what the view shows
    r = care1.post("/export/ticket?format=csv&view=to_handle&priority=high")
    assert r.status_code == 202, r.get_json()
    text = care1.get(f"/jobs/{r.get_json()['job']}/file").data.decode("utf-8-sig")
    exported = {int(line.split(",")[0]) for line in text.splitlines()[1:]}
    assert exported == {t["A"], t["C"]}
    r = care1.post("/export/ticket?view=nothing")
    assert r.status_code == 422 and "view" in r.get_json()["errors"]
    assert care1.post("/export/customer?view=mine").status_code == 422
    assert names(owner, "view=all&q=F") == {"F"}
    # the owner pulls A's due date into the past: overdue for those who see A
    ok(owner.patch(f"/records/ticket/{t['A']}", json={"due_at": past}))
    assert names(care1, "view=overdue") == {"A", "D"}
    assert names(care2, "view=overdue") == {"D"}
    page = ok(care1.get("/tickets?view=overdue&per_page=1&sort=due_at"))
    assert page["total"] == 2 and len(page["items"]) == 1
    # a view and a filter that do not exist are 422
    assert list(errors_of(care1.get("/tickets?view=late"), 422)) == ["view"]
    assert list(errors_of(care1.get("/tickets?view=mine&colour=red"), 422)) == ["colour"]
    assert errors_of(as_("coffee", "owner").get("/tickets?view=all&sort=bogus"), 422)
    assert ids(ok(as_("coffee", "owner").get("/tickets?view=all"))) == set()


# -- quick ticket from a call ---------------------------------------------------------------
def test_quick_ticket_from_a_call(app: Flask, as_: Any, uid: Callable[[str], int]) -> None:
    p = platform(app)
    tenant = p.store.get("water")
    svc = p.records(tenant)
    system = system_actor(tenant.id)
    cust = svc.create(system, "customer", {"name": "Phạm Thị Hoa", "phone": "0912345678",
                                           "source": "call"})
    call = svc.create(system, "call", {"call_id": "sim-42", "direction": "inbound",
                                       "from": "0912345678", "to": "19001234",
                                       "agent": uid("agent"), "customer": cust["id"],
                                       "started_at": "now", "result": "answered"})
    agent = as_("water", "agent")
    t = complaint(agent, "Mất nước từ sáng", call=call["id"], category="no_water")
    assert t["customer"] == cust["id"] and t["call"] == call["id"]
    assert ok(agent.get(f"/records/call/{call['id']}"))["ticket"] == t["id"]
    assert ids(ok(agent.get(f"/records/call/{call['id']}/related/ticket"))) == {t["id"]}
    assert ids(ok(agent.get(f"/records/customer/{cust['id']}/related/ticket"))) == {t["id"]}
    assert ids(ok(agent.get(f"/records/ticket/{t['id']}/related/call"))) == {call["id"]}
    assert ids(ok(agent.get(f"/records/customer/{cust['id']}/related/call"))) == {call["id"]}
    # another agent does not see the agent's ticket in those lists
    assert ids(ok(as_("water", "agent_b").get(
        f"/records/customer/{cust['id']}/related/ticket"))) == set()
    errors_of(as_("coffee", "agent").get(f"/records/call/{call['id']}/related/ticket"), 404)
    # a call id that is no call is refused
    assert errors_of(agent.post("/records/ticket", json={
        "type": "complaint", "subject": "s", "product": "water", "call": cust["id"]}),
        422) == {"call": [f"no call {cust['id']}"]}


# -- the knowledge base ---------------------------------------------------------------------
def test_kb_article_publish_is_for_supervisors(as_: Any) -> None:
    agent, sup = as_("water", "agent"), as_("water", "supervisor")
    kb = ok(agent.post("/records/kb_article", json={"title": "Cách đọc hóa đơn tiền nước",
                                                    "body": "Kỳ hóa đơn…"}), 201)
    assert kb["status"] == "draft"
    assert [t["name"] for t in ok(agent.get(f"/records/kb_article/{kb['id']}/transitions"))[
        "items"]] == ["submit", "archive"]
    assert errors_of(transition(agent, kb, "publish", entity="kb_article"), 403) == {
        "_": ["'publish' needs the role supervisor or admin or owner"]}
    assert move(agent, kb, "submit", entity="kb_article")["status"] == "review"
    errors_of(transition(agent, kb, "publish", entity="kb_article"), 403)
    published = move(sup, kb, "publish", entity="kb_article", comment="Đã duyệt")
    assert published["status"] == "published"
    assert errors_of(transition(sup, kb, "submit", entity="kb_article"), 409) == {
        "_": ["'submit' cannot be done from 'published' (possible now: archive)"]}
    log = ok(agent.get(f"/records/kb_article/{kb['id']}/activity"))["items"]
    assert [(e["action"], e["comment"]) for e in log][:2] == [
        ("transition:publish", "Đã duyệt"), ("transition:submit", None)]
    assert ok(as_("water", "admin").get(f"/records/kb_article/{kb['id']}"))["status"] == \
        "published"


# -- saved filters --------------------------------------------------------------------------
def test_saved_filters_personal_or_shared_with_the_team(as_: Any, uid: Callable[[str], int]
                                                         ) -> None:
    agent, agent2, agent_b = as_("water", "agent"), as_("water", "agent2"), as_("water",
                                                                                "agent_b")
    shared = ok(agent.post("/saved-filters", json={
        "entity": "ticket", "name": "Khiếu nại gấp", "shared": True,
        "filters": {"type": "complaint", "priority": "high", "view": "to_handle"}}), 201)
    assert shared["shared"] is True and shared["owner"] == uid("agent")
    personal = ok(agent.post("/saved-filters", json={
        "entity": "ticket", "name": "Của tôi", "filters": {"status__in": "new,in_progress"}}),
        201)
    assert personal["shared"] is False
    other = ok(agent.post("/saved-filters", json={"entity": "customer", "name": "VIP",
                                                  "filters": {"priority__gte": 2},
                                                  "shared": True}), 201)

    def names(api: Any, query: str = "?entity=ticket") -> list[str]:
        page = ok(api.get(f"/saved-filters{query}"))
        assert page["total"] == len(page["items"])
        return [f["name"] for f in page["items"]]

    assert names(agent) == ["Khiếu nại gấp", "Của tôi"]
    assert names(agent, "") == ["Khiếu nại gấp", "Của tôi", "VIP"]
    assert names(agent2) == ["Khiếu nại gấp"]                  # same team: the shared one
    assert names(as_("water", "supervisor")) == ["Khiếu nại gấp"]
    assert names(agent_b) == []                                # another team: nothing
    assert names(as_("water", "owner")) == []
    assert names(as_("coffee", "agent")) == []                 # another tenant, same team name
    assert names(agent2, "?entity=customer") == ["VIP"]
    assert other["filters"] == {"priority__gte": 2}
    # the saved filters run as GET /tickets arguments
    c = complaint(as_("water", "owner"), "gấp", priority="high")
    query = "&".join(f"{k}={v}" for k, v in shared["filters"].items())
    assert c["id"] not in ids(ok(agent2.get(f"/tickets?{query}")))   # not agent2's to handle
    mine = complaint(agent2, "của agent2", priority="high")
    move(agent2, mine, "transfer", assignee="me")
    assert ids(ok(agent2.get(f"/tickets?{query}"))) == {mine["id"]}
    # bad filters are refused when saved
    assert list(errors_of(agent.post("/saved-filters", json={
        "entity": "ticket", "name": "x", "filters": {"colour": "red"}}), 422)) == ["colour"]
    assert set(errors_of(agent.post("/saved-filters", json={"filters": []}), 422)) == {
        "entity", "name", "filters"}


# -- the issue's story ----------------------------------------------------------------------
def test_tried_as_a_new_user_would(app: Flask, client: FlaskClient, password: str,
                                   uid: Callable[[str], int], as_: Any,
                                   stream: Callable[[str], Stream]) -> None:
    """An agent creates a complaint, starts it, transfers it to billing with a comment; a
    billing agent sees it under "to handle", resolves it (refused until the resolution is
    filled in); an agent tries to close it and is refused; a supervisor closes it; the
    activity shows every step."""
    # logging in as a new user would
    r = client.post(f"{API}/security/login", json={"username": "agent@water.test",
                                                   "password": password, "provider": "db"})
    agent_headers = {"Authorization": f"Bearer {ok(r)['access_token']}"}

    def as_agent(method: str, path: str, **kw: Any) -> Any:
        return client.open(API + path, method=method, headers=agent_headers, **kw)

    billing = as_("water", "bill1")
    listening = stream("bill1@water.test")
    # 1. the agent takes the call and writes the complaint
    created = ok(as_agent("POST", "/records/ticket", json={
        "type": "complaint", "subject": "Hóa đơn tháng 10 tăng gấp ba",
        "description": "Khách báo chỉ số đồng hồ ghi sai", "product": "water",
        "category": "billing", "severity": "high"}), 201)
    tid = created["id"]
    assert (created["status"], created["department"]) == ("new", "support")
    assert created["respond_by"] and created["due_at"]
    # 2. starts it
    assert ok(as_agent("POST", f"/records/ticket/{tid}/transitions/start",
                       json={"comment": "Đã tiếp nhận"}))["status"] == "in_progress"
    # 3. transfers it to billing with a comment: billing's rule picks the assignee
    moved = ok(as_agent("POST", f"/records/ticket/{tid}/transitions/transfer", json={
        "department": "billing", "comment": "Sai chỉ số, nhờ phòng Hóa đơn kiểm tra"}))
    assert moved["department"] == "billing" and moved["assignee"] == uid("bill1")
    assert [e for e, d in listening.events() if d["id"] == tid] == ["ticket_assigned"]
    # 4. the billing agent sees it under "to handle"
    page = ok(billing.get("/tickets?view=to_handle"))
    assert tid in ids(page)
    assert tid in ids(ok(billing.get("/tickets?view=to_handle&priority=normal")))
    # 5. resolves it: refused until the resolution is filled in
    assert errors_of(billing.post(f"/records/ticket/{tid}/transitions/resolve",
                                  json={"comment": "Xong"}), 422) == {
        "resolution": ["required to Resolve"]}
    ok(billing.patch(f"/records/ticket/{tid}",
                     json={"resolution": "Ghi lại chỉ số, điều chỉnh hóa đơn tháng 10"}))
    resolved = ok(billing.post(f"/records/ticket/{tid}/transitions/resolve",
                               json={"comment": "Đã điều chỉnh hóa đơn"}))
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    # 6. an agent tries to close it and is refused
    assert errors_of(as_agent("POST", f"/records/ticket/{tid}/transitions/close", json={}),
                     403) == {"_": ["'close' needs the role supervisor or admin"]}
    errors_of(billing.post(f"/records/ticket/{tid}/transitions/close"), 403)
    # 7. a supervisor closes it
    closed = ok(as_("water", "supervisor").post(f"/records/ticket/{tid}/transitions/close",
                                                json={"comment": "Khách đã đồng ý"}))
    assert closed["status"] == "closed" and closed["resolved_at"] == resolved["resolved_at"]
    assert tid not in ids(ok(billing.get("/tickets?view=to_handle")))
    assert tid in ids(ok(billing.get("/tickets?view=mine")))
    # 8. the activity shows every step, newest first
    log = ok(as_agent("GET", f"/records/ticket/{tid}/activity"))["items"]
    steps = [(e["action"], e["actor"], e["comment"]) for e in log]
    assert steps == [
        ("transition:close", uid("supervisor"), "Khách đã đồng ý"),
        ("transition:resolve", uid("bill1"), "Đã điều chỉnh hóa đơn"),
        ("update", uid("bill1"), None),
        ("transition:transfer", uid("agent"), "Sai chỉ số, nhờ phòng Hóa đơn kiểm tra"),
        ("transition:start", uid("agent"), "Đã tiếp nhận"),
        ("create", uid("agent"), None)]
    assert log[3]["changes"]["department"] == ["support", "billing"]
    assert log[3]["changes"]["assignee"] == [None, uid("bill1")]
    assert log[0]["changes"]["status"] == ["resolved", "closed"]
    assert log[1]["changes"]["status"] == ["in_progress", "resolved"]
    assert log[4]["changes"]["status"] == ["new", "in_progress"]
