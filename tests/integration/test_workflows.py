"""Tickets and workflows at the service level, on SQLite and PostgreSQL (issue 4).

Per-type fields, every answer of a transition, transfers and the department assignment
rules, the ticket views, the SLA on the tenant's business calendar (and its pauses), the
quick ticket from a call, and the knowledge base's own workflow. Everything runs on the
real record service with the platform's hooks (`records_service`); nothing is mocked.
"""
from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine, update

from callboard.engine.access import Actor, system_actor
from callboard.engine.bundle import BundleSource
from callboard.engine.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from callboard.engine.queries import filterable_fields, parse_query
from callboard.engine.records import Change, RecordService
from callboard.engine.tables import members
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.engine.values import format_datetime, parse_datetime
from callboard.web.events import Broker, assignment_notifier
from callboard.workflows.calendar import add_business_time, add_sla, business_seconds_between
from callboard.workflows.hooks import records_service
from callboard.workflows.transitions import available, run_transition
from callboard.workflows.views import VIEWS, view_conditions

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
COFFEE = ROOT / "templates" / "coffee_chain"
ICT = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = 3600
DAY = 86400

# Members with a department, beside conftest's `people` (ids 1-6, no department):
# name -> (user id, role, team, department)
STAFF: dict[str, tuple[int, str, str | None, str | None]] = {
    "bill1": (20, "agent", "bill", "billing"),
    "bill2": (21, "agent", "bill", "billing"),
    "bill3": (22, "agent", "bill", "billing"),
    "sup1": (30, "agent", "care", "support"),
    "sup2": (31, "agent", "care", "support"),
    "sup3": (32, "agent", "care", "support"),
    "care_lead": (33, "supervisor", "care", "support"),
    "care_admin": (34, "admin", None, "support"),       # admins take no department tickets
    "sup_gone": (35, "agent", "care", "support"),       # made inactive below
    "tech1": (50, "agent", "tech", "technical"),
    "crew1": (40, "agent", "crew", "field_ops"),
}


# -- fixtures and helpers -------------------------------------------------------------------
@pytest.fixture
def cast(store: TenantStore, water: Tenant, engine: Engine,
         people: dict[str, Actor]) -> dict[str, Actor]:
    """conftest's people plus department members; `sup_gone` is inactive."""
    out = dict(people)
    for name, (uid, role, team, dep) in STAFF.items():
        mail = f"{name}@water.test"
        store.add_member(water.id, uid, mail, role, team=team, department=dep)
        out[name] = Actor(water.id, uid, role, team=team, department=dep, email=mail)
    with engine.begin() as conn:
        conn.execute(update(members).where(members.c.user_id == STAFF["sup_gone"][0])
                     .values(active=False))
    return out


@pytest.fixture
def heard() -> list[Change]:
    return []


@pytest.fixture
def svc(engine: Engine, water: Tenant, cast: dict[str, Actor],
        heard: list[Change]) -> RecordService:
    """The platform's record service (SLA and call hooks), made after every member exists."""
    return records_service(engine, water, listeners=(heard.append,))


def set_status(engine: Engine, statuses: dict[int, str]) -> None:
    """Agent statuses (ready, paused, offline…) by user id: members.status."""
    with engine.begin() as conn:
        for uid, status in statuses.items():
            conn.execute(update(members).where(members.c.user_id == uid).values(status=status))


def complaint(svc: RecordService, actor: Actor, subject: str = "Nước đục",
              **values: Any) -> dict[str, Any]:
    return svc.create(actor, "ticket", {"type": "complaint", "subject": subject,
                                        "product": "water", **values})


def leak(svc: RecordService, actor: Actor, subject: str = "Bể ống", **values: Any
         ) -> dict[str, Any]:
    return svc.create(actor, "ticket", {"type": "leak_report", "subject": subject,
                                        "location": "12 Lê Lợi", "district": "quan_1",
                                        **values})


def move(svc: RecordService, actor: Actor, record: dict[str, Any] | int, name: str,
         entity: str = "ticket", **body: Any) -> dict[str, Any]:
    rid = record if isinstance(record, int) else record["id"]
    return run_transition(svc, actor, entity, rid, name, body)


def refused(kind: type[ServiceError], svc: RecordService, actor: Actor,
            record: dict[str, Any], name: str, entity: str = "ticket",
            **body: Any) -> ServiceError:
    """The transition is refused with `kind`, and the record is left as it was."""
    before = svc.get(cast_owner(svc), entity, record["id"])
    with pytest.raises(kind) as info:
        run_transition(svc, actor, entity, record["id"], name, body)
    assert svc.get(cast_owner(svc), entity, record["id"]) == before
    return info.value


def cast_owner(svc: RecordService) -> Actor:
    return Actor(svc.tenant.id, 1, "owner", email="owner@water.test")


def errors(e: ServiceError) -> dict[str, list[str]]:
    assert isinstance(e, ValidationFailed) and e.status == 422
    return e.errors


def view(svc: RecordService, actor: Actor, name: str, **filters: Any) -> set[int]:
    """Ids of GET /tickets?view=NAME&filters, as the API computes them."""
    fields = filterable_fields(svc.model, svc.entity("ticket"))
    query = parse_query({**{k: str(v) for k, v in filters.items()}, "view": name,
                         "per_page": "500"}, fields, extra=("view",))
    page = svc.list(actor, "ticket", query,
                    extra=view_conditions(name, actor, svc.model, svc.dialect))
    assert page.total == len(page.items)
    return {r["id"] for r in page.items}


def moment(text: str) -> datetime:
    return parse_datetime(text)


def ict(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ICT)


def now() -> datetime:
    return datetime.now(UTC)


