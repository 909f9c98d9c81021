"""The IVR interpreter: walks a compiled IVR tree for one call, without touching the database.

`start(tree, ctx)` runs a call from the tree's start node until the caller must answer a
menu or the call reaches a final action; `resume(tree, state, event, ctx)` continues from
the saved `state` with the caller's digits, a menu timeout or a queue timeout. Each call
returns an `IvrStep`: the actions to send to the provider (CONTRACT §5), the new state
(plain JSON: the caller of the interpreter keeps it per call), the final action or None
while a menu waits, and the nodes visited.

Actions: `play {prompt}`, `menu {prompt, timeout, options}` (waits), and the finals
`queue {queue, priority, max_wait}`, `transfer {department|extension|number}`,
`voicemail {mailbox, prompt}`, `hangup {prompt?}`. Every action names its `node`.
"""
from __future__ import annotations

import ipaddress
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callboard.engine import expressions as ex
from callboard.engine.model import IvrNode, IvrTree, TenantModel
from callboard.engine.phones import normalize_phone

from .calendar import is_open

__all__ = ["EVENTS", "HttpFetcher", "IvrContext", "IvrError", "IvrStep", "fetch_json",
           "resume", "start", "tree_for"]

MAX_DIGITS = 32          # keys one event may carry (typed ahead into the next menus)
MAX_NODES = 200          # nodes one step may pass before the call is hung up as looping
FINALS = frozenset({"queue", "transfer", "voicemail", "hangup"})
EVENTS = ("digits", "timeout", "queue_timeout")
DEFAULT_TREE = "default"

HttpFetcher = Callable[[str, str, float, Mapping[str, Any] | None], Any]
"""(method, url, timeout seconds, JSON body or None) -> the decoded JSON answer; raises on
any failure (connection, timeout, HTTP status >= 400, a body that is not JSON)."""


class IvrError(ValueError):
    """An event the interpreter cannot apply (unknown type, digits missing, bad state)."""


@dataclass(frozen=True)
class IvrContext:
    """What the interpreter knows of the call.

    `customer` is the caller's record (fields at the top level, as the record service
    returns it) or None for an unknown caller; `call` holds at least `call_id`, `from` and
    `to`; `now` is the moment of the event (naive means the tenant's local time);
    `http` fetches for `http_lookup` nodes (default: `fetch_json` over urllib).
    """

    model: TenantModel
    customer: Mapping[str, Any] | None
    call: Mapping[str, Any]
    now: datetime
    http: HttpFetcher | None = None


@dataclass
class IvrStep:
    """One run of the interpreter: actions to send, state to keep, final action, path."""

    actions: list[dict[str, Any]]
    state: dict[str, Any]
    final: dict[str, Any] | None
    path: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    """Per node visited: `node`, `type`, the `exit` taken and a `note` on why."""

    @property
    def waiting(self) -> bool:
        """True while a menu waits for the caller's digits."""
        return self.final is None


def tree_for(model: TenantModel, to_number: str | None) -> IvrTree | None:
    """The IVR tree a call to `to_number` enters.

    The tree whose `numbers` list the called number (compared as typed and normalised to
    E.164 with the tenant's region); otherwise the tree named `default`; otherwise the
    first tree by name. None when the tenant has no IVR tree at all.
    """
    if not model.ivr_trees:
        return None
    region = model.settings.phone_region
    wanted = _number_forms(to_number, region)
    if wanted:
        for tree in sorted(model.ivr_trees.values(), key=lambda t: t.name):
            for number in tree.numbers:
                if number and wanted & _number_forms(number, region):
                    return tree
    if DEFAULT_TREE in model.ivr_trees:
        return model.ivr_trees[DEFAULT_TREE]
    return model.ivr_trees[sorted(model.ivr_trees)[0]]


def _number_forms(number: str | None, region: str) -> set[str]:
    if not number:
        return set()
    raw = re.sub(r"[\s.\-()]", "", str(number))
    forms = {raw}
    norm = normalize_phone(raw, region, strict=False)
    if norm:
        forms.add(norm)
    return forms


def start(tree: IvrTree, ctx: IvrContext) -> IvrStep:
    """Run a new call from the tree's start node."""
    run = _Run(tree, ctx, {"tree": tree.name, "node": None, "retries": 0, "vars": {}})
    return run.go(tree.start)


