"""Workflow transitions on any entity, ticket views, and following a ticket."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from callboard.engine.errors import ValidationFailed
from callboard.forms.meta import label
from callboard.workflows.transitions import available, run_transition
from callboard.workflows.views import view_conditions

from ..auth import login_required
from . import api
from .common import list_query, locale


@api.post("/records/<entity>/<int:record_id>/transitions/<name>")
@login_required
def transition(entity: str, record_id: int, name: str) -> Any:
    body = request.get_json(silent=True) if request.get_data() else {}
    if body is None:
        raise ValidationFailed({"_": ["expected a JSON object"]})
    return jsonify(run_transition(g.records, g.actor, entity, record_id, name, body))


@api.get("/records/<entity>/<int:record_id>/transitions")
@login_required
def transitions(entity: str, record_id: int) -> Any:
    record = g.records.get(g.actor, entity, record_id)
    loc = locale()
    return jsonify({"state": record.get("status"), "items": [
        {"name": t.name, "label": label(t.label, loc), "to": t.target,
         "require": list(t.require), "transfer": t.transfer}
        for t in available(g.records, g.actor, entity, record)]})


@api.get("/tickets")
@login_required
def tickets() -> Any:
    view = request.args.get("view", "all")
    extra = view_conditions(view, g.actor, g.tenant.model, g.records.dialect)
    page = g.records.list(g.actor, "ticket", list_query("ticket", extra=("view",)), extra=extra)
    return jsonify({**page.json(), "view": view})


@api.post("/records/ticket/<int:record_id>/follow")
@login_required
def follow(record_id: int) -> Any:
    ticket = g.records.get(g.actor, "ticket", record_id)
    watchers = [w for w in ticket.get("watchers", []) if w != g.actor.user_id]
    return jsonify(g.records.update(g.actor, "ticket", record_id,
                                    {"watchers": [*watchers, g.actor.user_id]},
                                    action="follow"))


@api.delete("/records/ticket/<int:record_id>/follow")
@login_required
def unfollow(record_id: int) -> Any:
    ticket = g.records.get(g.actor, "ticket", record_id)
    watchers = [w for w in ticket.get("watchers", []) if w != g.actor.user_id]
    return jsonify(g.records.update(g.actor, "ticket", record_id, {"watchers": watchers},
                                    action="unfollow"))