# -- per-type fields ------------------------------------------------------------------------
def test_the_type_selects_fields_defaults_and_rules(svc: RecordService,
                                                    cast: dict[str, Actor]) -> None:
    agent = cast["agent"]
    names = set(svc.fields_for(svc.entity("ticket"), {"type": "leak_report"}))
    assert {"location", "district", "leak_side", "crew", "outcome"} <= names
    assert "product" not in names and "resolution" not in names
    with pytest.raises(ValidationFailed) as info:
        svc.create(agent, "ticket", {"type": "leak_report", "subject": "Bể ống",
                                     "product": "water"})
    assert info.value.errors == {"product": ["unknown field"], "location": ["required"],
                                 "district": ["required"]}
    c = complaint(svc, agent)
    assert (c["status"], c["department"], c["severity"], c["category"]) == (
        "new", "support", "normal", "other")
    lr = leak(svc, agent)
    assert (lr["department"], lr["leak_side"], lr["leak_size"], lr["water_cut"]) == (
        "field_ops", "unknown", "small", False)
    # inquiry: required_if on the server
    with pytest.raises(ValidationFailed) as info:
        svc.create(agent, "ticket", {"type": "inquiry", "subject": "Gọi lại",
                                     "callback": True})
    assert info.value.errors == {"callback_at": ["required"]}
    with pytest.raises(ValidationFailed) as info:
        complaint(svc, agent, severity="extreme")
    assert list(info.value.errors) == ["severity"]


def test_changing_the_type_revalidates_and_keeps_a_valid_state(
        svc: RecordService, cast: dict[str, Actor]) -> None:
    agent = cast["agent"]
    c = complaint(svc, agent, resolution="Đã súc xả")
    c = move(svc, agent, c, "start")
    with pytest.raises(ValidationFailed) as info:
        svc.update(agent, "ticket", c["id"], {"type": "leak_report"})
    assert info.value.errors == {"location": ["required"], "district": ["required"]}
    assert svc.get(agent, "ticket", c["id"])["type"] == "complaint"
    changed = svc.update(agent, "ticket", c["id"], {"type": "leak_report",
                                                    "location": "3 Hai Bà Trưng",
                                                    "district": "quan_3"})
    assert changed["type"] == "leak_report"
    for gone in ("product", "category", "severity", "resolution"):
        assert gone not in changed
    assert changed["leak_side"] == "unknown"
    # in_progress is no state of a leak report: back to its initial state, from which
    # its own transitions run
    assert changed["status"] == "new"
    assert [t.name for t in available(svc, agent, "ticket", changed)] == [
        "dispatch", "customer_side"]
    with pytest.raises(ValidationFailed):
        svc.update(agent, "ticket", c["id"], {"product": "water"})


# -- transitions: every answer --------------------------------------------------------------
def test_transition_answers(svc: RecordService, cast: dict[str, Actor]) -> None:
    agent, agent2, owner = cast["agent"], cast["agent2"], cast["owner"]
    c = complaint(svc, agent)
    # 404: an unknown transition (naming those that exist), an invisible record
    e = refused(NotFound, svc, agent, c, "teleport")
    assert "teleport" in e.message and "start, transfer, resolve, reopen, close" in e.message
    refused(NotFound, svc, agent2, c, "start")                 # another agent's ticket
    refused(NotFound, svc, cast["agent_b"], c, "start")
    with pytest.raises(NotFound):
        run_transition(svc, agent, "ticket", 10**9, "start", {})
    customer = svc.create(agent, "customer", {"name": "An"})
    with pytest.raises(NotFound, match="no workflow"):
        run_transition(svc, agent, "customer", customer["id"], "start", {})
    # 409: not from this state, with the transitions possible now
    e = refused(Conflict, svc, agent, c, "resolve")
    assert e.status == 409
    assert "'resolve' cannot be done from 'new'" in e.message
    assert "possible now: start, transfer" in e.message
    # 200
    c = move(svc, agent, c, "start")
    assert c["status"] == "in_progress" and c["version"] == 2
    # 422: a required field missing, then brought by the transition itself
    e = refused(ValidationFailed, svc, agent, c, "resolve", comment="xong")
    assert errors(e) == {"resolution": ["required to Resolve"]}
    c = move(svc, agent, c, "resolve", fields={"resolution": "Đã súc xả đường ống"})
    assert c["status"] == "resolved" and c["resolution"] == "Đã súc xả đường ống"
    # 403: close is for supervisors and admins
    e = refused(Forbidden, svc, agent, c, "close")
    assert e.status == 403 and "supervisor or admin" in e.message
    assert [t.name for t in available(svc, agent, "ticket", c)] == ["reopen"]
    assert [t.name for t in available(svc, cast["supervisor"], "ticket", c)] == [
        "reopen", "close"]
    # ... and the tenant's owner may always
    assert [t.name for t in available(svc, owner, "ticket", c)] == ["reopen", "close"]
    c = move(svc, owner, c, "close")
    assert c["status"] == "closed"
    e = refused(Conflict, svc, owner, c, "reopen")
    assert "possible now: none" in e.message
    # the body must be an object, `fields` an object, `comment` text
    c2 = complaint(svc, agent)
    with pytest.raises(ValidationFailed):
        run_transition(svc, agent, "ticket", c2["id"], "start", ["x"])  # type: ignore[arg-type]
    assert list(errors(refused(ValidationFailed, svc, agent, c2, "start",
                               fields=["resolution"]))) == ["fields"]
    assert list(errors(refused(ValidationFailed, svc, agent, c2, "start", comment=5))) == [
        "comment"]
    # status in `fields` cannot jump the workflow
    moved = move(svc, agent, c2, "start", fields={"status": "closed"})
    assert moved["status"] == "in_progress"


def test_close_roles_admin_and_supervisor(svc: RecordService, cast: dict[str, Actor]) -> None:
    for who in ("admin", "supervisor"):
        c = complaint(svc, cast["agent"], resolution="ok")
        move(svc, cast["agent"], c, "start")
        move(svc, cast["agent"], c, "resolve")
        assert move(svc, cast[who], c, "close")["status"] == "closed"


