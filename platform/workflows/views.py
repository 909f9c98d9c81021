"""Ticket views (CONTRACT §4): named slices of the tickets a user may see."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from callboard.engine.access import Actor
from callboard.engine.db import json_field
from callboard.engine.errors import ValidationFailed
from callboard.engine.model import TenantModel
from callboard.engine.tables import record_links, records
from callboard.engine.values import format_datetime

VIEWS = ("all", "mine", "to_handle", "overdue", "unprocessed", "created_by_me", "following")


def final_states(model: TenantModel) -> set[str]:
    return {s.name for tt in model.ticket_types.values()
            for s in tt.workflow.states.values() if s.final}


def initial_states(model: TenantModel) -> set[str]:
    return {tt.workflow.initial for tt in model.ticket_types.values()}


def _linked(field: str, user_id: int | None) -> ColumnElement[bool]:
    return exists().where(record_links.c.from_id == records.c.id,
                          record_links.c.field == field, record_links.c.to_entity == "user",
                          record_links.c.to_id == (user_id or -1))


def view_conditions(view: str, actor: Actor, model: TenantModel,
                    dialect: str) -> list[ColumnElement[bool]]:
    """SQL conditions for `view` (combined with the visibility scope and any filters)."""
    if view not in VIEWS:
        raise ValidationFailed({"view": [f"unknown view '{view}' ({', '.join(VIEWS)})"]})
    # "open" as the states that are not final: an IN list can use the status index
    finals = final_states(model)
    states = {s.name for tt in model.ticket_types.values()
              for s in tt.workflow.states.values()} - finals
    open_ = records.c.status.in_(sorted(states) or ["-"])
    if view == "all":
        return []
    if view == "mine":
        return [_linked("assignee", actor.user_id)]
    if view == "to_handle":
        unassigned_here = and_(
            not_(exists().where(record_links.c.from_id == records.c.id,
                                record_links.c.field == "assignee")),
            json_field(dialect, "department") == (actor.department or "-"))
        return [open_, or_(_linked("assignee", actor.user_id), unassigned_here)]
    if view == "overdue":
        now = format_datetime(datetime.now(UTC))
        return [open_, json_field(dialect, "due_at", "datetime") < now]
    if view == "unprocessed":
        return [records.c.status.in_(initial_states(model) or {"-"})]
    if view == "created_by_me":
        return [records.c.created_by == actor.user_id]
    return [_linked("watchers", actor.user_id)]


__all__: list[Any] = ["VIEWS", "view_conditions"]
