"""Small helpers shared by the API views: reading JSON bodies and query arguments."""
from __future__ import annotations

from typing import Any

from flask import g, request

from callboard.engine.errors import ValidationFailed
from callboard.engine.queries import Query, filterable_fields, parse_query


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 422 saying what is wrong with it."""
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationFailed({"_": ["expected a JSON object (Content-Type: application/json)"]})
    if not isinstance(body, dict):
        raise ValidationFailed({"_": ["expected a JSON object"]})
    return body


def list_query(entity: str, *, extra: tuple[str, ...] = ()) -> Query:
    ent = g.records.entity(entity)
    return parse_query(list(request.args.items(multi=True)),
                       filterable_fields(g.records.model, ent), extra=extra)


def locale() -> str:
    want = request.args.get("locale") or request.accept_languages.best_match(
        list(g.tenant.model.settings.locales))
    return want or g.tenant.model.settings.locale