def test_when_guards(svc: RecordService, cast: dict[str, Actor]) -> None:
    crew = cast["crew1"]
    owner = cast["owner"]
    # customer_side: only for a leak after the meter, and it needs the outcome
    lr = leak(svc, owner, outcome="Rò sau đồng hồ, khách tự sửa")
    e = refused(ValidationFailed, svc, owner, lr, "customer_side")
    assert errors(e) == {"_": ["'customer_side' is not allowed now: "
                               "leak_side == 'after_meter'"]}
    # a guard is judged on the record as the transition leaves it
    closed = move(svc, owner, lr, "customer_side", fields={"leak_side": "after_meter"})
    assert closed["status"] == "closed" and closed["resolved_at"]
    # resolve: the water must be back on when it was cut
    lr = leak(svc, owner)
    move(svc, owner, lr, "dispatch", assignee=crew.user_id)
    move(svc, crew, lr, "start_repair")
    lr = svc.update(crew, "ticket", lr["id"], {"water_cut": True, "outcome": "Thay ống"})
    e = refused(ValidationFailed, svc, crew, lr, "resolve")
    assert list(errors(e)) == ["_"] and "water_restored == true" in errors(e)["_"][0]
    done = move(svc, crew, lr, "resolve", fields={"water_restored": True})
    assert done["status"] == "resolved"
    # require and when together (suggestion: reply and close)
    s = svc.create(owner, "ticket", {"type": "suggestion", "subject": "App", "category":
                                     "digital"})
    move(svc, owner, s, "review")
    s = move(svc, owner, s, "accept")
    assert errors(refused(ValidationFailed, svc, owner, s, "close")) == {
        "response": ["required to Reply and close"]}
    assert "wants_reply != true" in errors(refused(
        ValidationFailed, svc, owner, s, "close_without_reply"))["_"][0]
    assert move(svc, owner, s, "close", fields={"response": "Cảm ơn"})["status"] == "closed"


def test_refused_transitions_write_nothing_and_notify_nobody(
        svc: RecordService, cast: dict[str, Actor], heard: list[Change]) -> None:
    agent = cast["agent"]
    c = move(svc, agent, complaint(svc, agent), "start")
    log = svc.activity(agent, "ticket", c["id"])
    heard.clear()
    # a resolve refused for its missing field, though it also brought an assignee
    refused(ValidationFailed, svc, agent, c, "resolve",
            fields={"assignee": cast["bill1"].user_id})
    refused(Conflict, svc, agent, c, "start")
    assert svc.activity(agent, "ticket", c["id"]) == log
    assert heard == []
    # the next transition is heard alone: nothing of the refused one is published late
    # (no `ticket_assigned` for bill1, who never got the ticket)
    # (several, reads in between, so that each pooled connection serves a transition)
    for i in range(6):
        for _ in range(i % 3):
            svc.get(agent, "ticket", c["id"])
        move(svc, agent, c, "transfer", department="support", assignee="agent@water.test",
             comment=f"round {i}")
    assert [(h.action, h.record.get("assignee")) for h in heard] == [
        ("transition:transfer", agent.user_id)] * 6


def test_status_and_resolution_time_never_change_through_update(
        svc: RecordService, cast: dict[str, Actor]) -> None:
    for who in ("agent", "supervisor", "admin", "owner"):
        actor = cast[who]
        c = complaint(svc, actor)
        with pytest.raises(ValidationFailed) as info:
            svc.update(actor, "ticket", c["id"], {"status": "closed"})
        assert info.value.errors == {"status": ["changes only through a workflow transition"]}
        for readonly in ("resolved_at", "respond_by", "responded_at"):
            with pytest.raises(ValidationFailed) as info:
                svc.update(actor, "ticket", c["id"], {readonly: "2026-01-01T00:00:00Z"})
            assert info.value.errors == {readonly: ["is read-only"]}
        assert svc.get(actor, "ticket", c["id"])["status"] == "new"
    kb = svc.create(cast["owner"], "kb_article", {"title": "Cách đọc hóa đơn"})
    with pytest.raises(ValidationFailed):
        svc.update(cast["owner"], "kb_article", kb["id"], {"status": "published"})


# -- transfer and assignment rules ----------------------------------------------------------
def test_transfer_needs_a_known_department_or_assignee(
        svc: RecordService, cast: dict[str, Actor], store: TenantStore) -> None:
    coffee = store.create("coffee", None, BundleSource.from_dir(COFFEE))
    store.add_member(coffee.id, 61, "owner@coffee.test", "owner")
    agent = cast["agent"]
    c = complaint(svc, agent)
    assert errors(refused(ValidationFailed, svc, agent, c, "transfer", comment="?")) == {
        "department": ["a transfer needs a department and/or an assignee"]}
    e = errors(refused(ValidationFailed, svc, agent, c, "transfer", department="sales"))
    assert list(e) == ["department"] and "no department 'sales'" in e["department"][0]
    assert "billing" in e["department"][0]
    for nobody in ("ghost@water.test", "owner@coffee.test", 61, "999"):
        e = errors(refused(ValidationFailed, svc, agent, c, "transfer", assignee=nobody))
        assert e == {"assignee": [f"no user '{nobody}' in this tenant"]}
    e = errors(refused(ValidationFailed, svc, agent, c, "start", department="billing"))
    assert "not a transfer" in e["_"][0]


