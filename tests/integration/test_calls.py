"""Calls over HTTP on both databases: the sim provider's events, the call log, blacklist,
screen pop over SSE, click-to-call, agent status, queues and supervisor figures."""
from __future__ import annotations

import json
import queue
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

OPEN = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 10:00 in Ho Chi Minh City


class Clock:
    def __init__(self) -> None:
        self.at = OPEN

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(app: Flask) -> Clock:
    c = Clock()
    app.config["CALLBOARD_CLOCK"] = c
    return c


@pytest.fixture
def sim(as_: Callable[..., Any], clock: Clock) -> Callable[..., Any]:
    """sim(**event) posts one neutral event as the water agent; returns the response."""
    def post(who: str = "agent", tenant: str = "water", **event: Any) -> Any:
        return as_(tenant, who).post("/telephony/sim/events", json=event)

    return post


def ev(kind: str, call_id: str, **fields: Any) -> dict[str, Any]:
    return {"event": kind, "call_id": call_id, **fields}


def incoming(call_id: str, number: str) -> dict[str, Any]:
    return {"event": "call.incoming", "call_id": call_id, "from": number, "to": "19001234"}


class Events:
    """The SSE frames one user receives from the app's broker (subscribed like a stream)."""

    def __init__(self, app: Flask, user_id: int):
        broker = app.extensions["callboard_events"]
        self.q: queue.Queue[str] = queue.Queue()
        with broker._lock:
            broker._streams[user_id].add(self.q)

    def drain(self) -> list[tuple[str, Any]]:
        out = []
        while not self.q.empty():
            head, data = self.q.get_nowait().strip().split("\n", 1)
            out.append((head.split(": ", 1)[1], json.loads(data.split(": ", 1)[1])))
        return out


def call_log(as_: Callable[..., Any], call_id: str) -> dict[str, Any]:
    items = as_("water", "owner").get(f"/records/call?call_id={call_id}").get_json()["items"]
    assert len(items) == 1, items
    return items[0]


def test_new_caller_ivr_queue_pop_answer_end(app: Flask, as_: Any, users: Any, sim: Any,
                                             clock: Clock) -> None:
    agent = users["water"]["agent"]
    r = sim(**incoming("c1", "090 765 4321"), event_id="e1")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["actions"][-1]["type"] == "menu"
    # the first-time caller is a customer now, with source `call`
    found = as_("water", "owner").get("/records/customer?phone=0907654321").get_json()
    assert found["total"] == 1 and found["items"][0]["source"] == "call"
    assert sim(**incoming("c1", "0907654321"), event_id="e1").get_json()["duplicate"] is True
    r = sim(**ev("call.digits", "c1", digits="2"))
    assert r.get_json()["actions"][-1]["queue"] == "support"
    waiting = as_("water", "agent").get("/queues/support").get_json()
    assert [w["call_id"] for w in waiting["waiting"]] == ["c1"]
    events = Events(app, agent.id)
    clock.advance(12)
    r = as_("water", "agent").post("/agents/me/status", json={"status": "ready"})
    assert r.status_code == 200 and r.get_json()["status"] == "busy"  # offered at once
    (kind, pop), = events.drain()
    assert kind == "screen_pop" and pop["known"] is True and pop["number"] == "+84907654321"
    assert pop["call"]["call_id"] == "c1" and pop["record"]["entity"] == "customer"
    assert {f["name"] for f in pop["fields"]} >= {"name", "phone", "account_no", "priority"}
    clock.advance(3)
    assert sim(**ev("call.answered", "c1", agent="104")).status_code == 200
    clock.advance(60)
    sim(**ev("call.ended", "c1", duration=58, cause="normal",
             recording_url="https://rec.example/c1.mp3"))
    log = call_log(as_, "c1")
    assert (log["result"], log["agent"], log["queue"], log["duration"], log["wait"],
            log["recording_url"], log["cause"]) == (
        "answered", agent.id, "support", 58, 15, "https://rec.example/c1.mp3", "normal")
    assert log["customer"] == found["items"][0]["id"]
    assert [k for k, _ in events.drain()] == ["call_ended"]
    me = as_("water", "agent").get("/agents/me/status").get_json()
    assert me["status"] == "wrapup"
    # the call shows in the customer's related calls
    rel = as_("water", "agent").get(
        f"/records/customer/{log['customer']}/related/call").get_json()
    assert [c["call_id"] for c in rel["items"]] == ["c1"]


