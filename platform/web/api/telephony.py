"""Telephony: provider webhooks, screen pop, queues, agent status, click-to-call.

Who may post events to `POST /telephony/{provider}/events`:
- a provider with `login` (the `sim` provider): a signed-in member of the tenant (bearer
  token). When the tenant's provider is `sim` (the demo, tests, the "simulate call" panel)
  every member may; otherwise only owner, admin and supervisor may inject events;
- any other provider authenticates the request itself with the tenant's
  `telephony.secret`; the tenant is named by `?tenant=SLUG` (or `X-Callboard-Tenant`) and
  must have chosen that provider in tenant.yaml.
"""
from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select

from callboard.engine.access import Actor
from callboard.engine.errors import NotFound, ServiceError, ValidationFailed
from callboard.engine.tables import call_sessions, members
from callboard.engine.values import parse_datetime
from callboard.forms import screenpop
from callboard.plugins import ProviderError, provider
from callboard.workflows import blacklist, callqueue, callstats
from callboard.workflows.callqueue import now_utc
from callboard.workflows.calls import CallCenter

from ..auth import login_required, require_role, resolve_actor
from ..platform import Platform, platform
from . import api
from .common import json_body, locale

log = logging.getLogger(__name__)
MANAGERS = ("owner", "admin", "supervisor")
TICK_SECONDS = 1.0


class _ProviderFailed(ServiceError):
    def __init__(self, e: ProviderError):
        super().__init__(e.message)
        self.status = e.status


def _release_login_session() -> None:
    """Hand the login's database connection (Flask-AppBuilder's session, used to load the
    user) back to its pool before a call transaction that may wait its turn."""
    db = current_app.extensions.get("sqlalchemy")
    if db is not None:
        db.session.commit()


def _now() -> datetime:
    return (current_app.config.get("CALLBOARD_CLOCK") or now_utc)()


def _provider_name(tenant: Any) -> str:
    return str(tenant.model.settings.telephony.get("provider") or "sim")


def center_for(app: Flask, tenant: Any) -> CallCenter:
    """The tenant's call pipeline, telling agents over the app's event broker."""
    p: Platform = app.extensions["callboard"]
    broker = app.extensions["callboard_events"]
    svc = p.records(tenant)

    def notify(user_id: int, kind: str, data: dict[str, Any]) -> None:
        if kind == "screen_pop":
            data = _pop_for(p, tenant, user_id, data)
        broker.publish(user_id, kind, data)

    # CALLBOARD_CLOCK: a callable giving "now" (tests and demos that replay a day)
    return CallCenter(svc, notify=notify, clock=app.config.get("CALLBOARD_CLOCK") or now_utc)


def _pop_for(p: Platform, tenant: Any, user_id: int, note: dict[str, Any]) -> dict[str, Any]:
    """The screen pop of a call as that agent may see it."""
    member = p.store.member(user_id)
    if member is None or member["tenant_id"] != tenant.id:
        return {"call": note, "known": False}
    actor = Actor(tenant.id, user_id, member["role"], member["team"], member["department"],
                  member["email"])
    svc = p.records(tenant)
    with p.engine.connect() as conn:
        blocked = blacklist.check(svc, note.get("number"), "inbound", conn=conn) is not None \
            if note.get("number") else False
        return screenpop.build(svc, actor, note.get("number"), conn=conn, call=note,
                               locale=tenant.model.settings.locale,
                               record_id=note.get("customer"), blocked=blocked)


# -- provider events ----------------------------------------------------------------------
@api.post("/telephony/<name>/events")
def telephony_events(name: str) -> Any:
    slug = request.args.get("tenant") or request.headers.get("X-Callboard-Tenant")
    if not slug:
        resolve_actor()  # a request naming no tenant must be signed in (401)
    try:
        prov = provider(name)
    except ProviderError as e:
        raise _ProviderFailed(e) from None
    if prov.login:
        if slug:
            resolve_actor()
        tenant = g.tenant
        if _provider_name(tenant) != "sim" or name != "sim":
            require_role(*MANAGERS)
    else:
        tenant = platform().store.get(slug) if slug else g.tenant
        if _provider_name(tenant) != name:
            raise NotFound(f"this tenant does not take events from '{name}'")
    _release_login_session()
    try:
        events = prov.parse(request.get_data(), dict(request.headers),
                            tenant.model.settings.telephony.get("secret"))
    except ProviderError as e:
        raise _ProviderFailed(e) from None
    center = center_for(current_app, tenant)
    if len(events) == 1:
        return jsonify(center.handle(events[0]))
    replies = []
    for event in events:
        try:
            replies.append(center.handle(event))
        except ServiceError as e:
            replies.append({"call_id": event.get("call_id"), **e.body()})
    return jsonify({"replies": replies})


# -- the agent's side ----------------------------------------------------------------------
@api.get("/screen-pop")
@login_required
def screen_pop() -> Any:
    number = (request.args.get("number") or "").strip()
    if not number:
        raise ValidationFailed({"number": ["required: the caller's number"]})
    with platform().engine.connect() as conn:  # one connection for the whole pop
        blocked = blacklist.check(g.records, number, "inbound", conn=conn) is not None
        return jsonify(screenpop.build(g.records, g.actor, number, locale=locale(),
                                       blocked=blocked, conn=conn))


@api.post("/agents/me/status")
@login_required
def my_status() -> Any:
    body = json_body()
    _release_login_session()
    return jsonify(center_for(current_app, g.tenant).set_status(g.actor, body.get("status")))