def test_transfer_to_an_explicit_assignee(svc: RecordService, cast: dict[str, Actor]) -> None:
    agent, bill2 = cast["agent"], cast["bill2"]
    c = complaint(svc, agent)
    by_mail = move(svc, agent, c, "transfer", department="billing",
                   assignee="BILL2@water.test ", comment="Sai chỉ số")
    assert (by_mail["status"], by_mail["department"], by_mail["assignee"]) == (
        "in_progress", "billing", bill2.user_id)
    # the named assignee wins over the department's rule; the assignee sees the ticket
    assert svc.get(bill2, "ticket", c["id"])["assignee"] == bill2.user_id
    by_id = move(svc, bill2, c, "transfer", assignee=cast["sup1"].user_id)
    assert by_id["assignee"] == cast["sup1"].user_id
    assert by_id["department"] == "billing"            # only the assignee moved
    me = move(svc, cast["sup1"], c, "transfer", assignee="me")
    assert me["assignee"] == cast["sup1"].user_id


def test_round_robin_takes_available_agents_in_turn(
        svc: RecordService, cast: dict[str, Actor], engine: Engine) -> None:
    owner = cast["owner"]
    sup1, sup2, sup3, lead = (cast[n].user_id for n in ("sup1", "sup2", "sup3", "care_lead"))
    set_status(engine, {sup1: "ready", sup2: "offline", sup3: "paused", lead: "offline"})

    def next_assignee() -> int:
        c = complaint(svc, owner)
        return move(svc, owner, c, "transfer", department="support")["assignee"]

    # members not offline first: sup1 and sup3, in turn
    assert [next_assignee() for _ in range(5)] == [sup1, sup3, sup1, sup3, sup1]
    # nobody available: every active agent or supervisor of the department, in turn
    # (the inactive member and the admin never)
    set_status(engine, {sup1: "offline", sup3: "offline"})
    got = [next_assignee() for _ in range(5)]
    assert got == [sup2, sup3, lead, sup1, sup2]
    # someone comes back: only them
    set_status(engine, {sup2: "ready"})
    assert [next_assignee() for _ in range(2)] == [sup2, sup2]


def test_least_open_picks_the_agent_with_fewest_open_tickets(
        svc: RecordService, cast: dict[str, Actor], engine: Engine) -> None:
    owner = cast["owner"]
    b1, b2, b3 = (cast[n].user_id for n in ("bill1", "bill2", "bill3"))
    set_status(engine, {u: "ready" for u in (b1, b2, b3)})

    def give(uid: int, state: str = "open") -> dict[str, Any]:
        c = complaint(svc, owner, resolution="ok")
        c = move(svc, owner, c, "transfer", department="billing", assignee=uid)
        if state == "closed":
            move(svc, owner, c, "resolve")
            c = move(svc, owner, c, "close")
        return c

    give(b1), give(b1)
    give(b2)
    give(b2, "closed"), give(b2, "closed"), give(b3, "closed")      # closed ones don't count
    deleted = give(b3)
    svc.delete(owner, "ticket", deleted["id"])                       # nor deleted ones

    def next_assignee() -> int:
        c = complaint(svc, owner)
        return move(svc, owner, c, "transfer", department="billing")["assignee"]

    # open: b1 2, b2 1, b3 0
    assert next_assignee() == b3
    # b2 1, b3 1: a tie goes to the one after the last assignee (b3) in turn
    assert next_assignee() == b2
    # b1 2, b2 2, b3 1
    assert next_assignee() == b3
    # an offline agent is passed over while others are available
    set_status(engine, {b3: "offline"})
    assert next_assignee() in (b1, b2)


@pytest.mark.parametrize("department", ["support", "billing"])
def test_concurrent_transfers_take_turns(engine: Engine, water: Tenant, cast: dict[str, Actor],
                                         department: str) -> None:
    """Transfers landing on a department at the same moment (the very first ones too,
    when its round-robin cursor does not exist yet) share the work out, and none fails."""
    svc = records_service(engine, water)
    owner = cast["owner"]
    team = {"support": ("sup1", "sup2", "sup3", "care_lead"),
            "billing": ("bill1", "bill2", "bill3")}[department]
    set_status(engine, {cast[n].user_id: "ready" for n in team})
    for _ in range(2):
        tickets = [complaint(svc, owner) for _ in range(2 * len(team))]
        got, failed = at_once(lambda t: move(svc, owner, t, "transfer",
                                             department=department)["assignee"], tickets)
        assert failed == []
        assert sorted(got) == sorted(cast[n].user_id for n in team for _ in range(2))


def at_once(fn: Callable[[Any], Any], items: list[Any]) -> tuple[list[Any], list[BaseException]]:
    """fn(item) for every item, each in a thread of its own, all released together."""
    start = threading.Barrier(len(items))
    got: list[Any] = []
    failed: list[BaseException] = []

    def run(item: Any) -> None:
        start.wait()
        try:
            got.append(fn(item))
        except BaseException as e:
            failed.append(e)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return got, failed


def test_transfer_to_a_department_without_a_rule_leaves_it_to_the_department(
        svc: RecordService, cast: dict[str, Actor]) -> None:
    owner, tech = cast["owner"], cast["tech1"]
    c = complaint(svc, owner)
    c = move(svc, owner, c, "transfer", assignee=cast["sup1"].user_id)
    c = move(svc, owner, c, "transfer", department="technical", comment="Kiểm tra áp lực")
    assert c["department"] == "technical" and "assignee" not in c
    assert c["id"] in view(svc, tech, "to_handle")
    assert c["id"] not in view(svc, cast["sup1"], "to_handle")


def test_the_new_assignee_hears_ticket_assigned(engine: Engine, water: Tenant,
                                                cast: dict[str, Actor]) -> None:
    broker = Broker()
    svc = records_service(engine, water, listeners=(assignment_notifier(broker),))
    owner, b = cast["owner"], cast["bill1"]
    stream = broker.stream(b.user_id, keepalive=0.05, limit=0.5)
    assert next(stream).startswith("retry:")          # connected
    c = complaint(svc, owner, subject="Hóa đơn tháng 10 quá cao")
    move(svc, owner, c, "transfer", department="billing", assignee=b.email)
    frames = [f for f in stream if f.startswith("event:")]
    assert len(frames) == 1
    head, data = frames[0].strip().split("\n")
    assert head == "event: ticket_assigned"
    payload = json.loads(data.removeprefix("data: "))
    assert payload == {"id": c["id"], "subject": "Hóa đơn tháng 10 quá cao",
                       "type": "complaint", "status": "in_progress", "department": "billing",
                       "due_at": c["due_at"], "by": owner.user_id}