def test_vip_first_blacklist_and_repeated_events(as_: Any, users: Any, sim: Any,
                                                 clock: Clock) -> None:
    owner = as_("water", "owner")
    for phone, prio in (("0911000001", 2), ("0911000002", 5), ("0911000003", 5)):
        assert owner.post("/records/customer", json={"name": f"K {phone}", "phone": phone,
                                                     "priority": prio}).status_code == 201
    for n, phone in enumerate(("0911000001", "0911000002", "0911000003")):
        r = sim(**incoming(f"v{n}", phone))
        assert r.get_json()["actions"][-1]["queue"] == "vip"
        clock.advance(1)
    waiting = as_("water", "agent").get("/queues/vip").get_json()["waiting"]
    assert [(w["call_id"], w["priority"]) for w in waiting] == [("v1", 5), ("v2", 5),
                                                                 ("v0", 2)]
    overview = {q["queue"]: q for q in as_("water", "agent").get("/queues").get_json()["items"]}
    assert overview["vip"]["waiting"] == 3 and overview["vip"]["longest_wait"] == 3.0
    assert overview["support"]["waiting"] == 0
    # another tenant's queue of the same name holds none of them
    assert as_("coffee", "agent").get("/queues/vip").get_json()["waiting"] == []
    assert as_("coffee", "supervisor").get("/queues/vip/stats").get_json()["entered"] == 0
    owner.post("/records/blocked_number", json={"number": "0988777666", "mode": "announce",
                                                "reason": "spam"})
    owner.post("/records/blocked_number", json={"number": "0988777555",
                                                "direction": "outbound"})
    r = sim(**incoming("b1", "0988777666"))
    actions = r.get_json()["actions"]
    assert [a["type"] for a in actions] == ["play", "reject"]
    log = call_log(as_, "b1")
    assert log["result"] == "rejected" and "spam" in log["cause"]
    assert owner.get("/records/customer?phone=0988777666").get_json()["total"] == 0
    # outbound-only rule: inbound calls from that number go ahead
    assert sim(**incoming("b2", "0988777555")).get_json()["actions"][-1]["type"] == "menu"
    # a blocked number pops as blocked
    pop = as_("water", "agent").get("/screen-pop?number=0988777666").get_json()
    assert pop["blocked"] is True and pop["known"] is False


def test_out_of_order_events_never_corrupt_the_log(as_: Any, users: Any, sim: Any,
                                                   clock: Clock, app: Flask) -> None:
    agent, agent2 = users["water"]["agent"], users["water"]["agent2"]
    sim(**incoming("o1", "0922000001"))
    sim(**ev("call.digits", "o1", digits="2"))
    clock.advance(5)
    # ended arrives before answered
    assert sim(**ev("call.ended", "o1", duration=40, event_id="o1-end")).status_code == 200
    assert call_log(as_, "o1")["result"] == "abandoned"
    r = sim(**ev("call.answered", "o1", agent="104"))
    assert r.get_json().get("late") is True
    log = call_log(as_, "o1")
    assert (log["result"], log["agent"], log["duration"]) == ("answered", agent.id, 40)
    assert log["answered_at"] <= log["ended_at"]
    # ringing after the end pops nothing; a repeated end changes nothing
    events = Events(app, agent2.id)
    assert sim(**ev("call.ringing", "o1", agent="105")).get_json()["ignored"]
    assert events.drain() == []
    assert sim(**ev("call.ended", "o1", duration=1, event_id="o1-end")).get_json()[
        "duplicate"] is True
    sim(**ev("call.ended", "o1", duration=1, recording_url="https://rec.example/o1.mp3"))
    log = call_log(as_, "o1")
    assert log["duration"] == 40 and log["recording_url"] == "https://rec.example/o1.mp3"
    # answered twice: the first answer stands
    sim(**incoming("o2", "0922000002"))
    sim(**ev("call.digits", "o2", digits="2"))
    sim(**ev("call.ringing", "o2", agent="105"))
    assert [k for k, _ in events.drain()] == ["screen_pop"]
    sim(**ev("call.answered", "o2", agent="105"))
    clock.advance(9)
    assert sim(**ev("call.answered", "o2", agent="104")).get_json()["ignored"]
    assert call_log(as_, "o2")["agent"] == agent2.id
    # bad input: 4xx with errors, never a 500
    assert sim(**ev("call.answered", "nope")).status_code == 404
    for bad in ({"event": "call.bogus", "call_id": "x"}, {"event": "call.incoming"},
                ev("call.ended", "o2", duration=-3), ev("call.ringing", "o2", agent="999")):
        r = sim(**bad)
        assert 400 <= r.status_code < 500 and "errors" in r.get_json(), (bad, r.get_json())