@api.get("/agents/me/status")
@login_required
def my_current_status() -> Any:
    p = platform()
    with p.engine.connect() as conn:
        me = callqueue.agent(conn, g.tenant.id, g.actor.user_id)
        calls = callqueue.offered_to(conn, g.tenant.id, g.actor.user_id)
    at = me["status_at"] if me else None
    return jsonify({"status": me["status"] if me else "offline",
                    "status_at": at.isoformat() if at else None,
                    "extension": me["extension"] if me else None,
                    "calls": [{"call_id": c.call_id, "state": c.state, "from": c.from_number,
                               "queue": c.queue, "call": c.call_record_id} for c in calls]})


@api.post("/calls/click-to-call")
@login_required
def click_to_call() -> Any:
    body = json_body()
    tenant = g.tenant
    settings = dict(tenant.model.settings.telephony)
    try:
        prov = provider(_provider_name(tenant))
    except ProviderError as e:
        raise _ProviderFailed(e) from None

    def originate(extension: str, number: str) -> dict[str, Any]:
        try:
            return prov.originate(settings, extension, number)
        except ProviderError as e:
            raise _ProviderFailed(e) from None

    _release_login_session()
    center = center_for(current_app, tenant)
    return jsonify(center.click_to_call(g.actor, body.get("number"), originate)), 201


# -- queues and figures ----------------------------------------------------------------------
def _queue(name: str) -> Any:
    queue = g.tenant.model.settings.queues.get(name)
    if queue is None:
        raise NotFound(f"no queue '{name}'")
    return queue


@api.get("/queues")
@login_required
def queue_list() -> Any:
    """The tenant's queues: name, label, callers waiting and the longest wait (seconds)."""
    now = _now()
    items = []
    with platform().engine.connect() as conn:
        for name, queue in g.tenant.model.settings.queues.items():
            rows = callqueue.waiting(conn, g.tenant.id, name)
            since = [callqueue.aware(r.enqueued_at) for r in rows if r.enqueued_at]
            items.append({"queue": name, "label": queue.label.text(locale()),
                          "department": queue.department, "waiting": len(rows),
                          "longest_wait": round(max(((now - t).total_seconds()
                                                     for t in since), default=0.0), 1)})
    return jsonify({"items": items})


@api.get("/queues/<name>")
@login_required
def queue_waiting(name: str) -> Any:
    _queue(name)
    with platform().engine.connect() as conn:
        rows = callqueue.waiting(conn, g.tenant.id, name)
    return jsonify({"queue": name, "waiting": callqueue.waiting_json(rows)})


def _range() -> tuple[datetime | None, datetime | None]:
    out: list[datetime | None] = []
    errors = {}
    for key in ("from", "to"):
        raw = request.args.get(key)
        if not raw:
            out.append(None)
            continue
        try:
            out.append(parse_datetime(raw, g.tenant.model.settings.timezone))
        except (ValueError, TypeError):
            errors[key] = [f"'{raw}' is not a date or ISO date-time"]
    if errors:
        raise ValidationFailed(errors)
    return out[0], out[1]


@api.get("/queues/<name>/stats")
@login_required
def queue_stats(name: str) -> Any:
    require_role(*MANAGERS)
    _queue(name)
    start, end = _range()
    with platform().engine.connect() as conn:
        return jsonify(callstats.queue_figures(conn, g.tenant.model, g.tenant.id, name,
                                               start, end, _now()))


@api.get("/queues/stats")
@login_required
def all_queue_stats() -> Any:
    require_role(*MANAGERS)
    start, end = _range()
    with platform().engine.connect() as conn:
        return jsonify(callstats.all_figures(conn, g.tenant.model, g.tenant.id, start, end,
                                             _now()))


# -- time passing -------------------------------------------------------------------------
def tick_all(app: Flask) -> int:
    """Run the queue's timers (wrap-ups, ring-outs, max_wait) for every tenant with calls
    waiting or agents in wrap-up; returns how many tenants were ticked."""
    p: Platform = app.extensions["callboard"]
    with p.engine.connect() as conn:
        ids = set(conn.execute(select(call_sessions.c.tenant_id).distinct().where(
            call_sessions.c.state.in_(callqueue.WAITING))).scalars())
        ids |= set(conn.execute(select(members.c.tenant_id).distinct().where(
            members.c.status == callqueue.WRAPUP)).scalars())
    for tenant_id in sorted(ids):
        center_for(app, p.store.get(tenant_id)).tick()
    return len(ids)


def _ticker(ref: weakref.ref, stop: threading.Event) -> None:
    while not stop.wait(TICK_SECONDS):
        app = ref()
        if app is None:
            return
        try:
            tick_all(app)
        except Exception:  # keep ticking: the next second may succeed
            log.exception("telephony tick failed")
        del app


def stop_ticker(app: Flask) -> None:
    """Stop the app's ticker thread (an app being thrown away)."""
    stop = app.extensions.get("callboard_ticker")
    if stop is not None:
        stop.set()


@api.record_once
def _start_ticker(state: BlueprintSetupState) -> None:
    """Time passing needs a clock: one daemon thread per app ticks every second (off in
    tests unless CALLBOARD_TICKER is set)."""
    app = state.app
    if app.config.get("CALLBOARD_TICKER", not app.testing):
        stop = app.extensions["callboard_ticker"] = threading.Event()
        threading.Thread(target=_ticker, args=(weakref.ref(app), stop), name="call-ticker",
                         daemon=True).start()