# -- history, reopen, watchers --------------------------------------------------------------
def test_activity_shows_who_moved_it_where_and_why(svc: RecordService,
                                                   cast: dict[str, Actor]) -> None:
    agent, bill1, lead = cast["agent"], cast["bill1"], cast["supervisor"]
    c = complaint(svc, agent)
    move(svc, agent, c, "start", comment="Đã gọi lại cho khách")
    move(svc, agent, c, "transfer", department="billing", assignee=bill1.email,
         comment="Sai chỉ số đồng hồ")
    move(svc, bill1, c, "resolve", fields={"resolution": "Điều chỉnh hóa đơn"},
         comment="Đã điều chỉnh")
    move(svc, lead, c, "close")
    log = svc.activity(agent, "ticket", c["id"])
    assert [e["action"] for e in log] == ["transition:close", "transition:resolve",
                                          "transition:transfer", "transition:start",
                                          "create"]
    assert [e["actor"] for e in log] == [lead.user_id, bill1.user_id, agent.user_id,
                                         agent.user_id, agent.user_id]
    assert [e["comment"] for e in log] == [None, "Đã điều chỉnh", "Sai chỉ số đồng hồ",
                                           "Đã gọi lại cho khách", None]
    ids = [e["id"] for e in log]
    assert ids == sorted(ids, reverse=True)
    transfer = log[2]["changes"]
    assert transfer["department"] == ["support", "billing"]
    assert transfer["assignee"] == [None, bill1.user_id]
    assert "status" not in transfer                 # in_progress to in_progress
    assert log[3]["changes"]["status"] == ["new", "in_progress"]
    assert log[1]["changes"]["status"] == ["in_progress", "resolved"]
    assert log[1]["changes"]["resolution"] == [None, "Điều chỉnh hóa đơn"]
    assert log[0]["changes"]["status"] == ["resolved", "closed"]


def test_reopen_clears_resolved_at_and_close_keeps_it(svc: RecordService,
                                                      cast: dict[str, Actor]) -> None:
    agent = cast["agent"]
    c = move(svc, agent, complaint(svc, agent, resolution="ok"), "start")
    assert "resolved_at" not in c
    t0 = now()
    c = move(svc, agent, c, "resolve")
    first = c["resolved_at"]
    assert format_datetime(t0) <= first <= format_datetime(now())
    c = move(svc, agent, c, "reopen", comment="Khách báo vẫn còn đục")
    assert c["status"] == "in_progress" and "resolved_at" not in c
    assert svc.activity(agent, "ticket", c["id"])[0]["changes"]["resolved_at"] == [first, None]
    c = move(svc, agent, c, "resolve")
    assert c["resolved_at"] >= first
    # closing days later does not move the time it was resolved
    resolved = format_datetime(now() - timedelta(days=2))
    svc.update(system_actor(svc.tenant.id), "ticket", c["id"], {"resolved_at": resolved})
    c = move(svc, cast["supervisor"], c, "close")
    assert c["status"] == "closed" and c["resolved_at"] == resolved


def test_watchers_see_and_follow_tickets(svc: RecordService, cast: dict[str, Actor]) -> None:
    agent, agent2, lead = cast["agent"], cast["agent2"], cast["supervisor"]
    c = complaint(svc, agent)
    with pytest.raises(NotFound):
        svc.get(agent2, "ticket", c["id"])
    assert view(svc, agent2, "following") == set()
    c = svc.update(lead, "ticket", c["id"], {"watchers": [agent2.email, "supervisor@water.test"]})
    assert c["watchers"] == [agent2.user_id, lead.user_id]
    assert svc.get(agent2, "ticket", c["id"])["id"] == c["id"]      # a watcher sees it
    assert view(svc, agent2, "following") == {c["id"]}
    assert view(svc, lead, "following") == {c["id"]}
    assert view(svc, agent, "following") == set()
    svc.update(lead, "ticket", c["id"], {"watchers": [lead.user_id]})
    assert view(svc, agent2, "following") == set()
    with pytest.raises(NotFound):
        svc.get(agent2, "ticket", c["id"])


# -- views ----------------------------------------------------------------------------------
@pytest.fixture
def desk(svc: RecordService, cast: dict[str, Actor]) -> dict[str, int]:
    """A small desk of tickets in the support and billing departments."""
    owner, s1, s2, b1 = cast["owner"], cast["sup1"], cast["sup2"], cast["bill1"]
    past = format_datetime(now() - timedelta(days=2))
    t: dict[str, int] = {}
    # s1's own, assigned to s1, in progress, high
    a = complaint(svc, s1, "A", priority="high")
    t["A"] = move(svc, s1, a, "transfer", assignee=s1.user_id)["id"]
    # s1's own, new, unassigned in support
    t["B"] = complaint(svc, s1, "B")["id"]
    # nobody's (made by the owner), new, unassigned in support, high
    t["C"] = complaint(svc, owner, "C", priority="high")["id"]
    # nobody's, assigned to s2 on creation, due two days ago: overdue
    t["D"] = complaint(svc, owner, "D", priority="high", assignee=s2.user_id, due_at=past)["id"]
    # nobody's, due in the past but closed: not overdue
    e = complaint(svc, owner, "E", due_at=past, resolution="ok")
    move(svc, owner, e, "start"), move(svc, owner, e, "resolve")
    t["E"] = move(svc, owner, e, "close")["id"]
    # b1's own in billing, s1 watches it
    f = svc.create(b1, "ticket", {"type": "inquiry", "subject": "F", "department": "billing",
                                  "watchers": [s1.user_id]})
    t["F"] = f["id"]
    return t


