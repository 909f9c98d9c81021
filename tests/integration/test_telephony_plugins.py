"""Telephony plugins: the plugin manager, and the sim, webhook and asterisk providers.

The webhook provider talks to a real HTTP server on 127.0.0.1; the asterisk provider to a
scripted AMI peer that speaks the Manager protocol over a loopback TCP socket.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pluggy
import pytest
from callboard_telephony import SIGNATURE, TIMESTAMP, sign, verify
from callboard_telephony.asterisk import (
    AmiClient,
    AmiError,
    format_action,
    listen,
    translate,
)
from click.testing import CliRunner
from telephony_plugins_peer import CALL, SCRIPT, SECRET, AmiPeer

from callboard.cli import main
from callboard.engine.access import system_actor
from callboard.engine.bundle import BundleSource
from callboard.engine.records import RecordService
from callboard.engine.tenancy import TenantStore
from callboard.plugins import (
    GROUP,
    ProviderError,
    check_event,
    get_plugin_manager,
    hookimpl,
    plugin_manager,
    provider,
    providers,
)
from callboard.web.events import CHANNEL
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]


# -- the plugin manager -----------------------------------------------------------------
def test_builtins_and_entry_points_register_once() -> None:
    pm = get_plugin_manager()
    found = providers(pm)
    assert {"sim", "webhook", "asterisk"} <= set(found)
    modules = [p for p in pm.get_plugins() if getattr(p, "__name__", "").startswith(
        "callboard_telephony.")]
    assert len(modules) == 3                       # the entry points are the built-ins
    assert found["sim"].login and not found["webhook"].login
    assert provider("asterisk", pm).name == "asterisk"
    with pytest.raises(ProviderError) as e:
        provider("nope", pm)
    assert e.value.status == 404 and "sim" in e.value.message


def test_check_pending_rejects_a_misspelt_hook() -> None:
    class Misspelt:
        @hookimpl
        def callboard_telephony_provider(self) -> list[Any]:  # missing "s"
            return []

    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager(extra=(Misspelt(),))


def test_a_third_party_package_registers_through_its_entry_point(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_pbx.py").write_text(
        "from callboard.plugins import hookimpl\n"
        "class Acme:\n"
        "    name = 'acme'\n"
        "    login = False\n"
        "    def parse(self, body, headers, secret):\n"
        "        return [{'event': 'call.incoming', 'call_id': body.decode()}]\n"
        "    def originate(self, settings, from_ext, number):\n"
        "        return {'call_id': 'acme-1'}\n"
        "@hookimpl\n"
        "def callboard_telephony_providers():\n"
        "    return [Acme()]\n", "utf-8")
    info = tmp_path / "acme_pbx-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-pbx\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nacme = acme_pbx\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    acme = provider("acme", get_plugin_manager())
    assert acme.parse(b"x-1", {}, None) == [{"event": "call.incoming", "call_id": "x-1"}]
    assert "acme" not in providers(get_plugin_manager(entry_points_too=False))
    plugin_manager.cache_clear()                    # the process's manager loads it too
    try:
        assert provider("acme").name == "acme"
    finally:
        plugin_manager.cache_clear()


def test_a_broken_package_is_skipped_not_fatal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    info = tmp_path / "broken_pbx-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-pbx\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nbroken = no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager()
    assert {"sim", "webhook", "asterisk"} <= set(providers(pm))
    assert "broken" in caplog.text and "no_such_module_here" in caplog.text


def test_a_later_plugin_overrides_a_provider_name() -> None:
    class LoudSim:
        name, login = "sim", True

        def parse(self, body: bytes, headers: Any, secret: Any) -> list[dict]:
            return []

        def originate(self, settings: Any, from_ext: str, number: str) -> dict:
            return {"call_id": "loud"}

    class Plugin:
        @hookimpl
        def callboard_telephony_providers(self) -> list[Any]:
            return [LoudSim()]

    pm = get_plugin_manager(extra=(Plugin(),))
    assert provider("sim", pm).originate({}, "101", "0901")["call_id"] == "loud"


# -- neutral events and the sim provider ------------------------------------------------
def test_sim_parses_neutral_events() -> None:
    sim = provider("sim")
    one = sim.parse(b'{"event": "call.incoming", "call_id": 7, "from": "0901234567", '
                    b'"to": "19001234", "event_id": "e1"}', {}, None)
    assert one == [{"event": "call.incoming", "call_id": "7", "from": "0901234567",
                    "to": "19001234", "event_id": "e1"}]
    many = sim.parse(json.dumps({"events": [
        {"event": "call.digits", "call_id": "7", "digits": "1"},
        {"type": "call.ended", "call_id": "7", "duration": "42", "cause": "normal"},
    ]}).encode(), {}, None)
    assert [e["event"] for e in many] == ["call.digits", "call.ended"]
    assert many[1]["duration"] == 42.0 and "type" not in many[1]
    started = sim.originate({}, "101", "0901234567")
    assert started["call_id"].startswith("sim-") and started["to"] == "0901234567"


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "not JSON"),
    (b"[]", "no events"),
    (b'{"event": "call.exploded", "call_id": "1"}', "not one of"),
    (b'{"event": "call.incoming"}', "call_id is required"),
    (b'{"event": "call.digits", "call_id": "1"}', "digits is required"),
    (b'{"event": "call.ringing", "call_id": "1"}', "agent is required"),
    (b'{"event": "call.ended", "call_id": "1", "duration": "long"}', "duration"),
    (b'{"event": "call.incoming", "call_id": {"x": 1}}', "call_id must be text"),
    (b'[{"event": "call.timeout", "call_id": "1"}, 5]', "events[1]"),
])
def test_sim_rejects_bad_events(body: bytes, message: str) -> None:
    with pytest.raises(ProviderError) as e:
        provider("sim").parse(body, {}, None)
    assert e.value.status == 400 and message in e.value.message


def test_check_event_keeps_extra_fields() -> None:
    event = check_event({"event": "call.answered", "call_id": "c", "agent": 101, "x": 1})
    assert event == {"event": "call.answered", "call_id": "c", "agent": "101", "x": 1}


# -- the webhook provider ---------------------------------------------------------------
def _signed(payload: Any, secret: str = SECRET, ts: int | None = None) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    return body, sign(secret, body, ts)


def test_webhook_maps_statuses_and_dtmf() -> None:
    hook = provider("webhook")
    body, headers = _signed({"events": [
        {"id": "w1", "type": "call_status", "call": {
            "id": "c-19", "status": "created", "from": {"number": "0901234567"},
            "to": {"number": "19001234"}}},
        {"id": "w2", "type": "dtmf", "dtmf": "2", "call": {"id": "c-19"}},
        {"id": "w3", "call": {"id": "c-19", "status": "no_input"}},
        {"id": "w4", "call": {"id": "c-19", "status": "ringing", "agent": {"extension": "101"}}},
        {"id": "w5", "call": {"id": "c-19", "status": "answered", "agent": "101"}},
        {"id": "w6", "call": {"id": "c-19", "status": "ended", "duration": 95,
                              "hangup_cause": "NORMAL_CLEARING",
                              "recording_url": "https://pbx.example/r/c-19.mp3"}},
    ]})
    events = hook.parse(body, {k.lower(): v for k, v in headers.items()}, SECRET)
    assert [(e["event"], e["event_id"]) for e in events] == [
        ("call.incoming", "w1"), ("call.digits", "w2"), ("call.timeout", "w3"),
        ("call.ringing", "w4"), ("call.answered", "w5"), ("call.ended", "w6")]
    assert events[0]["from"] == "0901234567" and events[0]["to"] == "19001234"
    assert events[1]["digits"] == "2" and events[3]["agent"] == "101"
    assert events[5] == {"event": "call.ended", "call_id": "c-19", "event_id": "w6",
                         "duration": 95.0, "cause": "NORMAL_CLEARING",
                         "recording_url": "https://pbx.example/r/c-19.mp3"}


def test_webhook_refuses_bad_signatures() -> None:
    hook = provider("webhook")
    body, headers = _signed({"call": {"id": "c", "status": "created"}})
    cases = [
        (body + b" ", headers),                                   # body changed
        (body, sign("another-secret", body)),                     # wrong secret
        (body, {}),                                               # unsigned
        (body, sign(SECRET, body, int(time.time()) - 3600)),      # an old replay
        (body, {**headers, TIMESTAMP: "soon"}),
    ]
    for b, h in cases:
        with pytest.raises(ProviderError) as e:
            hook.parse(b, h, SECRET)
        assert e.value.status == 401
    with pytest.raises(ProviderError) as e:
        hook.parse(body, headers, None)                           # tenant has no secret
    assert e.value.status == 401
    bad, h = _signed({"call": {"id": "c", "status": "exploded"}})
    with pytest.raises(ProviderError) as e:
        hook.parse(bad, h, SECRET)
    assert e.value.status == 400


class _Pbx(BaseHTTPRequestHandler):
    """A cloud PBX's originate endpoint: checks the signature, answers a call id."""

    calls: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            verify(SECRET, body, dict(self.headers))
        except ProviderError:
            self.send_error(401)
            return
        if self.path == "/broken":
            self.send_error(500)
            return
        _Pbx.calls.append(json.loads(body))
        answer = json.dumps({"call_id": f"pbx-{len(_Pbx.calls)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pbx() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Pbx)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_webhook_originate_posts_a_signed_request(pbx: str) -> None:
    hook = provider("webhook")
    settings = {"originate_url": pbx + "/calls", "secret": SECRET}
    started = hook.originate(settings, "101", "0901234567")
    assert started["call_id"] == f"pbx-{len(_Pbx.calls)}"
    assert _Pbx.calls[-1] == {"from": "101", "to": "0901234567"}
    for bad in ({"originate_url": pbx + "/broken", "secret": SECRET},
                {"originate_url": pbx + "/calls", "secret": "not-the-secret"},
                {"originate_url": pbx + "/calls"}, {"secret": SECRET},
                {"originate_url": "http://127.0.0.1:9/", "secret": SECRET}):
        with pytest.raises(ProviderError) as e:
            hook.originate(bad, "101", "0901234567")
        assert e.value.status == 502


# -- the asterisk provider against a scripted AMI peer ----------------------------------
# -- the asterisk provider against a scripted AMI peer ----------------------------------
@pytest.fixture
def peer() -> Iterator[AmiPeer]:
    p = AmiPeer(SCRIPT)
    yield p
    p.close()


def test_ami_events_become_neutral_events(peer: AmiPeer) -> None:
    got: list[dict] = []
    assert listen(peer.settings(), got.append) == 6
    assert [e["event"] for e in got] == ["call.incoming", "call.queued", "call.ringing",
                                         "call.answered", "call.ended", "call.ended"]
    assert all(e["call_id"] == CALL for e in got)
    incoming, queued, ringing, answered, hangup, cdr = got
    assert incoming["from"] == "0901234567" and incoming["to"] == "19001234"
    assert incoming["at"] == "2025-11-30T08:06:40.250000+00:00"
    assert queued["queue"] == "support" and queued["position"] == 1
    assert ringing["agent"] == "101" and answered["agent"] == "101"
    assert hangup["cause"] == "Normal Clearing"
    assert cdr["duration"] == 80.0 and cdr["cause"] == "answered"
    assert len({e["event_id"] for e in got}) == 6                # each event is its own
    login = peer.actions[0]
    assert login["Action"] == "Login" and login["Username"] == "callboard"


def test_ami_login_refused(peer: AmiPeer) -> None:
    with pytest.raises(AmiError, match="Authentication failed") as e:
        listen(peer.settings(ami_secret="wrong"), lambda ev: None)
    assert e.value.status == 502
    with pytest.raises(AmiError, match="cannot reach"):
        listen({**peer.settings(), "ami_port": 9}, lambda ev: None)
    with pytest.raises(AmiError, match="not set"):
        listen({"ami_host": "127.0.0.1"}, lambda ev: None)


def test_ami_originate_click_to_call() -> None:
    p = AmiPeer([])
    try:
        started = provider("asterisk").originate(
            p.settings(context="from-agents", caller_id="19001234"), "101", "0901234567")
        originate = next(a for a in p.actions if a["Action"] == "Originate")
        assert originate["Channel"] == "PJSIP/101"
        assert originate["Exten"] == "0901234567" and originate["Context"] == "from-agents"
        assert originate["ChannelId"] == started["call_id"]      # the call id is the channel's
        assert originate["Async"] == "true" and originate["CallerID"] == "19001234"
        deadline = time.monotonic() + 2
        while p.actions[-1]["Action"] != "Logoff" and time.monotonic() < deadline:
            time.sleep(0.01)                                     # the peer reads it later
        assert p.actions[-1]["Action"] == "Logoff"
        with pytest.raises(ProviderError):                       # no header injection
            provider("asterisk").originate(p.settings(), "101", "0901\r\nAction: Command")
    finally:
        p.close()
    failing = AmiPeer([], fail_originate=True)
    try:
        with pytest.raises(AmiError, match="Extension does not exist"):
            provider("asterisk").originate(failing.settings(), "101", "0901234567")
    finally:
        failing.close()


def test_ami_text_relayed_over_http_is_signed() -> None:
    body = "".join(SCRIPT).encode()
    events = provider("asterisk").parse(body, sign(SECRET, body), SECRET)
    assert [e["event"] for e in events][:2] == ["call.incoming", "call.queued"]
    with pytest.raises(ProviderError) as e:
        provider("asterisk").parse(body, {SIGNATURE: "sha256=00"}, SECRET)
    assert e.value.status == 401
    junk = b"hello"
    with pytest.raises(ProviderError, match="no AMI events"):
        provider("asterisk").parse(junk, sign(SECRET, junk), SECRET)


def test_ami_framing() -> None:
    assert format_action("Ping", {"ActionID": "1"}) == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    with pytest.raises(ValueError):
        format_action("Originate", {"Exten": "1\nAction: Command"})
    assert translate({"Event": "Newchannel", "Context": "from-pstn", "Uniqueid": "9",
                      "CallerIDNum": "<unknown>", "Exten": "1"})[0]["from"] == "anonymous"
    assert translate({"Event": "PeerStatus"}) == []
    # click-to-call: the agent's channel (id set by Originate) dials out and is answered
    out = "cb-0123456789abcdef0123"
    answered = translate({"Event": "DialEnd", "Channel": "PJSIP/101-0000000a",
                          "Uniqueid": out, "Linkedid": out, "DialStatus": "ANSWER",
                          "DestChannel": "PJSIP/trunk-0000000b"})
    assert answered == [{"event": "call.answered", "agent": "101", "call_id": out,
                         "event_id": f"ami:{out}:DialEnd:{out}"}]
    assert translate({"Event": "DialEnd", "Channel": "PJSIP/101-0000000a", "Uniqueid": out,
                      "Linkedid": out, "DialStatus": "BUSY"}) == []
    assert translate({"Event": "DialEnd", "Channel": "PJSIP/trunk-1", "Uniqueid": CALL,
                      "Linkedid": CALL, "DialStatus": "ANSWER"}) == []   # queue calls: AgentConnect
    ended = translate({"Event": "Hangup", "Uniqueid": out, "Linkedid": out, "Cause": "16"})
    assert ended[0]["event"] == "call.ended" and ended[0]["call_id"] == out


def test_ami_client_reads_events_until_the_peer_hangs_up(peer: AmiPeer) -> None:
    with AmiClient("127.0.0.1", peer.port, timeout=2) as client:
        assert client.connect().startswith("Asterisk Call Manager/")
        client.login("callboard", SECRET)
        names = [e["Event"] for e in client.events()]
    assert names[0] == "FullyBooted" and names[-1] == "Cdr" and len(names) == len(SCRIPT)


def test_ami_client_survives_a_quiet_line_mid_event() -> None:
    p = AmiPeer(SCRIPT, stall=0.5)
    try:
        got: list[dict] = []
        assert listen(p.settings(timeout=0.1), got.append) == 6
        assert got[0]["event"] == "call.incoming" and got[0]["to"] == "19001234"
    finally:
        p.close()


# -- AMI into the call pipeline: `callboard telephony listen` ---------------------------
def test_telephony_listen_feeds_the_call_pipeline(db_url: str, store: TenantStore,
                                                  tmp_path: Path, peer: AmiPeer) -> None:
    files = dict(BundleSource.from_dir(ROOT / "config").files)
    settings = "".join(f"\n  {k}: {v}" for k, v in peer.settings().items())
    files["tenant.yaml"] = files["tenant.yaml"].replace(
        "telephony:\n  provider: sim", "telephony:" + settings + "\n  # was: sim")
    water = store.create("water", None, BundleSource(files))
    assert water.model.settings.telephony["provider"] == "asterisk"
    store.add_member(water.id, 41, "agent101@water.test", "agent", team="a", extension="101")
    env = {"CALLBOARD_DATABASE_URL": db_url, "CALLBOARD_DATA_DIR": str(tmp_path / "d"),
           "CALLBOARD_SECRET_KEY": "test-secret", "CALLBOARD_REDIS_URL": ""}
    result = CliRunner().invoke(main, ["telephony", "listen", "water"], env=env)
    assert result.exit_code == 0, result.output
    assert "CALLBOARD_REDIS_URL is not set" in result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith(f"call.incoming {CALL}: play")
    assert out[1] == f"call.queued {CALL}: skipped"
    assert not [line for line in out if "refused" in line], result.output
    assert out[-1] == "the PBX closed the stream after 6 events"
    svc = RecordService(store.engine, water)
    calls = [c for c in svc.list(system_actor(water.id), "call").items
             if c["call_id"] == CALL]
    assert len(calls) == 1
    assert calls[0]["from"] == "+84901234567" and calls[0]["to"].endswith("19001234")
    assert calls[0]["result"] == "answered" and calls[0]["agent"] == 41
    assert calls[0]["ended_at"] and calls[0]["duration"] >= 0
    # a tenant whose provider posts its events cannot be followed
    sim = CliRunner().invoke(main, ["telephony", "listen", "nosuch"], env=env)
    assert sim.exit_code == 1 and "no tenant 'nosuch'" in sim.output
    store.create("plain", None, BundleSource.from_dir(ROOT / "config"))
    plain = CliRunner().invoke(main, ["telephony", "listen", "plain"], env=env)
    assert plain.exit_code == 1 and "does not stream events" in plain.output


def test_telephony_listen_pops_screens_through_redis(db_url: str, store: TenantStore,
                                                     tmp_path: Path, peer: AmiPeer) -> None:
    """With CALLBOARD_REDIS_URL set, the listener's screen pops reach the agents' streams
    on the app servers through Redis pub/sub."""
    redis = pytest.importorskip("redis")
    url = os.environ.get("CALLBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    conn = redis.Redis.from_url(url)
    try:
        conn.ping()
    except redis.RedisError:
        need(f"Redis is not reachable at {url}")
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(CHANNEL)
    files = dict(BundleSource.from_dir(ROOT / "config").files)
    settings = "".join(f"\n  {k}: {v}" for k, v in peer.settings().items())
    files["tenant.yaml"] = files["tenant.yaml"].replace(
        "telephony:\n  provider: sim", "telephony:" + settings + "\n  # was: sim")
    water = store.create("water", None, BundleSource(files))
    store.add_member(water.id, 41, "agent101@water.test", "agent", team="a", extension="101")
    env = {"CALLBOARD_DATABASE_URL": db_url, "CALLBOARD_DATA_DIR": str(tmp_path / "d"),
           "CALLBOARD_SECRET_KEY": "test-secret", "CALLBOARD_REDIS_URL": url}
    result = CliRunner().invoke(main, ["telephony", "listen", "water"], env=env)
    assert result.exit_code == 0, result.output
    seen = []
    for _ in range(50):
        item = pubsub.get_message(timeout=0.1)
        if item is None:
            continue
        event = json.loads(item["data"])
        if event["user"] == 41:
            seen.append(event["event"])
    pubsub.close()
    assert "screen_pop" in seen, seen