def test_screen_pop_follows_visibility(as_: Any, users: Any, sim: Any) -> None:
    mine = as_("water", "agent").post("/records/customer", json={
        "name": "Trần Văn Riêng", "phone": "0933000001", "phone2": "0933000002"}).get_json()
    assert as_("water", "agent").post("/records/note", json={
        "body": "Gọi lại sau 5 giờ",
        "record": {"entity": "customer", "id": mine["id"]}}).status_code == 201
    pop = as_("water", "agent").get("/screen-pop?number=+84933000002").get_json()
    assert pop["known"] and pop["record"]["id"] == mine["id"]  # the second phone field
    assert [n["body"] for n in pop["related"]["note"]] == ["Gọi lại sau 5 giờ"]
    # a contact's number pops its customer
    as_("water", "agent").post("/records/contact", json={
        "name": "Con trai", "phone": "0933000003", "customer": mine["id"]})
    assert as_("water", "agent").get("/screen-pop?number=0933000003").get_json()[
        "record"]["id"] == mine["id"]
    # another agent, another team's supervisor, another tenant: nothing known
    for tenant, who in (("water", "agent_b"), ("coffee", "owner"), ("coffee", "agent")):
        pop = as_(tenant, who).get("/screen-pop?number=0933000001").get_json()
        assert pop["known"] is False and pop["record"] is None and pop["fields"] == []
    assert as_("water", "supervisor").get("/screen-pop?number=0933000001").get_json()["known"]
    assert as_("water", "agent").get("/screen-pop").status_code == 422
    # a customer nobody owns pops for everyone, but each sees only its own related notes
    shared = as_("water", "owner").post("/records/customer", json={
        "name": "Khách chung", "phone": "0933000009"}).get_json()
    for who in ("agent", "agent_b"):
        as_("water", who).post("/records/note", json={
            "body": f"note of {who}", "record": {"entity": "customer", "id": shared["id"]}})
    for who in ("agent", "agent_b"):
        pop = as_("water", who).get("/screen-pop?number=0933000009").get_json()
        assert [n["body"] for n in pop["related"]["note"]] == [f"note of {who}"]
    both = as_("water", "owner").get("/screen-pop?number=0933000009").get_json()
    assert len(both["related"]["note"]) == 2
    # another tenant's call id does not exist for it
    sim(**incoming("t1", "0933000001"))
    r = sim(tenant="coffee", **ev("call.ended", "t1"))
    assert r.status_code == 404


def test_click_to_call_and_outbound_blacklist(as_: Any, users: Any, sim: Any) -> None:
    agent = as_("water", "agent")
    r = agent.post("/calls/click-to-call", json={"number": "0944000001"})
    assert r.status_code == 201, r.get_json()
    call_id = r.get_json()["call_id"]
    log = call_log(as_, call_id)
    assert (log["direction"], log["to"], log["agent"]) == (
        "outbound", "+84944000001", users["water"]["agent"].id)
    assert agent.get("/agents/me/status").get_json()["status"] == "busy"
    sim(**ev("call.answered", call_id))
    sim(**ev("call.ended", call_id, duration=12))
    assert call_log(as_, call_id)["result"] == "answered"
    assert agent.get("/agents/me/status").get_json()["status"] == "ready"
    as_("water", "admin").post("/records/blocked_number", json={
        "number": "0944000009", "direction": "both", "reason": "harassment"})
    r = agent.post("/calls/click-to-call", json={"number": "094 400 0009"})
    assert r.status_code == 403 and "errors" in r.get_json()
    blocked = as_("water", "owner").get(
        "/records/call?direction=outbound&result=rejected").get_json()["items"]
    assert [c["to"] for c in blocked] == ["+84944000009"]
    assert agent.post("/calls/click-to-call", json={}).status_code == 422
    assert agent.post("/calls/click-to-call", json={"number": "abc"}).status_code == 422
    # any member with an extension may call out
    assert as_("water", "owner").post("/calls/click-to-call",
                                      json={"number": "0944000001"}).status_code == 201


def test_status_rules_and_who_may_post_events(as_: Any, users: Any, sim: Any,
                                              app: Flask) -> None:
    agent = as_("water", "agent")
    assert agent.post("/agents/me/status", json={"status": "busy"}).status_code == 422
    assert agent.post("/agents/me/status", json={}).status_code == 422
    assert agent.post("/agents/me/status", json={"status": "paused"}).get_json()[
        "status"] == "paused"
    assert agent.get("/queues/nope").status_code == 404
    # several events in one request: one reply each, a bad one does not stop the others
    r = agent.post("/telephony/sim/events", json={"events": [
        incoming("m1", "0955000009"), ev("call.answered", "ghost"),
        ev("call.digits", "m1", digits="2")]})
    replies = r.get_json()["replies"]
    assert r.status_code == 200 and [("errors" in x) for x in replies] == [False, True, False]
    assert replies[2]["actions"][-1]["queue"] == "support"
    # a tenant whose provider is not sim: only managers may inject simulated events
    files = app.extensions["callboard"].store
    tenant = files.get("water")
    text = files.files(tenant.id)["tenant.yaml"].replace("provider: sim",
                                                        "provider: webhook\n  secret: s3cret-key")
    as_("water", "owner").put("/admin/config/tenant/tenant", data=text.encode(),
                              headers={"Content-Type": "application/yaml"})
    assert sim(**incoming("p1", "0955000001")).status_code == 403
    assert sim(who="supervisor", **incoming("p1", "0955000001")).status_code == 200
    assert as_("water", "agent").post("/telephony/nope/events", json={}).status_code == 404
    r = app.test_client().post("/api/v1/telephony/webhook/events?tenant=water", data=b"{}")
    assert r.status_code == 401 and "errors" in r.get_json()