def test_each_view_on_the_right_tickets(svc: RecordService, cast: dict[str, Actor],
                                        desk: dict[str, int]) -> None:
    s1, s2, b1, owner = cast["sup1"], cast["sup2"], cast["bill1"], cast["owner"]

    def names(ids: set[int]) -> set[str]:
        return {k for k, v in desk.items() if v in ids}

    assert names(view(svc, s1, "all")) == {"A", "B", "C", "D", "E", "F"}
    assert names(view(svc, s1, "mine")) == {"A"}
    assert names(view(svc, s1, "to_handle")) == {"A", "B", "C"}
    assert names(view(svc, s1, "overdue")) == {"D"}
    assert names(view(svc, s1, "unprocessed")) == {"B", "C", "D", "F"}
    assert names(view(svc, s1, "created_by_me")) == {"A", "B"}
    assert names(view(svc, s1, "following")) == {"F"}
    # s2 sees what nobody owns, and what is assigned to it
    assert names(view(svc, s2, "all")) == {"C", "D", "E"}
    assert names(view(svc, s2, "mine")) == {"D"}
    assert names(view(svc, s2, "to_handle")) == {"C", "D"}
    assert names(view(svc, s2, "created_by_me")) == set()
    assert names(view(svc, b1, "to_handle")) == {"F"}
    assert names(view(svc, b1, "all")) == {"C", "D", "E", "F"}
    assert names(view(svc, owner, "all")) == set(desk)
    assert names(view(svc, owner, "created_by_me")) == {"C", "D", "E"}
    assert names(view(svc, owner, "to_handle")) == set()          # no department, nothing assigned
    assert names(view(svc, owner, "overdue")) == {"D"}
    # combined with filters
    assert names(view(svc, s1, "to_handle", priority="high")) == {"A", "C"}
    assert names(view(svc, s1, "overdue", priority="normal")) == set()
    assert names(view(svc, owner, "unprocessed", type="inquiry")) == {"F"}
    assert names(view(svc, owner, "unprocessed", department="support",
                      priority="high")) == {"C", "D"}
    assert names(view(svc, s1, "all", status="in_progress")) == {"A"}
    assert names(view(svc, owner, "mine", assignee=s2.user_id)) == set()
    # an owner sets a due date in the past through the service: A becomes overdue
    svc.update(owner, "ticket", desk["A"], {"due_at": format_datetime(now() - timedelta(
        minutes=5))})
    assert names(view(svc, s1, "overdue")) == {"A", "D"}
    assert names(view(svc, s1, "overdue", priority="high")) == {"A", "D"}
    assert names(view(svc, s2, "overdue")) == {"D"}               # A is not s2's to see
    # a due date ahead is not overdue
    svc.update(owner, "ticket", desk["D"], {"due_at": format_datetime(now() + timedelta(
        hours=1))})
    assert names(view(svc, owner, "overdue")) == {"A"}
    # start B: no longer unprocessed
    move(svc, s1, desk["B"], "start")
    assert names(view(svc, s1, "unprocessed")) == {"C", "D", "F"}
    with pytest.raises(ValidationFailed) as info:
        view(svc, s1, "urgent")
    assert list(info.value.errors) == ["view"]
    assert set(VIEWS) == {"all", "mine", "to_handle", "overdue", "unprocessed",
                          "created_by_me", "following"}


# -- SLA on the business calendar -----------------------------------------------------------
def test_the_business_calendar_of_the_demo_tenant(water: Tenant) -> None:
    """Hand-computed deadlines on Asia/Ho_Chi_Minh office hours (08:00-12:00, 13:00-17:30
    Monday to Friday, 08:00-12:00 Saturday, the 2026 holidays)."""
    s = water.model.settings
    assert s.timezone == "Asia/Ho_Chi_Minh"
    business = s.schedules["business"]

    def sla(start: datetime, seconds: int) -> datetime:
        return add_sla(start, seconds, business, s.timezone).astimezone(ICT)

    # 4h: over the lunch break, over the evening into Saturday morning
    assert sla(ict(2026, 4, 23, 11), 4 * HOUR) == ict(2026, 4, 23, 16)
    assert sla(ict(2026, 4, 23, 11, 30), HOUR) == ict(2026, 4, 23, 13, 30)
    assert sla(ict(2026, 8, 28, 16), 4 * HOUR) == ict(2026, 8, 29, 10, 30)
    # over Tết (14 and 16-20 February 2026 are holidays)
    assert sla(ict(2026, 2, 13, 17), 4 * HOUR) == ict(2026, 2, 21, 11, 30)
    # asked on a Sunday night: counted from Monday's opening
    assert sla(ict(2026, 11, 22, 19, 24), 4 * HOUR) == ict(2026, 11, 23, 12)
    # 3d: three working days to the same time, National Day (1-2 September) skipped,
    # kept within the day's opening hours
    assert sla(ict(2026, 8, 31, 10), 3 * DAY) == ict(2026, 9, 5, 10)
    assert sla(ict(2026, 8, 31, 15), 3 * DAY) == ict(2026, 9, 5, 12)
    assert sla(ict(2026, 11, 22, 19, 24), 3 * DAY) == ict(2026, 11, 26, 8)
    # business time between two moments: the lunch hour and the night do not count
    assert business_seconds_between(ict(2026, 4, 23, 11), ict(2026, 4, 24, 9),
                                    business, s.timezone) == (1 + 4.5 + 1) * HOUR
    # round the clock (the leak crews): plain hours
    clock = s.schedules["round_the_clock"]
    assert add_sla(ict(2026, 2, 17, 3), DAY, clock, s.timezone) == ict(2026, 2, 18, 3)


def _within(value: str, lo: datetime, hi: datetime) -> None:
    assert format_datetime(lo) <= value <= format_datetime(hi), (value, lo, hi)


