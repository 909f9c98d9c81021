"""The IVR interpreter over compiled trees: the demo hotline and a lab tree whose
http_lookup talks to a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from callboard.engine.bundle import load_dir
from callboard.engine.model import TenantModel
from callboard.workflows import ivr
from callboard.workflows.ivr import IvrContext, IvrError, resume, start, tree_for

ROOT = Path(__file__).resolve().parents[2]
MONDAY_10 = datetime(2026, 11, 30, 10, 0)            # tenant local time (Asia/Ho_Chi_Minh)
BUSINESS = {"id": 7, "name": "Công ty A", "priority": 1, "customer_type": "business"}
HOME = {"id": 8, "name": "Bà B", "priority": 1, "customer_type": "residential"}
GOLD = {"id": 9, "name": "Ông C", "priority": 3}

LAB = """\
numbers: ["18001000"]
start: greet
nodes:
  greet: {type: play, prompt: "Hello", next: lookup}
  lookup: {type: http_lookup, url: "http://127.0.0.1:PORT/lookup?phone={call.from}&c={customer.id}",
           timeout: 300ms, next: check_debt, error: sorry}
  check_debt: {type: condition, when: "lookup.debt > 0", then: debt_notice, else: vip}
  debt_notice: {type: play, prompt: "You owe money", next: vip}
  sorry: {type: play, prompt: "Lookup failed", next: vip}
  vip: {type: check_vip, vip: to_desk, regular: menu}
  to_desk: {type: transfer, extension: "101"}
  menu: {type: menu, prompt: "1 sales, 2 bye, 3 technical, 0 again", timeout: 2s,
         max_retries: 0, options: {"1": sales, "2": bye, "3": dept, "0": again},
         on_exhausted: bye}
  again: {type: goto, target: menu}
  sales: {type: queue, queue: billing}
  bye: {type: hangup, prompt: "Goodbye"}
  dept: {type: transfer, department: technical}
