"""The call queue on both databases: service order, longest-idle agent, departments,
wrap-up, ring-out, max_wait, and no double offer under concurrent threads."""
from __future__ import annotations

import http.server
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from callboard.engine.access import Actor, system_actor
from callboard.engine.bundle import BundleSource
from callboard.engine.errors import Conflict, ValidationFailed
from callboard.engine.tables import call_sessions, members
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.workflows import callqueue
from callboard.workflows.calls import CallCenter
from callboard.workflows.hooks import records_service

CONFIG = Path(__file__).resolve().parents[2] / "config"

OPEN = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 10:00 in Ho Chi Minh City: open


class Clock:
    def __init__(self, at: datetime = OPEN):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def told() -> list[tuple[int, str, dict[str, Any]]]:
    """What the pipeline told agents (user id, event, data), in order."""
    return []


@pytest.fixture
def center(engine: Any, water: Tenant, people: dict[str, Actor], clock: Clock,
           told: list[tuple[int, str, dict[str, Any]]]) -> CallCenter:
    return CallCenter(records_service(engine, water), clock=clock,
                      notify=lambda *note: told.append(note))


def vip(center: CallCenter, phone: str, priority: int) -> int:
    """A customer the IVR sends straight to the `vip` queue (priority >= 2)."""
    rec = center.svc.create(system_actor(center.tenant.id), "customer",
                            {"name": f"VIP {phone}", "phone": phone, "priority": priority})
    return rec["id"]


def incoming(center: CallCenter, call_id: str, phone: str) -> dict[str, Any]:
    return center.handle({"event": "call.incoming", "call_id": call_id, "from": phone,
                          "to": "19001234"})


def sessions(center: CallCenter) -> dict[str, Any]:
    with center.svc.engine.connect() as conn:
        return {r.call_id: r for r in conn.execute(select(call_sessions).where(
            call_sessions.c.tenant_id == center.tenant.id))}


def statuses(center: CallCenter) -> dict[int, str]:
    with center.svc.engine.connect() as conn:
        return {r.user_id: r.status for r in conn.execute(select(members).where(
            members.c.tenant_id == center.tenant.id))}


def test_priority_then_arrival_and_longest_idle(center: CallCenter, people: dict[str, Actor],
                                                clock: Clock) -> None:
    for n, prio in enumerate([2, 5, 3, 5, 2]):
        phone = f"09012345{n:02d}"
        vip(center, phone, prio)
        reply = incoming(center, f"c{n}", phone)
        assert reply["actions"][-1] == {"type": "queue", "queue": "vip", "priority": prio,
                                        "max_wait": 120, "node": "vip_queue"}
        clock.advance(1)
    with center.svc.engine.connect() as conn:
        order = [r.call_id for r in callqueue.waiting(conn, center.tenant.id, "vip")]
    assert order == ["c1", "c3", "c2", "c0", "c4"]  # 5, 5 (FIFO), 3, 2, 2 (FIFO)
    # agent2 has been idle longer than agent: it gets the best call.
    center.set_status(people["agent2"], "ready")
    clock.advance(5)
    center.set_status(people["agent"], "paused")
    clock.advance(5)
    done = center.set_status(people["agent"], "ready")
    state = sessions(center)
    assert state["c1"].offered_to == people["agent2"].user_id
    assert state["c3"].offered_to == people["agent"].user_id
    assert done["status"] == "busy"
    assert state["c2"].state == "queued"


def test_department_rule_and_status_rules(center: CallCenter, people: dict[str, Actor],
                                          engine: Any) -> None:
    with engine.begin() as conn:  # agent_b works for billing only
        conn.execute(update(members).where(members.c.user_id == people["agent_b"].user_id)
                     .values(department="billing"))
    vip(center, "0901111111", 3)
    center.set_status(people["agent_b"], "ready")
    incoming(center, "v1", "0901111111")  # the vip queue belongs to support
    assert sessions(center)["v1"].state == "queued"
    center.set_status(people["agent"], "ready")  # no department: serves every queue
    assert sessions(center)["v1"].offered_to == people["agent"].user_id
    with pytest.raises(Conflict):  # a ringing agent keeps its call
        center.set_status(people["agent"], "offline")
    with pytest.raises(ValidationFailed):
        center.set_status(people["agent"], "busy")


