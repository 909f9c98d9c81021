"""Generic record endpoints: the same views serve every entity of every tenant."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify

from callboard.engine.errors import NotFound, ValidationFailed

from ..auth import login_required
from . import api
from .common import json_body, list_query

MAX_ID = 2**63 - 1  # ids are 64-bit integers in every database


@api.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id no database column can hold names no record: 404, not an overflow (500)."""
    record_id = (values or {}).get("record_id")
    if isinstance(record_id, int) and record_id > MAX_ID:
        raise NotFound(f"no record {record_id}")


@api.get("/records/<entity>")
@login_required
def list_records(entity: str) -> Any:
    return jsonify(g.records.list(g.actor, entity, list_query(entity)).json())


@api.post("/records/<entity>")
@login_required
def create_record(entity: str) -> Any:
    return jsonify(g.records.create(g.actor, entity, json_body())), 201


@api.get("/records/<entity>/<int:record_id>")
@login_required
def get_record(entity: str, record_id: int) -> Any:
    return jsonify(g.records.get(g.actor, entity, record_id))


@api.patch("/records/<entity>/<int:record_id>")
@login_required
def update_record(entity: str, record_id: int) -> Any:
    body = json_body()
    version = body.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationFailed({"version": ["must be a whole number"]})
    return jsonify(g.records.update(g.actor, entity, record_id, body, version=version))


@api.delete("/records/<entity>/<int:record_id>")
@login_required
def delete_record(entity: str, record_id: int) -> Any:
    g.records.delete(g.actor, entity, record_id)
    return "", 204


@api.post("/records/<entity>/<int:record_id>/claim")
@login_required
def claim_record(entity: str, record_id: int) -> Any:
    return jsonify(g.records.claim(g.actor, entity, record_id))


@api.get("/records/<entity>/<int:record_id>/activity")
@login_required
def record_activity(entity: str, record_id: int) -> Any:
    return jsonify({"items": g.records.activity(g.actor, entity, record_id)})


@api.get("/records/<entity>/<int:record_id>/related/<other>")
@login_required
def related_records(entity: str, record_id: int, other: str) -> Any:
    page = g.records.related(g.actor, entity, record_id, other, list_query(other))
    return jsonify(page.json())
