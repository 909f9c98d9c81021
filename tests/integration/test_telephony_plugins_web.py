"""The providers inside the real app (SQLite and PostgreSQL): click-to-call through the
asterisk provider to a scripted AMI peer, its AMI events relayed back, and signed webhook
events from a cloud PBX; the blacklist refuses blocked numbers before any provider call."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from callboard_telephony import sign
from flask import Flask
from telephony_plugins_peer import SECRET, AmiPeer, ami

API = "/api/v1"


@pytest.fixture
def peer() -> Iterator[AmiPeer]:
    p = AmiPeer([])
    yield p
    p.close()


def use_provider(as_: Callable[..., Any], app: Flask, tenant: str, settings: str) -> None:
    """Switch the tenant's provider the way an admin does: PUT tenant.yaml."""
    store = app.extensions["callboard"].store
    text = store.files(store.get(tenant).id)["tenant.yaml"]
    text = text.replace("telephony:\n  provider: sim", "telephony:\n" + settings)
    r = as_(tenant, "owner").put("/admin/config/tenant/tenant", data=text.encode(),
                                 headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.get_data(as_text=True)


def calls(as_: Callable[..., Any], call_id: str) -> list[dict[str, Any]]:
    items = as_("water", "owner").get("/records/call?per_page=200").get_json()["items"]
    return [c for c in items if c["call_id"] == call_id]


def test_click_to_call_through_asterisk(as_: Any, users: Any, app: Flask,
                                        peer: AmiPeer) -> None:
    settings = "".join(f"  {k}: {v}\n" for k, v in peer.settings().items()) + \
        f"  secret: {SECRET}\n  channel: SIP/{{extension}}\n"
    use_provider(as_, app, "water", settings)
    agent = as_("water", "agent")
    ext = str(100 + 4)                                   # the conftest cast: water agent
    # a number blocked for outbound calls: refused, and the PBX never hears of it
    as_("water", "owner").post("/records/blocked_number", json={
        "number": "0988 000 111", "direction": "both", "mode": "announce", "reason": "fraud"})
    r = agent.post("/calls/click-to-call", json={"number": "0988000111"})
    assert r.status_code == 403 and "errors" in r.get_json()
    assert not [a for a in peer.actions if a.get("Action") == "Originate"]
    # an ordinary number: Originate from the agent's phone, the call id is the channel's
    r = agent.post("/calls/click-to-call", json={"number": "0901 234 567"})
    assert r.status_code == 201, r.get_data(as_text=True)
    call_id = r.get_json()["call_id"]
    originate = next(a for a in peer.actions if a.get("Action") == "Originate")
    assert originate["Channel"] == f"SIP/{ext}" and originate["ChannelId"] == call_id
    assert originate["Exten"].endswith("901234567")
    # Asterisk's events for that call, relayed over HTTP and signed
    body = (ami(Event="Newchannel", Channel=f"SIP/{ext}-0000001", Context="from-internal",
                Exten="0901234567", Uniqueid=call_id, Linkedid=call_id)
            + ami(Event="DialEnd", Channel=f"SIP/{ext}-0000001", Uniqueid=call_id,
                  Linkedid=call_id, DialStatus="ANSWER", DestChannel="SIP/trunk-0000002")
            + ami(Event="Hangup", Channel=f"SIP/{ext}-0000001", Uniqueid=call_id,
                  Linkedid=call_id, Cause=16, Cause_txt="Normal Clearing")).encode()
    client = app.test_client()
    url = f"{API}/telephony/asterisk/events?tenant=water"
    assert client.post(url, data=body, headers={**sign(SECRET, body)}).status_code == 200
    assert client.post(url, data=body, headers={**sign("wrong-secret", body)}
                       ).status_code == 401
    [call] = calls(as_, call_id)
    assert call["direction"] == "outbound" and call["result"] == "answered"
    assert call["agent"] == users["water"]["agent"].id and call["ended_at"]
    # coffee's provider is still sim: it takes no AMI events
    other = client.post(f"{API}/telephony/asterisk/events?tenant=coffee", data=body,
                        headers={**sign(SECRET, body)})
    assert other.status_code == 404


def test_signed_webhook_events_from_a_cloud_pbx(as_: Any, users: Any, app: Flask) -> None:
    use_provider(as_, app, "water", f"  provider: webhook\n  secret: {SECRET}\n")
    client = app.test_client()
    url = f"{API}/telephony/webhook/events?tenant=water"

    def post(payload: Any, secret: str = SECRET) -> Any:
        body = json.dumps(payload).encode()
        return client.post(url, data=body, headers={**sign(secret, body),
                                                     "Content-Type": "application/json"})

    created = {"id": "w1", "type": "call_status", "call": {
        "id": "wc-1", "status": "created", "from": {"number": "0912 345 678"},
        "to": {"number": "19001234"}}}
    r = post(created)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["actions"], r.get_json()
    assert post(created).get_json().get("duplicate")               # the same id: ignored
    assert post({**created, "id": "w2"}, secret="not-the-secret").status_code == 401
    assert post({"id": "w3", "call": {"id": "wc-1", "status": "exploded"}}).status_code == 400
    ended = post({"id": "w4", "call": {"id": "wc-1", "status": "ended", "duration": 12,
                                       "hangup_cause": "NORMAL_CLEARING"}})
    assert ended.status_code == 200
    [call] = calls(as_, "wc-1")
    assert call["from"] == "+84912345678" and call["ended_at"]
    # the agent's own API token does not replace the signature
    body = json.dumps(created).encode()
    r = as_("water", "agent").post("/telephony/webhook/events?tenant=water", data=body)
    assert r.status_code == 401