"""


class _Lookup(BaseHTTPRequestHandler):
    """The caller's account by phone: ...1 owes, ...2 is slow, ...3 fails, ...4 not JSON."""

    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        _Lookup.seen.append(query)
        phone = query.get("phone", [""])[0]
        if phone.endswith("2"):
            time.sleep(1.0)
        if phone.endswith("3"):
            self.send_error(500)
            return
        if phone.endswith("5"):                   # elsewhere, e.g. instance metadata
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        body = b"<html>oops</html>" if phone.endswith("4") else json.dumps(
            {"debt": 120000 if phone.endswith("1") else 0, "phone": phone}).encode()
        with contextlib.suppress(OSError):        # the slow answer finds the caller gone
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Lookup)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def model(server: ThreadingHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> TenantModel:
    folder = tmp_path_factory.mktemp("bundle") / "b"
    shutil.copytree(ROOT / "config", folder)
    port = server.server_address[1]
    (folder / "ivr" / "lab.yaml").write_text(LAB.replace("PORT", str(port)), "utf-8")
    return load_dir(folder)


def ctx(model: TenantModel, customer: dict | None = None, now: datetime = MONDAY_10,
        number: str = "0901234567", to: str = "19001234") -> IvrContext:
    return IvrContext(model, customer, {"call_id": "c-1", "from": number, "to": to}, now)


def run(model: TenantModel, c: IvrContext, *events: dict) -> ivr.IvrStep:
    tree = tree_for(model, c.call["to"])
    step = start(tree, c)
    for event in events:
        step = resume(tree, json.loads(json.dumps(step.state)), event, c)
    return step


def digits(d: str) -> dict:
    return {"type": "digits", "digits": d}


TIMEOUT = {"type": "timeout"}


# -- choosing the tree ------------------------------------------------------------------
def test_tree_for_matches_called_numbers_in_any_spelling(model: TenantModel) -> None:
    assert tree_for(model, "19001234").name == "hotline"
    assert tree_for(model, "1900 1234").name == "hotline"
    assert tree_for(model, "+842838123456").name == "hotline"   # 028 3812 3456 in E.164
    assert tree_for(model, "1800-1000").name == "lab"
    assert tree_for(model, "999").name == "hotline"               # no match: first by name
    assert tree_for(model, None).name == "hotline"
    assert tree_for(dataclasses.replace(model, ivr_trees={}), "19001234") is None


def test_a_tree_named_default_catches_unknown_numbers(model: TenantModel) -> None:
    trees = dict(model.ivr_trees)
    trees["default"] = dataclasses.replace(trees["lab"], name="default", numbers=("1"))
    other = dataclasses.replace(model, ivr_trees=trees)
    assert tree_for(other, "555").name == "default"
    assert tree_for(other, "19001234").name == "hotline"


# -- the demo hotline -------------------------------------------------------------------
def test_open_hours_regular_caller_waits_at_the_menu(model: TenantModel) -> None:
    step = run(model, ctx(model, HOME))
    assert step.path == ["welcome", "hours", "vip_check", "main_menu"]
    assert [a["type"] for a in step.actions] == ["play", "menu"]
    assert step.actions[1]["options"] == ["1", "2", "3", "9"]
    assert step.actions[1]["timeout"] == 5
    assert step.final is None and step.waiting
    assert step.state["node"] == "main_menu"
    json.dumps(step.state)  # the caller keeps it in the database


def test_condition_over_customer_fields(model: TenantModel) -> None:
    business = run(model, ctx(model, BUSINESS), digits("1"))
    assert business.path == ["billing_route", "business_billing_notice", "billing_queue"]
    assert business.final == {"type": "queue", "queue": "billing", "priority": 1,
                              "max_wait": 180, "node": "billing_queue"}
    assert business.actions[0]["type"] == "play"
    home = run(model, ctx(model, HOME), digits("1"))
    assert home.path == ["billing_route", "billing_queue"]
    unknown = run(model, ctx(model, None), digits("3"))
    assert unknown.path == ["leak_notice", "technical_queue"]
    assert unknown.final["queue"] == "technical" and unknown.final["priority"] == 1


def test_vip_goes_to_the_vip_queue_with_its_priority(model: TenantModel) -> None:
    step = run(model, ctx(model, GOLD))
    assert step.path == ["welcome", "hours", "vip_check", "vip_queue"]
    assert step.final["queue"] == "vip" and step.final["priority"] == 3
    # vip_min_priority is 2 in the demo: priority 1 is a regular caller
    assert run(model, ctx(model, {**GOLD, "priority": 1})).final is None


@pytest.mark.parametrize(("moment", "is_open"), [
    (datetime(2026, 11, 30, 3, 0, tzinfo=UTC), True),     # Mon 10:00 in Hồ Chí Minh City
    (datetime(2026, 11, 30, 11, 0, tzinfo=UTC), False),   # Mon 18:00 local
    (datetime(2026, 11, 30, 12, 30), False),               # naive = local: lunch break
    (datetime(2026, 12, 5, 11, 0), True),                  # Saturday morning
    (datetime(2026, 12, 5, 13, 0), False),                 # Saturday afternoon
    (datetime(2026, 12, 6, 10, 0), False),                 # Sunday
    (datetime(2026, 9, 2, 10, 0), False),                  # National Day (a holiday)
])
def test_time_condition_in_tenant_zone_with_holidays(model: TenantModel, moment: datetime,
                                                      is_open: bool) -> None:
    step = run(model, ctx(model, HOME, now=moment))
    if is_open:
        assert step.path[-1] == "main_menu"
    else:
        assert step.path == ["welcome", "hours", "after_hours_voicemail"]
        assert step.final["type"] == "voicemail" and step.final["mailbox"] == "support"
        assert step.final["prompt"].startswith("Công ty đã hết giờ")


def test_invalid_keys_and_timeouts_until_on_exhausted(model: TenantModel) -> None:
    c = ctx(model, HOME)
    bad = run(model, c, digits("7"))
    assert [a["type"] for a in bad.actions] == ["play", "menu"]
    assert bad.actions[0]["prompt"].startswith("Phím quý khách vừa bấm không hợp lệ")
    assert bad.state["retries"] == 1 and bad.final is None
    quiet = run(model, c, TIMEOUT)
    assert [a["type"] for a in quiet.actions] == ["menu"]      # no "invalid key" prompt
    still = run(model, c, digits("7"), TIMEOUT)                # max_retries 2: 3 tries
    assert still.final is None and still.state["retries"] == 2
    done = run(model, c, digits("7"), TIMEOUT, digits("#"))
    assert done.path == ["support_queue"]
    assert done.final["queue"] == "support"
    assert done.trace[-2]["exit"] == "on_exhausted"


def test_repeat_option_resets_retries_and_typeahead(model: TenantModel) -> None:
    c = ctx(model, HOME)
    again = run(model, c, digits("7"), digits("9"))
    assert again.path == ["main_menu"] and again.state["retries"] == 0
    ahead = run(model, c, digits("91"))                        # 9 (repeat) then 1
    assert ahead.path == ["main_menu", "billing_route", "billing_queue"]
    assert ahead.final["queue"] == "billing"
    many = run(model, c, digits("9" * 32))                     # bounded, no deep recursion
    assert many.path == ["main_menu"] * 32 and many.final is None


def test_resume_rejects_what_it_cannot_apply(model: TenantModel) -> None:
    c = ctx(model, HOME)
    tree = tree_for(model, "19001234")
    waiting = start(tree, c)
    for event in ({"type": "hangup"}, {}, digits(""), digits("1a"), "1", digits("9" * 33)):
        with pytest.raises(IvrError):
            resume(tree, waiting.state, event, c)   # type: ignore[arg-type]
    with pytest.raises(IvrError):
        resume(tree, waiting.state, {"type": "queue_timeout"}, c)
    queued = resume(tree, waiting.state, digits("2"), c)
    with pytest.raises(IvrError, match="not at a menu"):
        resume(tree, {**queued.state, "final": None}, digits("1"), c)
    after = resume(tree, queued.state, digits("1"), c)    # a finished call stays finished
    assert after.actions == [] and after.final == queued.final


def test_queue_timeout_takes_on_timeout(model: TenantModel) -> None:
    c = ctx(model, HOME)
    tree = tree_for(model, "19001234")
    queued = resume(tree, start(tree, c).state, digits("2"), c)
    assert queued.final["type"] == "queue" and queued.state["node"] == "support_queue"
    later = resume(tree, {**queued.state, "final": None}, {"type": "queue_timeout"}, c)
    assert later.path == ["support_voicemail"]
    assert later.final["type"] == "voicemail" and later.final["mailbox"] == "support"


def test_a_state_from_an_older_bundle_starts_over(model: TenantModel) -> None:
    c = ctx(model, HOME)
    tree = tree_for(model, "19001234")
    step = resume(tree, {"tree": "hotline", "node": "gone_menu", "retries": 1},
                  digits("1"), c)
    assert step.path == ["welcome", "hours", "vip_check", "main_menu"]
    other = resume(tree, {"tree": "lab", "node": "menu"}, TIMEOUT, c)
    assert other.path[0] == "welcome"


# -- the lab tree: http_lookup, goto, transfer, hangup -----------------------------------
def lab(model: TenantModel, number: str, customer: dict | None = None, *events: dict):
    return run(model, ctx(model, customer, number=number, to="18001000"), *events)


def test_http_lookup_answer_feeds_a_condition(model: TenantModel) -> None:
    _Lookup.seen.clear()
    owes = lab(model, "+84901000001", HOME)
    assert owes.path == ["greet", "lookup", "check_debt", "debt_notice", "vip", "menu"]
    assert owes.state["vars"]["lookup"] == {"debt": 120000, "phone": "+84901000001"}
    assert _Lookup.seen[-1] == {"phone": ["+84901000001"], "c": ["8"]}   # quoted, filled
    clear = lab(model, "+84901000000")
    assert clear.path == ["greet", "lookup", "check_debt", "vip", "menu"]
    assert "c" not in _Lookup.seen[-1]                                   # unknown caller


@pytest.mark.parametrize("number", ["0901000002", "0901000003", "0901000004"])
def test_http_lookup_failures_take_the_error_exit(model: TenantModel, number: str) -> None:
    began = time.monotonic()
    step = lab(model, number)
    assert step.path == ["greet", "lookup", "sorry", "vip", "menu"]
    assert step.state["vars"]["lookup_error"]
    assert time.monotonic() - began < 0.9                    # the 300 ms timeout held


def test_http_lookup_unreachable_server(model: TenantModel) -> None:
    with pytest.raises(OSError):
        ivr.fetch_json("GET", "http://127.0.0.1:9/x", 0.5)
    with pytest.raises(ValueError):
        ivr.fetch_json("GET", "file:///etc/passwd", 0.5)
    with pytest.raises(ValueError, match="link-local"):
        ivr.fetch_json("GET", "http://169.254.169.254/latest/meta-data/", 0.5)


def test_http_lookup_does_not_follow_redirects(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    with pytest.raises(OSError):          # urllib's HTTPError for the 302 itself
        ivr.fetch_json("GET", f"http://127.0.0.1:{port}/lookup?phone=5", 1.0)
    assert ivr.fetch_json("GET", f"http://127.0.0.1:{port}/lookup?phone=0", 1.0)["debt"] == 0


def test_goto_transfer_hangup(model: TenantModel) -> None:
    assert lab(model, "0901000000", GOLD).final == {
        "type": "transfer", "extension": "101", "node": "to_desk"}
    again = lab(model, "0901000000", None, digits("0"))
    assert again.path == ["again", "menu"] and again.final is None
    assert lab(model, "0901000000", None, digits("3")).final == {
        "type": "transfer", "department": "technical", "node": "dept"}
    bye = lab(model, "0901000000", None, digits("2"))
    assert bye.final == {"type": "hangup", "prompt": "Goodbye", "node": "bye"}
    # max_retries 0: one wrong key ends the menu
    assert lab(model, "0901000000", None, digits("5")).final["node"] == "bye"


def test_trace_explains_each_node(model: TenantModel) -> None:
    step = run(model, ctx(model, GOLD))
    notes = {t["node"]: t for t in step.trace}
    assert notes["hours"]["exit"] == "open"
    assert "Asia/Ho_Chi_Minh" in notes["hours"]["note"]
    assert notes["vip_check"]["exit"] == "vip"
    assert notes["vip_check"]["note"] == "priority 3, VIP from 2"


# -- tenant.yaml telephony settings and lookup.* names ----------------------------------
def _problems(tenant_extra: str = "", ivr_when: str | None = None) -> list[str]:
    from callboard.engine.bundle import BundleSource, check_bundle

    files = dict(BundleSource.from_dir(ROOT / "config").files)
    files["tenant.yaml"] = files["tenant.yaml"].replace(
        "telephony:\n  provider: sim", "telephony:\n  provider: sim" + tenant_extra)
    if ivr_when:
        files["ivr/hotline.yaml"] = files["ivr/hotline.yaml"].replace(
            "customer.customer_type == 'business'", ivr_when)
    return [p.format("") for p in check_bundle(BundleSource(files))]


def test_telephony_settings_are_checked(model: TenantModel) -> None:
    assert model.settings.telephony == {"provider": "sim"}
    assert _problems("\n  secret: a-long-secret\n  ami_port: 5038") == []
    short = _problems("\n  secret: short")
    assert len(short) == 1 and "telephony.secret" in short[0] and "tenant.yaml:" in short[0]
    nested = _problems("\n  extra: {a: 1}")
    assert len(nested) == 1 and "telephony.extra" in nested[0]


def test_conditions_may_read_lookup_answers_but_not_unknown_names() -> None:
    assert _problems(ivr_when="lookup.debt > 0 and call.from != ''") == []
    bad = _problems(ivr_when="customer.customer_typ == 'business'")
    assert len(bad) == 1 and "customer.customer_typ" in bad[0]