def resume(tree: IvrTree, state: Mapping[str, Any], event: Mapping[str, Any],
           ctx: IvrContext) -> IvrStep:
    """Continue a call from `state` (as a previous step left it) with `event`.

    Events: `{"type": "digits", "digits": "1"}` (several digits are typed ahead into the
    following menus), `{"type": "timeout"}` (no input at the menu), `{"type":
    "queue_timeout"}` (the caller waited `max_wait` in a queue: its `on_timeout` exit).
    A state whose node no longer exists in the tree (the bundle changed) starts over.
    """
    kind = event.get("type") if isinstance(event, Mapping) else None
    if kind not in EVENTS:
        raise IvrError(f"unknown IVR event {kind!r}; expected one of {', '.join(EVENTS)}")
    st = _copy_state(state, tree)
    if st.get("final") is not None:
        return IvrStep([], st, dict(st["final"]), [], [])
    run = _Run(tree, ctx, st)
    node = tree.nodes.get(st.get("node") or "")
    if node is None:
        st.update(node=None, retries=0)
        return run.go(tree.start)
    if kind == "queue_timeout":
        if node.type != "queue":
            raise IvrError(f"the call is at {node.type} node '{node.name}', not in a queue")
        target = node.exits.get("on_timeout")
        if target is None:
            return run.finish(node, {"type": "hangup", "reason": "queue_timeout"})
        run.note(node, "on_timeout", f"waited {node.max_wait or 0:g} s")
        return run.go(target)
    if node.type != "menu":
        raise IvrError(f"the call is at {node.type} node '{node.name}', not at a menu")
    if kind == "timeout":
        return run.menu_failed(node, timed_out=True)
    digits = str(event.get("digits") or "")
    if not (0 < len(digits) <= MAX_DIGITS and re.fullmatch(r"[0-9*#]+", digits)):
        raise IvrError(f"digits: expected 1 to {MAX_DIGITS} of 0-9, * and #")
    return run.press(node, digits)


def _copy_state(state: Mapping[str, Any], tree: IvrTree) -> dict[str, Any]:
    if not isinstance(state, Mapping):
        raise IvrError("the IVR state must be a JSON object")
    st = json.loads(json.dumps(dict(state), default=str))
    st.setdefault("vars", {})
    st.setdefault("retries", 0)
    if st.get("tree") != tree.name:
        st.update(tree=tree.name, node=None, retries=0)
    return st