def test_due_dates_on_creation(svc: RecordService, cast: dict[str, Actor]) -> None:
    s = svc.model.settings
    business, clock = s.schedules["business"], s.schedules["round_the_clock"]
    agent = cast["agent"]
    for kind, respond, resolve, schedule in (("complaint", 4 * HOUR, 3 * DAY, business),
                                             ("inquiry", 2 * HOUR, DAY, business),
                                             ("suggestion", DAY, 7 * DAY, business),
                                             ("leak_report", HOUR, DAY, clock)):
        tt = svc.model.ticket_types[kind]
        assert tt.sla is not None and (tt.sla.respond, tt.sla.resolve) == (respond, resolve)
        values = {"type": kind, "subject": kind, "product": "water", "location": "1 Lê Lợi",
                  "district": "quan_1"}
        for f in ("product", "location", "district"):
            if f not in tt.field_map:
                values.pop(f)
        t0 = now()
        t = svc.create(agent, "ticket", values)
        t1 = now()
        _within(t["created_at"], t0 - timedelta(seconds=1), t1)
        _within(t["respond_by"], add_sla(t0, respond, schedule, s.timezone),
                add_sla(t1, respond, schedule, s.timezone))
        _within(t["due_at"], add_sla(t0, resolve, schedule, s.timezone),
                add_sla(t1, resolve, schedule, s.timezone))
        assert "responded_at" not in t
    # round the clock: exactly one hour and one day after creation
    lr = leak(svc, agent)
    created = moment(lr["created_at"])
    assert abs((moment(lr["respond_by"]) - created).total_seconds() - HOUR) <= 1
    assert abs((moment(lr["due_at"]) - created).total_seconds() - DAY) <= 1
    # an explicit due date is kept; respond_by still comes from the SLA
    mine = complaint(svc, agent, due_at="2027-01-15T10:00:00+07:00")
    assert mine["due_at"] == "2027-01-15T03:00:00Z" and mine["respond_by"]


def test_first_response_is_the_first_move_out_of_new(svc: RecordService,
                                                     cast: dict[str, Actor]) -> None:
    agent = cast["agent"]
    c = complaint(svc, agent)
    t0 = now()
    c = move(svc, agent, c, "transfer", department="billing", assignee=cast["bill1"].email)
    first = c["responded_at"]
    _within(first, t0, now())
    c = move(svc, cast["bill1"], c, "transfer", department="support", assignee="me")
    assert c["responded_at"] == first


def test_a_pause_sla_state_moves_the_deadline_by_the_time_paused(
        svc: RecordService, cast: dict[str, Actor]) -> None:
    owner, crew = cast["owner"], cast["crew1"]
    system = system_actor(svc.tenant.id)
    lr = leak(svc, owner)
    lr = move(svc, owner, lr, "dispatch", assignee=crew.email)
    responded, respond_by, due = lr["responded_at"], lr["respond_by"], lr["due_at"]
    lr = move(svc, crew, lr, "start_repair")
    assert errors(refused(ValidationFailed, svc, crew, lr, "pause")) == {
        "waiting_reason": ["required to Put on hold"]}
    t0 = now()
    lr = move(svc, crew, lr, "pause", fields={"waiting_reason": "road_permit"})
    _within(lr["sla_paused_at"], t0, now())
    assert lr["due_at"] == due
    # the permit took two hours: the platform's own clock says the pause began then
    paused = now() - timedelta(hours=2)
    svc.update(system, "ticket", lr["id"], {"sla_paused_at": format_datetime(paused)})
    paused = moment(format_datetime(paused))
    t0 = now()
    lr = move(svc, crew, lr, "resume")
    t1 = now()
    assert "sla_paused_at" not in lr
    _within(lr["due_at"], moment(due) + (t0 - paused), moment(due) + (t1 - paused))
    # respond_by was met before the pause: it does not move
    assert (lr["respond_by"], lr["responded_at"]) == (respond_by, responded)
    # redispatch from waiting also ends the pause
    lr = move(svc, crew, lr, "pause", fields={"waiting_reason": "materials"})
    lr = move(svc, owner, lr, "redispatch", department="field_ops")
    assert lr["status"] == "dispatched" and "sla_paused_at" not in lr


@pytest.fixture
def paused_tenant(store: TenantStore, tmp_path: Path) -> Iterator[tuple[Tenant, Actor]]:
    """The demo bundle whose complaint may wait (pause_sla) on the business calendar."""
    folder = tmp_path / "bundle"
    shutil.copytree(CONFIG, folder)
    path = folder / "ticket_types" / "complaint.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["workflow"]["states"]["waiting"] = {"label": "Waiting for the customer",
                                            "pause_sla": True}
    doc["workflow"]["transitions"]["wait"] = {"from": "in_progress", "to": "waiting"}
    doc["workflow"]["transitions"]["resume"] = {"from": "waiting", "to": "in_progress"}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    tenant = store.create("paused", None, BundleSource.from_dir(folder))
    store.add_member(tenant.id, 70, "owner@paused.test", "owner")
    yield tenant, Actor(tenant.id, 70, "owner", email="owner@paused.test")


def test_a_pause_on_the_business_calendar_counts_business_time_only(
        engine: Engine, paused_tenant: tuple[Tenant, Actor]) -> None:
    tenant, owner = paused_tenant
    svc = records_service(engine, tenant)
    s = tenant.model.settings
    business = s.schedules["business"]
    c = complaint(svc, owner)
    c = move(svc, owner, c, "start")
    c = move(svc, owner, c, "wait", comment="Chờ khách gửi ảnh hóa đơn")
    assert c["sla_paused_at"]
    # waiting for eight days (nights, weekends, holidays, lunch breaks: not counted)
    paused = moment(format_datetime(now() - timedelta(days=8)))
    svc.update(system_actor(tenant.id), "ticket", c["id"],
               {"sla_paused_at": format_datetime(paused)})
    due = moment(c["due_at"])
    t0 = now()
    c = move(svc, owner, c, "resume")
    t1 = now()
    lo = add_business_time(due, business_seconds_between(paused, t0, business, s.timezone),
                           business, s.timezone)
    hi = add_business_time(due, business_seconds_between(paused, t1, business, s.timezone),
                           business, s.timezone)
    _within(c["due_at"], lo - timedelta(seconds=1), hi)
    spent = business_seconds_between(paused, t0, business, s.timezone)
    assert 0 < spent < 8 * DAY * 0.5                # far less than the wall-clock time
    assert moment(c["due_at"]) > due


