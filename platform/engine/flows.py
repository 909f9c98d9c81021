"""Compile tenant settings, workflows and IVR trees, with their cross-checks."""
from __future__ import annotations

import itertools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, time
from functools import cache
from typing import Any

import phonenumbers

from . import expressions as ex
from .fields import check_expression, parse_expression
from .locate import Loc
from .messages import suggest
from .model import (
    Department,
    IvrNode,
    IvrTree,
    Label,
    Queue,
    Schedule,
    State,
    TenantSettings,
    Transition,
    Workflow,
    frozen_map,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: Any) -> float | None:
    """A duration (`30s`, `5m`, `4h`, `3d`, or a number of seconds) in seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(value))
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def compile_settings(loc: Loc, data: Mapping[str, Any]) -> TenantSettings:
    """tenant.yaml as settings; checks time zone, region, calendars and queues."""
    tz = data.get("timezone", "UTC")
    if tz not in _zones():
        loc.at("timezone").err(f"unknown time zone '{tz}'{suggest(tz, _zones())}")
    region = data.get("phone_region", "VN")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        loc.at("phone_region").err(f"'{region}' is not a region phone numbers know")
    locales = tuple(data.get("locales") or ())
    locale = data.get("locale") or (locales[0] if locales else "en")
    locales = locales or (locale,)
    if locale not in locales:
        loc.at("locale").err(f"'{locale}' is not among locales ({', '.join(locales)})")
    schedules = {name: _schedule(loc.at("schedules", name), name, spec or {})
                 for name, spec in (data.get("schedules") or {}).items()}
    raw_deps = data.get("departments") or {}
    if isinstance(raw_deps, list):
        raw_deps = {d: None for d in raw_deps}
    departments = {
        name: Department(name, Label.of((spec or {}).get("label"), name.replace("_", " ")),
                         (spec or {}).get("assignment", "none"))
        for name, spec in raw_deps.items()}
    queues = {}
    for name, spec in (data.get("queues") or {}).items():
        spec = spec or {}
        dep = spec.get("department")
        if dep and dep not in departments:
            loc.at("queues", name, "department").missing("department", dep, departments)
        queues[name] = Queue(name, Label.of(spec.get("label"), name.replace("_", " ")),
                             spec.get("strategy", "longest_idle"),
                             seconds(spec.get("wrapup")) or 0.0,
                             seconds(spec.get("max_wait")), dep)
    return TenantSettings(
        name=data["name"], locale=locale, locales=locales, timezone=tz, phone_region=region,
        vip_min_priority=data.get("vip_min_priority", 4),
        auto_opportunity=bool(data.get("auto_opportunity", False)),
        block_anonymous=bool(data.get("block_anonymous", False)),
        schedules=frozen_map(schedules), departments=frozen_map(departments),
        queues=frozen_map(queues), telephony=frozen_map(data.get("telephony") or {}))


def _schedule(loc: Loc, name: str, spec: Mapping[str, Any]) -> Schedule:
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for key, value in spec.items():
        if key == "holidays":
            continue
        first, _, last = key.partition("-")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            loc.at(key).err(f"day range '{key}' runs backwards", key=True)
            continue
        ranges = []
        for text in value if isinstance(value, list) else [value]:
            start, end = (time.fromisoformat(t) if t != "24:00" else time.max
                          for t in text.split("-"))
            if start >= end:
                loc.at(key).err(f"'{text}' closes before it opens")
            ranges.append((start, end))
        ranges.sort()
        for (_, end1), (start2, _) in itertools.pairwise(ranges):
            if start2 < end1:
                loc.at(key).err("opening hours overlap")
        for day in range(a, b + 1):
            if day in hours:
                loc.at(key).err(f"{DAYS[day]} is given twice", key=True)
            hours[day] = tuple(ranges)
    holidays = set()
    for i, text in enumerate(spec.get("holidays") or ()):
        try:
            holidays.add(date.fromisoformat(text))
        except ValueError:
            loc.at("holidays", i).err(f"'{text}' is not a real date")
    return Schedule(name, frozen_map(hours), frozenset(holidays))


def compile_workflow(loc: Loc, spec: Mapping[str, Any], fields: Mapping[str, Any],
                     scope: Mapping[str, ex.NameInfo]) -> Workflow:
    """A workflow; transitions must name existing states and fields, every state reachable.

    `fields` holding the key "*" means the field list is unknown (cut by schema problems).
    """
    states = {name: State(name, Label.of((s or {}).get("label"), name.replace("_", " ")),
                          bool((s or {}).get("final")), bool((s or {}).get("pause_sla")))
              for name, s in spec["states"].items()}
    initial = spec["initial"]
    if initial not in states:
        loc.at("initial").missing("state", initial, states)
    finals = {n for n, s in states.items() if s.final}
    transitions = {}
    for name, t in spec["transitions"].items():
        tl = loc.at("transitions", name)
        raw_from = t["from"]
        if raw_from == "*":
            sources = tuple(n for n in states if n not in finals)
        else:
            sources = tuple(raw_from) if isinstance(raw_from, list) else (raw_from,)
            for i, s in enumerate(sources):
                at = tl.at("from", i) if isinstance(raw_from, list) else tl.at("from")
                if s not in states:
                    at.missing("state", s, states)
                elif s in finals:
                    at.err(f"state '{s}' is final: no transition may leave it")
        if t["to"] not in states:
            tl.at("to").missing("state", t["to"], states)
        for i, f in enumerate(t.get("require") or ()):
            if f not in fields and "*" not in fields:
                tl.at("require", i).missing("field", f, fields)
        when = parse_expression(tl.at("when"), t.get("when"))
        check_expression(tl.at("when"), when, scope)
        transitions[name] = Transition(
            name, Label.of(t.get("label"), name.replace("_", " ")), sources, t["to"],
            tuple(t.get("roles") or ()), tuple(t.get("require") or ()), when,
            bool(t.get("transfer")))
    _check_state_graph(loc, initial, states, finals, transitions)
    return Workflow(initial, frozen_map(states), frozen_map(transitions))


def _check_state_graph(loc: Loc, initial: str, states: Mapping[str, State], finals: set[str],
                       transitions: Mapping[str, Transition]) -> None:
    if initial not in states:
        return
    reached, todo = {initial}, [initial]
    while todo:
        here = todo.pop()
        for t in transitions.values():
            if here in t.sources and t.target in states and t.target not in reached:
                reached.add(t.target)
                todo.append(t.target)
    leaving = {s for t in transitions.values() for s in t.sources}
    for name in states:
        if name not in reached:
            loc.at("states", name).err(
                f"state '{name}' cannot be reached from '{initial}'", key=True)
        elif name not in finals and name not in leaving:
            loc.at("states", name).err(
                f"state '{name}' has no way out; mark it final: true or add a transition",
                key=True)


_EXITS = {
    "play": ("next",), "menu": ("on_exhausted",), "time_condition": ("open", "closed"),
    "check_vip": ("vip", "regular"), "condition": ("then", "else"),
    "http_lookup": ("next", "error"), "queue": ("on_timeout",), "goto": ("target",),
}


def compile_ivr(loc: Loc, name: str, spec: Mapping[str, Any], settings: TenantSettings | None,
                scope: Mapping[str, ex.NameInfo], ghosts: set[str] = frozenset(),
                tenant_ghosts: Mapping[str, set[str]] | None = None) -> IvrTree:
    """An IVR tree; checks targets, reachability, loops and tenant references.

    `ghosts` are nodes cut by schema problems: they count as existing, and reachability
    is not judged while any are missing (their exits are unknown).
    """
    raw_nodes: Mapping[str, Any] = spec["nodes"]
    nodes = {}
    for nname, n in raw_nodes.items():
        nl = loc.at("nodes", nname)
        exits = {k: n[k] for k in _EXITS.get(n["type"], ()) if k in n}
        options = {str(k): v for k, v in (n.get("options") or {}).items()}
        for key, target in [*exits.items(), *(("options", k) for k in options)]:
            if key == "options":
                target, at = options[target], nl.at("options", target)
            else:
                at = nl.at(key)
            if target not in raw_nodes and target not in ghosts and "*" not in ghosts:
                at.missing("node", target, raw_nodes, where="this tree")
        when = None
        if n["type"] == "condition":
            when = parse_expression(nl.at("when"), n["when"])
            check_expression(nl.at("when"), when, scope)
        if n["type"] == "queue" and ("max_wait" in n) != ("on_timeout" in n):
            nl.err("a queue with max_wait needs on_timeout, and on_timeout needs max_wait")
        if n["type"] == "transfer" and sum(k in n for k in
                                           ("department", "extension", "number")) != 1:
            nl.err("a transfer needs exactly one of department, extension or number")
        if settings is not None:
            _check_references(nl, n, settings, tenant_ghosts or {})
        nodes[nname] = IvrNode(
            name=nname, type=n["type"],
            label=Label.of(n["label"]) if n.get("label") else None,
            prompt=n.get("prompt"), exits=frozen_map(exits), options=frozen_map(options),
            timeout=seconds(n.get("timeout", "5s" if n["type"] == "menu" else
                                  "3s" if n["type"] == "http_lookup" else None)),
            max_retries=n.get("max_retries", 2 if n["type"] == "menu" else 0),
            invalid_prompt=n.get("invalid_prompt"), schedule=n.get("schedule"), when=when,
            url=n.get("url"), method=n.get("method", "GET"), queue=n.get("queue"),
            max_wait=seconds(n.get("max_wait")), department=n.get("department"),
            extension=_text(n.get("extension")), number=_text(n.get("number")),
            mailbox=n.get("mailbox"))
    start = spec["start"]
    if start not in nodes and start not in ghosts and "*" not in ghosts:
        loc.at("start").missing("node", start, nodes, where="this tree")
    elif start in nodes and not ghosts:
        _check_tree_graph(loc, start, nodes)
    return IvrTree(name, Label.of(spec.get("label"), name), tuple(_text(x) for x in
                   spec["numbers"]), start, frozen_map(nodes))


def _text(value: Any) -> str | None:
    return None if value is None else re.sub(r"[\s.\-()]", "", str(value))


def _check_references(nl: Loc, n: Mapping[str, Any], s: TenantSettings,
                      ghosts: Mapping[str, set[str]]) -> None:
    def cut(kind: str, value: str) -> bool:
        g = ghosts.get(kind, set())
        return value in g or "*" in g

    if n.get("queue") and n["queue"] not in s.queues and not cut("queues", n["queue"]):
        nl.at("queue").missing("queue", n["queue"], s.queues, where="tenant.yaml")
    if n.get("schedule") and n["schedule"] not in s.schedules and \
            not cut("schedules", n["schedule"]):
        nl.at("schedule").missing("schedule", n["schedule"], s.schedules, where="tenant.yaml")
    if n.get("department") and n["department"] not in s.departments and \
            not cut("departments", n["department"]):
        nl.at("department").missing("department", n["department"], s.departments,
                                    where="tenant.yaml")
    box = n.get("mailbox")
    if box and box not in s.departments and box not in s.queues and not (
            cut("departments", box) or cut("queues", box)):
        nl.at("mailbox").missing("department or queue", box, {*s.departments, *s.queues},
                                 where="tenant.yaml")


def _check_tree_graph(loc: Loc, start: str, nodes: Mapping[str, IvrNode]) -> None:
    reached, todo = {start}, [start]
    while todo:
        for t in nodes[todo.pop()].targets():
            if t in nodes and t not in reached:
                reached.add(t)
                todo.append(t)
    for name in nodes:
        if name not in reached:
            loc.at("nodes", name).err(f"node '{name}' cannot be reached from start '{start}'",
                                      key=True)
    # A loop must wait for the caller somewhere: only a menu (with bounded retries) may close one.
    color: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(name: str, trail: list[str]) -> None:
        color[name] = 1
        trail.append(name)
        for t in nodes[name].targets():
            if t not in nodes or nodes[t].type == "menu":
                continue
            if color.get(t) == 1:
                cycle = trail[trail.index(t):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    path = " → ".join([*cycle, t])
                    loc.at("nodes", t).err(
                        f"{path} loops without waiting for the caller; a loop must pass "
                        "through a menu", key=True)
            elif t not in color:
                visit(t, trail)
        trail.pop()
        color[name] = 2

    for name in nodes:
        if name not in color and nodes[name].type != "menu":
            visit(name, [])
