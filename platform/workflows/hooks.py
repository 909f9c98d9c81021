"""Ticket behaviour that runs inside the record service's transaction.

- SLA: `sla.respond` and `sla.resolve` of the ticket's type set `respond_by` and `due_at`
  on the tenant's business calendar; states with `pause_sla: true` stop the clock and the
  deadlines move by the business time spent there; the first move out of the initial
  state is the first response.
- A ticket created with a `call` link takes the caller's customer, and the call records
  the ticket, so it shows in the call's and the customer's related lists.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from callboard.engine.access import Actor, system_actor
from callboard.engine.model import Entity
from callboard.engine.records import Change, RecordHook, RecordService
from callboard.engine.tables import records
from callboard.engine.tenancy import Tenant
from callboard.engine.values import format_datetime, parse_datetime

from .calendar import add_business_time, add_sla, business_seconds_between
from .knowledge import KnowledgeHook


def _now() -> datetime:
    return datetime.now(UTC)


class SlaHook:
    """Due dates from the ticket type's SLA, on the business calendar."""

    def before_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                    data: dict[str, Any], before: Mapping[str, Any]) -> None:
        if entity.name != "ticket":
            return
        tt = svc.model.ticket_types.get(data.get("type") or "")
        if tt is None:
            return
        settings = svc.model.settings
        schedule = settings.schedules.get(tt.sla.schedule) if tt.sla else None
        now = _now()
        if not before:
            if tt.sla and tt.sla.respond is not None:
                data["respond_by"] = format_datetime(
                    add_sla(now, tt.sla.respond, schedule, settings.timezone))
            if tt.sla and tt.sla.resolve is not None and not data.get("due_at"):
                data["due_at"] = format_datetime(
                    add_sla(now, tt.sla.resolve, schedule, settings.timezone))
            return
        old, new = before.get("status"), data.get("status")
        if old == new:
            return
        if old == tt.workflow.initial and not data.get("responded_at"):
            data["responded_at"] = format_datetime(now)
        states = tt.workflow.states
        was_paused = old in states and states[old].pause_sla
        now_paused = new in states and states[new].pause_sla
        if now_paused and not was_paused:
            data["sla_paused_at"] = format_datetime(now)
        elif was_paused and not now_paused and data.get("sla_paused_at"):
            since = parse_datetime(data.pop("sla_paused_at"))
            spent = business_seconds_between(since, now, schedule, settings.timezone)
            for key in ("due_at", "respond_by"):
                if data.get(key) and not (key == "respond_by" and data.get("responded_at")):
                    moved = add_business_time(parse_datetime(data[key]), spent, schedule,
                                              settings.timezone)
                    data[key] = format_datetime(moved)

    def after_save(self, *args: Any) -> None:
        return None


class CallTicketHook:
    """A ticket made from a call is linked both ways and carries the caller."""

    def before_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                    data: dict[str, Any], before: Mapping[str, Any]) -> None:
        if entity.name != "ticket" or before or not data.get("call") or data.get("customer"):
            return
        call = tx.execute(select(records.c.data).where(
            records.c.id == data["call"], records.c.tenant_id == svc.tenant.id)).first()
        if call and call.data.get("customer"):
            data["customer"] = call.data["customer"]

    def after_save(self, svc: RecordService, tx: Connection, actor: Actor, entity: Entity,
                   record: dict[str, Any], before: Mapping[str, Any] | None) -> None:
        if entity.name != "ticket" or before is not None or not record.get("call"):
            return
        svc.update(system_actor(svc.tenant.id), "call", record["call"],
                   {"ticket": record["id"]}, action="ticket", conn=tx)


def default_hooks() -> Sequence[RecordHook]:
    return (SlaHook(), CallTicketHook(), KnowledgeHook())


def records_service(engine: Engine, tenant: Tenant, *,
                    listeners: Sequence[Callable[[Change], None]] = ()) -> RecordService:
    """A record service with the platform's ticket behaviour: use it for every write."""
    return RecordService(engine, tenant, hooks=default_hooks(), listeners=listeners)