class _Run:
    """One step of one call: walks nodes until a menu waits or a final action."""

    def __init__(self, tree: IvrTree, ctx: IvrContext, state: dict[str, Any]):
        self.tree, self.ctx, self.state = tree, ctx, state
        self.actions: list[dict[str, Any]] = []
        self.path: list[str] = []
        self.trace: list[dict[str, Any]] = []
        self.typeahead = ""

    def note(self, node: IvrNode, exit_: str | None, note: str = "") -> None:
        self.trace.append({"node": node.name, "type": node.type, "exit": exit_,
                           "note": note})

    # -- driving ---------------------------------------------------------------------
    def go(self, name: str) -> IvrStep:
        while True:
            if len(self.path) >= MAX_NODES:
                return self.finish(None, {"type": "hangup", "reason": "loop"})
            node = self.tree.nodes.get(name)
            if node is None:  # only a bundle that skipped the checker can get here
                return self.finish(None, {"type": "hangup", "reason": f"no node '{name}'"})
            self.path.append(node.name)
            nxt = self._visit(node)
            if isinstance(nxt, tuple):
                self.note(node, nxt[0], nxt[2])
                nxt = nxt[1]
            if isinstance(nxt, IvrStep):
                return nxt
            name = nxt

    def finish(self, node: IvrNode | None, action: dict[str, Any]) -> IvrStep:
        if node is not None:
            action["node"] = node.name
        self.actions.append(action)
        self.state.update(node=node.name if node else None, final=action)
        if node is not None:
            self.note(node, None, "final")
        return self.step(action)

    def step(self, final: dict[str, Any] | None) -> IvrStep:
        return IvrStep(self.actions, self.state, final, self.path, self.trace)

    def wait(self, node: IvrNode) -> IvrStep:
        self.actions.append({"type": "menu", "node": node.name, "prompt": node.prompt,
                             "timeout": node.timeout, "options": sorted(node.options)})
        self.state.update(node=node.name, final=None)
        if self.typeahead:
            digits, self.typeahead = self.typeahead, ""
            return self.press(node, digits)
        self.note(node, None, f"waits for {', '.join(sorted(node.options))} "
                              f"({node.timeout:g} s)")
        return self.step(None)

    # -- menus -----------------------------------------------------------------------
    def press(self, node: IvrNode, digits: str) -> IvrStep:
        key, self.typeahead = digits[0], digits[1:]
        target = node.options.get(key)
        self.state["vars"]["digits"] = key
        if target is None:
            self.typeahead = ""
            self.note(node, None, f"pressed {key}: not an option")
            return self.menu_failed(node, timed_out=False)
        self.note(node, key, f"pressed {key}")
        self.state["retries"] = 0
        return self.go(target)

    def menu_failed(self, node: IvrNode, *, timed_out: bool) -> IvrStep:
        self.state["retries"] = int(self.state.get("retries") or 0) + 1
        if timed_out:
            self.note(node, None, "no input")
        if self.state["retries"] > node.max_retries:
            self.state["retries"] = 0
            self.note(node, "on_exhausted", f"{node.max_retries + 1} tries without a "
                                            "valid choice")
            return self.go(node.exits["on_exhausted"])
        if not timed_out and node.invalid_prompt:
            self.actions.append({"type": "play", "node": node.name,
                                 "prompt": node.invalid_prompt})
        return self.wait(node)

    # -- nodes -----------------------------------------------------------------------
    def _visit(self, node: IvrNode) -> tuple[str, str, str] | IvrStep:
        """(exit taken, its target, why) or the step that ends here."""
        kind = node.type
        if kind == "play":
            self.actions.append({"type": "play", "node": node.name, "prompt": node.prompt})
            return "next", node.exits["next"], _short(node.prompt)
        if kind == "menu":
            self.state["retries"] = 0
            return self.wait(node)
        if kind == "goto":
            return "target", node.exits["target"], ""
        if kind == "time_condition":
            exit_, why = self._open(node)
            return exit_, node.exits[exit_], why
        if kind == "check_vip":
            prio, least = self._priority(), self.ctx.model.settings.vip_min_priority
            if self.ctx.customer is None:
                return "regular", node.exits["regular"], "unknown caller"
            exit_ = "vip" if prio >= least else "regular"
            return exit_, node.exits[exit_], f"priority {prio}, VIP from {least}"
        if kind == "condition":
            ok = node.when is not None and bool(ex.evaluate(node.when, self._values()))
            exit_ = "then" if ok else "else"
            return exit_, node.exits[exit_], node.when.source if node.when else ""
        if kind == "http_lookup":
            return self._lookup(node)
        return self.finish(node, self._final(node))

    def _final(self, node: IvrNode) -> dict[str, Any]:
        if node.type == "queue":
            return {"type": "queue", "queue": node.queue, "priority": self._priority(),
                    "max_wait": node.max_wait}
        if node.type == "transfer":
            for key in ("department", "extension", "number"):
                if getattr(node, key):
                    return {"type": "transfer", key: getattr(node, key)}
            return {"type": "transfer"}
        if node.type == "voicemail":
            return {"type": "voicemail", "mailbox": node.mailbox, "prompt": node.prompt}
        out: dict[str, Any] = {"type": "hangup"}
        if node.prompt:
            out["prompt"] = node.prompt
        return out

    def _open(self, node: IvrNode) -> tuple[str, str]:
        settings = self.ctx.model.settings
        tz = ZoneInfo(settings.timezone)
        now = self.ctx.now
        now = now.replace(tzinfo=tz) if now.tzinfo is None else now.astimezone(tz)
        schedule = settings.schedules.get(node.schedule or "")
        exit_ = "open" if is_open(now, schedule, settings.timezone) else "closed"
        why = f"{node.schedule} at {now:%a %Y-%m-%d %H:%M} {settings.timezone}"
        if schedule is not None and now.date() in schedule.holidays:
            why += " (holiday)"
        return exit_, why

    def _priority(self) -> int:
        try:
            return int((self.ctx.customer or {}).get("priority") or 1)
        except (TypeError, ValueError):
            return 1

    def _values(self) -> dict[str, Any]:
        call = {**self.ctx.call, "digits": self.state["vars"].get("digits")}
        return {"customer": dict(self.ctx.customer or {}), "call": call,
                "lookup": self.state["vars"].get("lookup") or {}}

    def _lookup(self, node: IvrNode) -> tuple[str, str, str]:
        values = self._values()
        url = _fill(node.url or "", values)
        body = values if node.method == "POST" else None
        fetch = self.ctx.http or fetch_json
        try:
            answer = fetch(node.method, url, node.timeout or 3.0, body)
        except Exception as e:  # any failure takes the error exit, by design
            self.state["vars"]["lookup_error"] = f"{type(e).__name__}: {e}"[:200]
            self.state["vars"]["lookup"] = {}
            return "error", node.exits["error"], self.state["vars"]["lookup_error"]
        self.state["vars"]["lookup"] = json.loads(json.dumps(
            answer if isinstance(answer, Mapping) else {"value": answer}, default=str))
        self.state["vars"].pop("lookup_error", None)
        return "next", node.exits["next"], f"{node.method} {url}"


def _short(text: str | None, width: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}")


def _fill(url: str, values: Mapping[str, Any]) -> str:
    """`{call.from}`, `{customer.id}`… in a lookup URL, URL-quoted (missing: empty)."""
    def one(m: re.Match[str]) -> str:
        cur: Any = values
        for part in m.group(1).split("."):
            cur = cur.get(part) if isinstance(cur, Mapping) else None
        return urllib.parse.quote("" if cur is None else str(cur), safe="")
    return _PLACEHOLDER.sub(one, url)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: it could lead the server somewhere the URL did not say."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _check_host(url: str) -> None:
    """Refuse link-local addresses (cloud instance metadata lives there)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as e:
        raise OSError(f"cannot resolve {host}: {e}") from None
    for info in infos:
        if ipaddress.ip_address(info[4][0].split("%")[0]).is_link_local:
            raise ValueError(f"{host} is a link-local address: not fetched")


def fetch_json(method: str, url: str, timeout: float,
               body: Mapping[str, Any] | None = None) -> Any:
    """Fetch `url` and decode its JSON answer; raises on any failure (see HttpFetcher).
    Redirects and link-local hosts count as failures."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) address: {url}")
    _check_host(url)
    data = json.dumps(body, default=str).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/json", "Content-Type": "application/json",
        "User-Agent": "Callboard-IVR"})
    with _OPENER.open(req, timeout=timeout) as resp:
        return json.loads(resp.read(1_000_001)[:1_000_000].decode("utf-8"))
