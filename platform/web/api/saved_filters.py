"""Named filter sets, personal or shared with the team."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import insert, or_, select

from callboard.engine.errors import ValidationFailed
from callboard.engine.queries import ConditionBuilder, filterable_fields, parse_query
from callboard.engine.tables import saved_filters

from ..auth import login_required
from . import api
from .common import json_body


@api.post("/saved-filters")
@login_required
def save_filter() -> Any:
    body = json_body()
    errors: dict[str, list[str]] = {}
    entity, name, filters = body.get("entity"), body.get("name"), body.get("filters", {})
    if not isinstance(entity, str) or not entity.strip():
        errors["entity"] = ["required"]
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["required"]
    if not isinstance(filters, dict):
        errors["filters"] = ["must be an object of field__op: value"]
    if errors:
        raise ValidationFailed(errors)
    ent = g.records.entity(entity)
    fields = filterable_fields(g.records.model, ent)
    query = parse_query(filters, fields)  # 422 when a field or an operator is bad
    # ... or a value: the filter must run as it was saved
    ConditionBuilder(g.records.dialect, fields, g.records.context(g.actor)).conditions(query)
    row = dict(tenant_id=g.tenant.id, user_id=g.actor.user_id, entity=ent.name,
               name=name.strip()[:200], filters=filters, shared=bool(body.get("shared")),
               team=g.actor.team, created_at=datetime.now(UTC))
    with g.records.engine.begin() as conn:
        fid = conn.execute(insert(saved_filters).values(**row)
                           .returning(saved_filters.c.id)).scalar_one()
    return jsonify(_out({**row, "id": fid})), 201


@api.get("/saved-filters")
@login_required
def list_filters() -> Any:
    q = select(saved_filters).where(
        saved_filters.c.tenant_id == g.tenant.id,
        or_(saved_filters.c.user_id == g.actor.user_id,
            saved_filters.c.shared & (saved_filters.c.team == g.actor.team)
            if g.actor.team else saved_filters.c.user_id == g.actor.user_id))
    if request.args.get("entity"):
        q = q.where(saved_filters.c.entity == request.args["entity"])
    with g.records.engine.connect() as conn:
        rows = [_out(dict(r._mapping)) for r in conn.execute(q.order_by(saved_filters.c.id))]
    return jsonify({"items": rows, "total": len(rows)})


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "entity": row["entity"], "name": row["name"],
            "filters": row["filters"], "shared": row["shared"], "owner": row["user_id"]}