def test_wrapup_ringout_and_timeout(center: CallCenter, people: dict[str, Actor],
                                    clock: Clock, told: list[Any]) -> None:
    agent = people["agent"]
    for n in range(3):
        vip(center, f"090222222{n}", 4)
    center.set_status(agent, "ready")
    incoming(center, "w0", "0902222220")
    center.handle({"event": "call.answered", "call_id": "w0", "agent": "104"})
    clock.advance(30)
    center.handle({"event": "call.ended", "call_id": "w0", "duration": 30})
    assert statuses(center)[agent.user_id] == "wrapup"
    incoming(center, "w1", "0902222221")
    clock.advance(10)
    assert center.tick()["offers"] == []  # vip wrap-up is 15 s
    clock.advance(6)
    offers = center.tick()["offers"]
    assert [o["call_id"] for o in offers] == ["w1"]
    # Nobody answers: after RING_SECONDS the call goes back and the agent is paused.
    clock.advance(callqueue.RING_SECONDS + 1)
    out = center.tick()
    assert out["returned"] == ["w1"] and statuses(center)[agent.user_id] == "paused"
    assert [(uid, kind) for uid, kind, _ in told] == [
        (agent.user_id, "screen_pop"), (agent.user_id, "call_ended"),   # w0
        (agent.user_id, "screen_pop"), (agent.user_id, "call_ended")]   # w1 rang out
    assert told[-1][2]["result"] == "rang_out" and told[1][2]["result"] == "answered"
    assert sessions(center)["w1"].state == "queued"
    # The caller waits past the node's max_wait (2 min): timeout, on to voicemail.
    clock.advance(120)
    out = center.tick()
    assert out["timeouts"][0]["call_id"] == "w1"
    assert out["timeouts"][0]["actions"][-1]["type"] == "voicemail"
    call = center.svc.get(system_actor(center.tenant.id), "call",
                          sessions(center)["w1"].call_record_id)
    assert call["result"] == "timeout" and call["wait"] >= 120


