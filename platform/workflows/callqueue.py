"""The call queue and the agents who serve it.

Rules (Asterisk's app_queue):
- a waiting call is served before every call of lower customer priority, and after every
  call of equal or higher priority that arrived before it (higher first, FIFO among equals);
- a call is offered to the longest-idle `ready` agent who serves its queue (for a queue with
  `strategy: fewest_calls`, the one with the fewest calls answered in the last 24 hours,
  then the longest idle; `ring_all` is served one agent at a time, longest idle): an agent whose
  `department` is the queue's department, or an agent with no department (who serves
  every queue); a queue without a department is served by every agent;
- the offered agent turns `busy` at once, so it is never offered two calls, and the call
  turns `offered`, so it is never offered to two agents. On PostgreSQL the rows are taken
  with `SELECT … FOR UPDATE SKIP LOCKED`; on SQLite the whole step holds the write lock
  (`BEGIN IMMEDIATE`);
- after a call the agent is in `wrapup` for the queue's wrap-up seconds, then `ready`;
  while in wrap-up, `members.status_at` holds the moment the wrap-up ends;
- an offer nobody answers within RING_SECONDS goes back to the queue (at its place) and
  the agent is paused, as Asterisk's autopause does; a caller who waits longer than the
  queue's `max_wait` leaves the queue with the result `timeout`.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from callboard.engine.errors import Conflict, ValidationFailed
from callboard.engine.model import Queue, TenantModel
from callboard.engine.tables import call_sessions, members

READY, PAUSED, OFFLINE, BUSY, WRAPUP = "ready", "paused", "offline", "busy", "wrapup"
AGENT_SETTABLE = (READY, PAUSED, OFFLINE)   # busy and wrapup are the system's
WAITING = ("queued", "offered")             # states of a call that is in a queue
RING_SECONDS = 20.0
GATE_POSTGRESQL = 4


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; every stamp we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


_gates: weakref.WeakKeyDictionary[Engine, threading.BoundedSemaphore] = \
    weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()


@contextmanager
def gate(engine: Engine) -> Iterator[None]:
    """Admit a bounded number of this process's call transactions at once (one on SQLite,
    whose writes are serial anyway; GATE_POSTGRESQL on PostgreSQL), before they take a
    connection: threads queue here instead of holding pooled connections while they wait
    for a lock, so a burst of events cannot exhaust the pool."""
    with _gates_lock:
        sem = _gates.get(engine)
        if sem is None:
            size = 1 if engine.dialect.name == "sqlite" else GATE_POSTGRESQL
            sem = _gates[engine] = threading.BoundedSemaphore(size)
    with sem:
        yield


@contextmanager
def serialised(tx: Connection) -> Iterator[Connection]:
    """Take SQLite's write lock before the first read of `tx` (a no-op on PostgreSQL,
    where the rows themselves are locked)."""
    if tx.dialect.name == "sqlite" and not tx.connection.dbapi_connection.in_transaction:
        tx.exec_driver_sql("BEGIN IMMEDIATE")
    yield tx


@dataclass(frozen=True)
class Offer:
    """A call offered to an agent."""

    call_id: str
    user_id: int
    extension: str | None
    queue: str


def _skip_locked(q: Any, tx: Connection) -> Any:
    return q.with_for_update(skip_locked=True) if tx.dialect.name == "postgresql" else q


def serves(queue_department: str | None) -> Any:
    """The members who serve a queue of that department (see the module's rules)."""
    if not queue_department:
        return True
    return or_(members.c.department.is_(None), members.c.department == queue_department)


# -- agents -------------------------------------------------------------------------------
def set_status(tx: Connection, tenant_id: int, user_id: int, status: str,
               now: datetime | None = None) -> dict[str, Any]:
    """An agent's own change: ready, paused or offline (paused/offline: 409 while a call
    rings or is in progress; ready then changes nothing); going ready cuts a wrap-up
    short."""
    if status not in AGENT_SETTABLE:
        raise ValidationFailed({"status": [f"must be one of {', '.join(AGENT_SETTABLE)} "
                                           "(busy and wrapup are set by the system)"]})
    now = now or now_utc()
    q = select(members).where(members.c.tenant_id == tenant_id, members.c.user_id == user_id)
    if tx.dialect.name == "postgresql":
        q = q.with_for_update()
    row = tx.execute(q).first()
    if row is None:
        raise ValidationFailed({"agent": ["not a member of this tenant"]})
    if row.status == BUSY and status == READY:
        return _agent(row)  # taking calls already
    if row.status == BUSY:
        raise Conflict("you have a call ringing or in progress; change your status after it")
    if row.status != status:
        tx.execute(update(members).where(members.c.user_id == user_id)
                   .values(status=status, status_at=now))
    return {**_agent(row), "status": status, "status_at": now}


def _agent(row: Any) -> dict[str, Any]:
    return {"user_id": row.user_id, "email": row.email, "extension": row.extension,
            "department": row.department, "status": row.status,
            "status_at": aware(row.status_at)}


def agent(conn: Connection, tenant_id: int, user_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(members).where(members.c.tenant_id == tenant_id,
                                             members.c.user_id == user_id)).first()
    return _agent(row) if row else None


def release_wrapups(tx: Connection, tenant_id: int, now: datetime) -> int:
    """Agents whose wrap-up is over become ready (idle since the wrap-up ended)."""
    done = tx.execute(update(members).where(
        members.c.tenant_id == tenant_id, members.c.status == WRAPUP,
        members.c.status_at <= now).values(status=READY))
    return done.rowcount or 0


def after_call(tx: Connection, tenant_id: int, user_id: int, wrapup_seconds: float,
               now: datetime) -> None:
    """The agent's call is over: wrap-up for the queue's seconds (or ready at once)."""
    if wrapup_seconds > 0:
        values = {"status": WRAPUP, "status_at": now + timedelta(seconds=wrapup_seconds)}
    else:
        values = {"status": READY, "status_at": now}
    tx.execute(update(members).where(members.c.tenant_id == tenant_id,
                                     members.c.user_id == user_id,
                                     members.c.status == BUSY).values(**values))


def make_busy(tx: Connection, tenant_id: int, user_id: int, now: datetime) -> None:
    tx.execute(update(members).where(members.c.tenant_id == tenant_id,
                                     members.c.user_id == user_id)
               .values(status=BUSY, status_at=now))


# -- the queue ------------------------------------------------------------------------------
def service_order() -> tuple[Any, ...]:
    """Higher customer priority first, arrival order among equals."""
    return (call_sessions.c.priority.desc(), call_sessions.c.enqueued_at,
            call_sessions.c.id)


def waiting(conn: Connection, tenant_id: int, queue: str) -> list[Any]:
    """The calls waiting in `queue` (offered ones too), in service order."""
    return list(conn.execute(select(call_sessions).where(
        call_sessions.c.tenant_id == tenant_id, call_sessions.c.queue == queue,
        call_sessions.c.state.in_(WAITING)).order_by(*service_order())))


def dispatch(tx: Connection, tenant_id: int, model: TenantModel,
             now: datetime | None = None, *, limit: int = 50) -> list[Offer]:
    """Offer waiting calls to free agents, best call first, until either runs out.

    A queue nobody free serves is set aside at once (the agent depends only on the queue),
    so one pass costs a few queries whatever the number of callers waiting."""
    now = now or now_utc()
    release_wrapups(tx, tenant_id, now)
    offers: list[Offer] = []
    unserved: list[str] = []
    while len(offers) < limit:
        anyone = tx.execute(select(members.c.user_id).where(
            members.c.tenant_id == tenant_id, members.c.status == READY).limit(1)).first()
        if anyone is None:
            break
        q = select(call_sessions).where(
            call_sessions.c.tenant_id == tenant_id, call_sessions.c.state == "queued",
            call_sessions.c.queue.not_in(unserved) if unserved else True,
        ).order_by(*service_order()).limit(1)
        call = tx.execute(_skip_locked(q, tx)).first()
        if call is None:
            break
        queue = model.settings.queues.get(call.queue or "")
        found = tx.execute(_skip_locked(select(members).where(
            members.c.tenant_id == tenant_id, members.c.status == READY,
            serves(queue.department if queue else None),
        ).order_by(*_agent_order(tenant_id, queue, now)).limit(1), tx)).first()
        if found is None:
            unserved.append(call.queue or "")  # nobody free for this queue; others may be
            continue
        tx.execute(update(members).where(members.c.user_id == found.user_id)
                   .values(status=BUSY, status_at=now))
        tx.execute(update(call_sessions).where(call_sessions.c.id == call.id).values(
            state="offered", offered_to=found.user_id, offered_at=now, updated_at=now))
        offers.append(Offer(call.call_id, found.user_id, found.extension, call.queue or ""))
    return offers


def _agent_order(tenant_id: int, queue: Queue | None, now: datetime) -> tuple[Any, ...]:
    """Longest idle first; `fewest_calls` queues first prefer the agent who answered the
    fewest calls in the last 24 hours."""
    idle = (members.c.status_at.asc().nulls_first(), members.c.user_id)
    if queue is None or queue.strategy != "fewest_calls":
        return idle
    taken = select(func.count()).where(
        call_sessions.c.tenant_id == tenant_id, call_sessions.c.agent_id == members.c.user_id,
        call_sessions.c.answered_at >= now - timedelta(days=1)).scalar_subquery()
    return (taken, *idle)


def expire(tx: Connection, tenant_id: int, model: TenantModel,
           now: datetime | None = None) -> tuple[list[Any], list[Any]]:
    """Offers that rang out go back to the queue (agent paused); callers past `max_wait`
    leave it. Returns (rung-out calls, timed-out calls) as they were."""
    now = now or now_utc()
    rung = list(tx.execute(_skip_locked(select(call_sessions).where(
        call_sessions.c.tenant_id == tenant_id, call_sessions.c.state == "offered",
        call_sessions.c.offered_at <= now - timedelta(seconds=RING_SECONDS)), tx)))
    for call in rung:
        tx.execute(update(call_sessions).where(call_sessions.c.id == call.id).values(
            state="queued", offered_to=None, offered_at=None, updated_at=now))
        tx.execute(update(members).where(members.c.tenant_id == tenant_id,
                                         members.c.user_id == call.offered_to,
                                         members.c.status == BUSY)
                   .values(status=PAUSED, status_at=now))
    queued = list(tx.execute(_skip_locked(select(call_sessions).where(
        call_sessions.c.tenant_id == tenant_id, call_sessions.c.state.in_(WAITING),
        call_sessions.c.enqueued_at.is_not(None)), tx)))
    timed_out = []
    for call in queued:
        limit = call.max_wait
        if limit is None:
            q = model.settings.queues.get(call.queue or "")
            limit = q.max_wait if q else None
        if limit is None or aware(call.enqueued_at) + timedelta(seconds=limit) > now:
            continue
        if call.state == "offered" and call.offered_to is not None:
            tx.execute(update(members).where(members.c.tenant_id == tenant_id,
                                             members.c.user_id == call.offered_to,
                                             members.c.status == BUSY)
                       .values(status=READY))
        tx.execute(update(call_sessions).where(call_sessions.c.id == call.id).values(
            state="ended", result="timeout", ended_at=now, offered_to=None, updated_at=now))
        timed_out.append(call)
    return rung, timed_out


def waiting_json(rows: list[Any]) -> list[Mapping[str, Any]]:
    """The CONTRACT §4 shape of waiting calls."""
    return [{"call_id": r.call_id, "from": r.from_number, "priority": r.priority,
             "since": aware(r.enqueued_at).isoformat() if r.enqueued_at else None,
             "state": r.state, "offered_to": r.offered_to} for r in rows]


def offered_to(conn: Connection, tenant_id: int, user_id: int) -> list[Any]:
    """The calls offered to, or answered by, an agent now."""
    return list(conn.execute(select(call_sessions).where(
        call_sessions.c.tenant_id == tenant_id,
        or_(and_(call_sessions.c.state == "offered", call_sessions.c.offered_to == user_id),
            and_(call_sessions.c.state == "answered", call_sessions.c.agent_id == user_id)))))

