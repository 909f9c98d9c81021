"""Run a workflow transition on any entity that has a workflow (tickets, kb articles…).

A transition checks, in this order: the record is visible (404), the transition exists
(404), it may leave the current state (409), the actor's role may run it (403), then the
fields it brings, its `require` list and its `when` guard (422). A transfer moves the
record to a department and/or an assignee; a department with an assignment rule picks
the assignee itself. Everything lands in one transaction and one activity entry.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from callboard.engine import expressions as ex
from callboard.engine.access import Actor
from callboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callboard.engine.model import Transition, Workflow
from callboard.engine.records import RecordService
from callboard.engine.values import format_datetime

from .assignment import pick_assignee

SUPERUSERS = ("owner", "system")


def workflow_of(svc: RecordService, entity: str, record: Mapping[str, Any]) -> Workflow:
    wf = svc.model.workflow_for(entity, record.get("type"))
    if wf is None:
        raise NotFound(f"{entity} has no workflow")
    return wf


def available(svc: RecordService, actor: Actor, entity: str,
              record: Mapping[str, Any]) -> list[Transition]:
    """Transitions the actor could run from the record's current state."""
    wf = svc.model.workflow_for(entity, record.get("type"))
    if wf is None:
        return []
    return [t for t in wf.available(record.get("status") or "")
            if not t.roles or actor.role in t.roles or actor.role in SUPERUSERS]


def run_transition(svc: RecordService, actor: Actor, entity: str, record_id: Any, name: str,
                   body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Apply transition `name` to the record; returns the updated record."""
    body = body or {}
    if not isinstance(body, Mapping):
        raise ValidationFailed({"_": ["expected a JSON object"]})
    record = svc.get(actor, entity, record_id)
    wf = workflow_of(svc, entity, record)
    t = wf.transitions.get(name)
    if t is None:
        raise NotFound(f"no transition '{name}' for this {entity} "
                       f"({', '.join(wf.transitions) or 'none'})")
    state = record.get("status")
    if state not in t.sources:
        possible = ", ".join(x.name for x in wf.available(state or "")) or "none"
        raise Conflict(f"'{name}' cannot be done from '{state}' (possible now: {possible})")
    if t.roles and actor.role not in t.roles and actor.role not in SUPERUSERS:
        raise Forbidden(f"'{name}' needs the role {' or '.join(t.roles)}")
    values, comment = _values(svc, actor, t, body)
    final = wf.states[t.target].final or t.target == "resolved"
    if entity == "ticket":  # when it was resolved: kept on close, cleared on reopen
        values["resolved_at"] = (record.get("resolved_at") or format_datetime(
            datetime.now(UTC))) if final else None
    with svc.transaction() as tx:  # a refused transition is rolled back and never told
        department = values.get("department")
        if t.transfer and department and "assignee" not in values:
            values["assignee"] = pick_assignee(tx, svc.tenant, department)
        updated = svc.update(actor, entity, record["id"], values, version=record["version"],
                             action=f"transition:{name}"[:32], comment=comment,
                             allow={"status", "resolved_at"}, conn=tx)
        _check(t, updated)
    return updated


def _values(svc: RecordService, actor: Actor, t: Transition,
            body: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    errors: dict[str, list[str]] = {}
    fields = body.get("fields") or {}
    if not isinstance(fields, Mapping):
        errors["fields"] = ["must be an object of field: value"]
        fields = {}
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors["comment"] = ["must be text"]
    values: dict[str, Any] = {k: v for k, v in fields.items() if k != "status"}
    department, assignee = body.get("department"), body.get("assignee")
    if (department or assignee) and not t.transfer:
        errors["_"] = [f"'{t.name}' is not a transfer; it takes no department or assignee"]
    if t.transfer:
        if not department and not assignee:
            errors["department"] = ["a transfer needs a department and/or an assignee"]
        departments = svc.model.settings.departments
        if department:
            if department not in departments:
                errors["department"] = [f"no department '{department}' "
                                        f"({', '.join(departments)})"]
            values["department"] = department
        if assignee:
            user = svc.resolve_user(assignee, actor)
            if user is None:
                errors["assignee"] = [f"no user '{assignee}' in this tenant"]
            values["assignee"] = user
    if errors:
        raise ValidationFailed(errors)
    values["status"] = t.target
    return values, (comment or None)


def _check(t: Transition, record: Mapping[str, Any]) -> None:
    """`require` and `when`, judged on the record as the transition leaves it."""
    missing = {f: [f"required to {t.label.text()}"] for f in t.require
               if record.get(f) in (None, "", [])}
    if missing:
        raise ValidationFailed(missing)
    if t.when is not None and not ex.evaluate(t.when, record):
        raise ValidationFailed({"_": [f"'{t.name}' is not allowed now: {t.when.source}"]})