@pytest.mark.parametrize("rounds", [2])
def test_no_double_offer_under_concurrency(center: CallCenter, people: dict[str, Actor],
                                           store: TenantStore, water: Tenant,
                                           engine: Any, rounds: int) -> None:
    """Threads put agents on ready, bring calls and tick at the same time; every call is
    offered to at most one agent and every agent holds at most one call."""
    extra = []
    for n in range(6):  # 12 agents in all
        uid = 50 + n
        store.add_member(water.id, uid, f"extra{n}@water.test", "agent", extension=str(500 + n))
        extra.append(Actor(water.id, uid, "agent"))
    agents = [*people.values(), *extra]
    calls = [f"x{n}" for n in range(20)]
    for n in range(20):
        vip(center, f"09033333{n:02d}", 2 + n % 4)
    errors: list[BaseException] = []

    def run(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as e:
            errors.append(e)

    for _ in range(rounds):
        threads = [threading.Thread(target=run, args=(center.set_status, a, "ready"))
                   for a in agents]
        threads += [threading.Thread(target=run, args=(incoming, center, c,
                                                       f"09033333{int(c[1:]):02d}"))
                    for c in calls if c not in sessions(center)]
        threads += [threading.Thread(target=run, args=(center.tick,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        state = sessions(center)
        offered = [s for s in state.values() if s.state == "offered"]
        holders = [s.offered_to for s in offered]
        assert len(holders) == len(set(holders)) == min(len(agents), len(state) -
                                                         sum(s.state == "ended"
                                                             for s in state.values()))
        busy = {uid for uid, st in statuses(center).items() if st == "busy"}
        assert set(holders) == busy
        # End every offered call at once (abandoned while ringing): agents come free.
        enders = [threading.Thread(target=run, args=(center.handle, {
            "event": "call.ended", "call_id": s.call_id})) for s in offered]
        for t in enders:
            t.start()
        for t in enders:
            t.join()
        assert not errors, errors
    state = sessions(center)
    assert [s.state for s in state.values()] == ["ended"] * len(calls)


def test_same_new_caller_twice_at_once_is_one_customer(center: CallCenter) -> None:
    """Calls from one unknown number arriving together make one customer between them."""
    threads = [threading.Thread(target=incoming, args=(center, f"n{i}", "0977 000 001"))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found = center.svc.list(system_actor(center.tenant.id), "customer").items
    callers = [c for c in found if c.get("phone") == "+84977000001"]
    assert len(callers) == 1 and callers[0]["source"] == "call"
    assert {s.customer_id for s in sessions(center).values()} == {callers[0]["id"]}


def test_fewest_calls_strategy(center: CallCenter, people: dict[str, Actor],
                               clock: Clock) -> None:
    """`technical` uses fewest_calls: the agent with fewer answered calls wins over the
    longer-idle one."""
    vip(center, "0904444440", 5)
    center.set_status(people["agent2"], "ready")
    incoming(center, "f0", "0904444440")
    center.handle({"event": "call.answered", "call_id": "f0"})
    clock.advance(20)
    center.handle({"event": "call.ended", "call_id": "f0", "duration": 20})
    clock.advance(16)
    center.tick()  # agent2 is ready again, idle since the end of its wrap-up
    clock.advance(30)
    center.set_status(people["agent"], "ready")
    clock.advance(5)
    reply = incoming(center, "f1", "0904444441")
    assert reply["actions"][-1]["type"] == "menu"
    reply = center.handle({"event": "call.digits", "call_id": "f1", "digits": "3"})
    assert reply["actions"][-1]["queue"] == "technical"
    assert reply["offers"][0]["user_id"] == people["agent"].user_id


class _SlowLookup(http.server.BaseHTTPRequestHandler):
    """A CRM lookup that takes its time."""

    def do_GET(self) -> None:
        time.sleep(2.5)
        body = json.dumps({"segment": "gold"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def test_a_slow_http_lookup_holds_up_no_other_call(store: TenantStore, engine: Any,
                                                    clock: Clock) -> None:
    """The IVR runs outside the call's transaction: while one caller waits for a slow
    `http_lookup`, another call goes through."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowLookup)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        files = dict(BundleSource.from_dir(CONFIG).files)
        files["ivr/lookup.yaml"] = (
            'numbers: ["19005555"]\nstart: lookup\nnodes:\n'
            f'  lookup: {{type: http_lookup, url: "http://127.0.0.1:{server.server_port}'
            '/crm?from={call.from}", timeout: 5s, next: queue_it, error: queue_it}\n'
            '  queue_it: {type: queue, queue: support}\n')
        tenant = store.create("lookup", None, BundleSource(files))
        center = CallCenter(records_service(engine, tenant), clock=clock)
        slow: dict[str, Any] = {}
        t = threading.Thread(target=lambda: slow.update(center.handle({
            "event": "call.incoming", "call_id": "L1", "from": "0905555001",
            "to": "19005555"})))
        t.start()
        time.sleep(0.5)  # L1 is in its lookup now
        t0 = time.perf_counter()
        reply = center.handle({"event": "call.incoming", "call_id": "H1",
                               "from": "0905555002", "to": "19001234"})
        quick = time.perf_counter() - t0
        t.join()
        assert reply["actions"][-1]["type"] == "menu"
        assert quick < 1.5, f"the second call waited {quick:.1f} s for the first's lookup"
        assert slow["actions"][-1] == {"type": "queue", "queue": "support", "priority": 1,
                                       "max_wait": None, "node": "queue_it"}
        state = sessions(center)
        assert state["L1"].state == "queued" and state["L1"].ivr_state["vars"]["lookup"] == {
            "segment": "gold"}
    finally:
        server.shutdown()