# -- quick ticket from a call ---------------------------------------------------------------
def test_a_ticket_from_a_call_links_the_caller(svc: RecordService, cast: dict[str, Actor]
                                               ) -> None:
    agent, agent2 = cast["agent"], cast["agent2"]
    system = system_actor(svc.tenant.id)
    customer = svc.create(system, "customer", {"name": "Trần Thị Mai", "phone": "0901234567"})
    call = svc.create(system, "call", {"call_id": "sim-0001", "direction": "inbound",
                                       "from": "0901234567", "to": "19001234",
                                       "agent": agent.user_id, "customer": customer["id"],
                                       "started_at": "now"})
    assert call["owner"] is None
    t = complaint(svc, agent, "Cúp nước không báo trước", call=call["id"])
    assert t["customer"] == customer["id"] and t["call"] == call["id"]
    assert svc.get(agent, "call", call["id"])["ticket"] == t["id"]
    assert svc.activity(agent, "call", call["id"])[0]["action"] == "ticket"

    def related(entity: str, rid: int, other: str, actor: Actor = agent) -> list[int]:
        return [r["id"] for r in svc.related(actor, entity, rid, other).items]

    assert related("call", call["id"], "ticket") == [t["id"]]
    assert related("customer", customer["id"], "ticket") == [t["id"]]
    assert related("ticket", t["id"], "call") == [call["id"]]
    assert related("customer", customer["id"], "ticket", agent2) == []   # not agent2's
    # a customer named explicitly wins; a call without a caller links only the call
    other = svc.create(system, "customer", {"name": "Lê Văn Tám"})
    t2 = complaint(svc, agent, call=call["id"], customer=other["id"])
    assert t2["customer"] == other["id"]
    anonymous = svc.create(system, "call", {"call_id": "sim-0002", "from": "0287654321",
                                            "to": "19001234"})
    t3 = complaint(svc, agent, call=anonymous["id"])
    assert "customer" not in t3
    assert svc.get(agent, "call", anonymous["id"])["ticket"] == t3["id"]
    with pytest.raises(ValidationFailed) as info:
        complaint(svc, agent, call=customer["id"])
    assert info.value.errors == {"call": [f"no call {customer['id']}"]}


def test_listeners_hear_the_call_get_its_ticket(svc: RecordService, cast: dict[str, Actor],
                                                heard: list[Change]) -> None:
    system = system_actor(svc.tenant.id)
    call = svc.create(system, "call", {"call_id": "sim-0003", "from": "0901234567",
                                       "to": "19001234"})
    heard.clear()
    t = complaint(svc, cast["agent"], call=call["id"])
    assert sorted((h.entity, h.action) for h in heard) == [("call", "ticket"),
                                                           ("ticket", "create")]
    assert next(h for h in heard if h.entity == "call").record["ticket"] == t["id"]


# -- the knowledge base's workflow ----------------------------------------------------------
def test_kb_articles_follow_their_own_workflow(svc: RecordService, cast: dict[str, Actor]
                                               ) -> None:
    agent, lead, owner = cast["agent"], cast["supervisor"], cast["owner"]
    kb = svc.create(agent, "kb_article", {"title": "Cách đọc chỉ số đồng hồ nước",
                                          "body": "Đọc các số màu đen…"})
    assert kb["status"] == "draft"
    assert [t.name for t in available(svc, agent, "kb_article", kb)] == ["submit", "archive"]
    e = refused(Forbidden, svc, agent, kb, "publish", entity="kb_article")
    assert "supervisor or admin or owner" in e.message
    kb = move(svc, agent, kb, "submit", entity="kb_article")
    assert kb["status"] == "review" and "resolved_at" not in kb
    refused(Conflict, svc, agent, kb, "submit", entity="kb_article")
    kb = move(svc, lead, kb, "publish", entity="kb_article", comment="Duyệt")
    assert kb["status"] == "published"
    assert svc.activity(lead, "kb_article", kb["id"])[0]["comment"] == "Duyệt"
    kb = move(svc, owner, kb, "archive", entity="kb_article")
    assert kb["status"] == "archived"
    assert available(svc, owner, "kb_article", kb) == []
    refused(Conflict, svc, owner, kb, "publish", entity="kb_article")
    # transfer fields are for transfers only
    kb2 = svc.create(owner, "kb_article", {"title": "Giá nước 2026"})
    errs = errors(refused(ValidationFailed, svc, owner, kb2, "publish", entity="kb_article",
                          assignee="agent@water.test"))
    assert "not a transfer" in errs["_"][0]
    assert move(svc, owner, kb2, "publish", entity="kb_article")["status"] == "published"


def test_listeners_hear_a_transition_once_committed(
        svc: RecordService, cast: dict[str, Actor], heard: list[Change]) -> None:
    owner = cast["owner"]
    c = complaint(svc, owner)
    heard.clear()
    moved = move(svc, owner, c, "transfer", department="billing")
    assert len(heard) == 1
    change = heard[0]
    assert (change.entity, change.id, change.action) == ("ticket", c["id"],
                                                         "transition:transfer")
    assert change.record == moved and change.before is not None
    assert change.before["status"] == "new" and "assignee" not in change.before

