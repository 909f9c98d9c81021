"""Supervisor figures per queue, over a time range (calls that entered the queue in it).

- `waiting` / `longest_wait`: calls in the queue now, and how long the first has waited;
- `entered`, `answered`, `abandoned` (hung up while waiting), `timed_out` (max_wait);
- `service_level`: answered within SERVICE_SECONDS of entering, over the calls that left the
  queue (answered + abandoned + timed out), as a fraction 0..1 (None without calls);
- `asa`: average speed of answer, seconds from entering the queue to the answer;
- `abandon_rate`: abandoned over the calls that left the queue;
- `aht`: average handle time, talk seconds plus the queue's wrap-up seconds;
- `agents`: the agents who serve the queue by status.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from callboard.engine.model import TenantModel
from callboard.engine.tables import call_sessions, members

from .callqueue import WAITING, aware, now_utc, serves

SERVICE_SECONDS = 20


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def queue_figures(conn: Connection, model: TenantModel, tenant_id: int, queue: str,
                  start: datetime | None = None, end: datetime | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """The figures of one queue (see the module docstring)."""
    now = now or now_utc()
    q = model.settings.queues.get(queue)
    wrapup = q.wrapup if q else 0.0
    cond = [call_sessions.c.tenant_id == tenant_id, call_sessions.c.queue == queue,
            call_sessions.c.enqueued_at.is_not(None)]
    if start is not None:
        cond.append(call_sessions.c.enqueued_at >= start)
    if end is not None:
        cond.append(call_sessions.c.enqueued_at < end)
    rows = conn.execute(select(
        call_sessions.c.state, call_sessions.c.result, call_sessions.c.enqueued_at,
        call_sessions.c.answered_at, call_sessions.c.ended_at, call_sessions.c.duration)
        .where(*cond)).all()
    waiting_now = conn.execute(select(call_sessions.c.enqueued_at).where(
        call_sessions.c.tenant_id == tenant_id, call_sessions.c.queue == queue,
        call_sessions.c.state.in_(WAITING))).scalars().all()
    answered = [r for r in rows if r.answered_at is not None]
    abandoned = [r for r in rows if r.answered_at is None and r.result == "abandoned"]
    timed_out = [r for r in rows if r.answered_at is None and r.result == "timeout"]
    left = len(answered) + len(abandoned) + len(timed_out)
    speeds = [(aware(r.answered_at) - aware(r.enqueued_at)).total_seconds() for r in answered]
    talks = []
    for r in answered:
        if r.duration is not None:
            talks.append(float(r.duration))
        elif r.ended_at is not None:
            talks.append((aware(r.ended_at) - aware(r.answered_at)).total_seconds())
    agents = Counter(row.status for row in conn.execute(select(members.c.status).where(
        members.c.tenant_id == tenant_id, members.c.active.is_(True),
        members.c.role.in_(("agent", "supervisor")),
        serves(q.department if q else None))))
    longest = max(((now - aware(t)).total_seconds() for t in waiting_now), default=0.0)
    return {
        "queue": queue,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "waiting": len(waiting_now),
        "longest_wait": round(max(0.0, longest), 1),
        "entered": len(rows),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "timed_out": len(timed_out),
        "service_level": round(sum(1 for s in speeds if s <= SERVICE_SECONDS) / left, 3)
        if left else None,
        "service_seconds": SERVICE_SECONDS,
        "asa": _mean(speeds),
        "abandon_rate": round(len(abandoned) / left, 3) if left else None,
        "aht": _mean([t + wrapup for t in talks]),
        "agents": dict(sorted(agents.items())),
    }


def all_figures(conn: Connection, model: TenantModel, tenant_id: int,
                start: datetime | None = None, end: datetime | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """The figures of every queue of the tenant."""
    now = now or now_utc()
    return {"items": [queue_figures(conn, model, tenant_id, name, start, end, now)
                      for name in model.settings.queues]}
