"""Small helpers shared by the API views: reading JSON bodies and query arguments."""
from __future__ import annotations

from typing import Any

from flask import g, request

from callboard.engine.errors import ValidationFailed
from callboard.engine.queries import Query, filterable_fields, parse_query

from . import api


def has_nul(value: Any) -> bool:
    """Whether a string anywhere in `value` (a JSON document) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


@api.before_request
def reject_nul() -> None:
    """NUL is no character anyone types, and PostgreSQL cannot store or compare it: refuse
    it at the door (422) rather than answer 500 from the database."""
    body = request.get_json(silent=True) if request.is_json else None
    if has_nul(list(request.args.items(multi=True))) or has_nul(body) \
            or has_nul(list((request.view_args or {}).values())):
        raise ValidationFailed({"_": ["text may not contain NUL characters (\\u0000)"]})


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