def test_abandon_timeout_and_supervisor_figures(as_: Any, users: Any, sim: Any,
                                                clock: Clock, app: Flask) -> None:
    from callboard.web.api.telephony import tick_all

    start = clock.at
    agent = as_("water", "agent")
    agent.post("/agents/me/status", json={"status": "ready"})
    for n in range(4):
        sim(**incoming(f"s{n}", f"096600000{n}"))
        sim(**ev("call.digits", f"s{n}", digits="2"))
        clock.advance(10)
    # s0 went to the agent at once (answered 5 s later, 100 s talk);
    # s1 hangs up waiting (abandoned); s2, s3 wait past max_wait (3 min): timeout
    clock.advance(-35)
    sim(**ev("call.answered", "s0", agent="104"))
    clock.advance(35)
    sim(**ev("call.ended", "s1"))
    clock.advance(200)
    sim(**ev("call.ended", "s0", duration=100))
    tick_all(app)
    assert call_log(as_, "s1")["result"] == "abandoned"
    assert call_log(as_, "s2")["result"] == "timeout"
    assert agent.get("/queues/support/stats").status_code == 403
    sup = as_("water", "supervisor")
    r = sup.get("/queues/support/stats", query_string={
        "from": start.isoformat(), "to": clock.at.isoformat()})
    stats = r.get_json()
    assert (stats["entered"], stats["answered"], stats["abandoned"], stats["timed_out"]) == (
        4, 1, 1, 2)
    assert stats["service_level"] == 0.25 and stats["abandon_rate"] == 0.25
    assert stats["asa"] == 5.0 and stats["aht"] == 115.0  # 100 s talk + 15 s wrap-up
    assert stats["waiting"] == 0
    sim(**incoming("s9", "0966000009"))
    sim(**ev("call.digits", "s9", digits="2"))
    clock.advance(7)
    stats = sup.get("/queues/support/stats").get_json()
    assert stats["waiting"] == 1  # the agent is in wrap-up
    later = sup.get("/queues/support/stats", query_string={"from": "2030-01-01"}).get_json()
    assert later["entered"] == 0 and later["service_level"] is None
    every = sup.get("/queues/stats").get_json()["items"]
    assert [q["queue"] for q in every] == ["support", "billing", "technical", "vip"]
    assert sup.get("/queues/support/stats?from=yesterday").status_code == 422


def test_a_simulated_call_may_say_when_it_happens(app: Flask, as_: Any, users: Any,
                                                  sim: Any, clock: Clock) -> None:
    """`at` on a simulated call.incoming sets the IVR's clock for that call only: an
    evening demo can walk the daytime menu, and the real clock still says closed."""
    clock.at = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)      # Monday 21:00 in the city
    closed = sim(**incoming("late", "0907000001")).get_json()
    assert closed["actions"][-1]["type"] == "voicemail", closed
    day = sim(**incoming("day", "0907000002"), at="2026-12-07T10:00").get_json()
    assert day["actions"][-1]["type"] == "menu", day
    # the menu answer is judged on the call's own clock, minutes later too
    clock.advance(120)
    step = sim(**ev("call.digits", "day", digits="2")).get_json()
    assert step["actions"][-1]["type"] == "queue", step
    # an aware `at` is taken as given; bad or misplaced ones are refused with the field
    sat_night = sim(**incoming("utc", "0907000003"), at="2026-12-05T15:00:00+00:00")
    assert sat_night.get_json()["actions"][-1]["type"] == "voicemail"
    bad = sim(**incoming("bad", "0907000004"), at="yesterday")
    assert bad.status_code in (400, 422) and "at" in json.dumps(bad.get_json()["errors"])
    misplaced = sim(**ev("call.digits", "day", digits="1", at="2026-12-07T10:00"))
    assert misplaced.status_code in (400, 422)
