"""Who is calling: a JWT (API) or a signed-in session (screens) -> an engine Actor."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_login import current_user

from callboard.engine.access import Actor
from callboard.engine.errors import ServiceError, ValidationFailed

from .platform import platform

F = TypeVar("F", bound=Callable[..., Any])


class Unauthorized(ServiceError):
    status = 401


def resolve_actor() -> None:
    """Set g.actor, g.tenant and g.records for the caller, or raise Unauthorized."""
    user_id = None
    if verify_jwt_in_request(optional=True) is not None:
        user_id = int(get_jwt_identity())
    elif getattr(current_user, "is_authenticated", False):
        user_id = int(current_user.id)
        check_csrf()
    if user_id is None:
        raise Unauthorized("not signed in: send Authorization: Bearer TOKEN")
    p = platform()
    member = p.store.member(user_id)
    if member is None or not member["active"]:
        raise Unauthorized("this login belongs to no tenant")
    g.tenant = p.store.get(member["tenant_id"])
    g.actor = Actor(member["tenant_id"], user_id, member["role"], member["team"],
                    member["department"], member["email"])
    g.member = member
    g.records = p.records(g.tenant)


def check_csrf() -> None:
    """A write signed in by the session cookie (the screens) must carry the page's CSRF
    token (header `X-CSRFToken`, or the form field `csrf_token`): another site can make a
    browser send the cookie, not the token. Bearer-token callers need none."""
    if request.method in ("GET", "HEAD", "OPTIONS") or \
            not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    from flask_wtf.csrf import ValidationError, validate_csrf

    token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token", "")
    try:
        validate_csrf(token)
    except ValidationError as e:
        raise CsrfFailed(f"{str(e).rstrip('.')}: reload the page and try again") from None


class CsrfFailed(ServiceError):
    status = 403


def login_required(fn: F) -> F:
    """API views: resolve the actor first; 401 JSON when there is none."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        resolve_actor()
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_login_payload() -> None:
    """Before FAB's login API: a malformed body is a 4xx naming the field (FAB itself
    answers 500 to a body without `provider` and trusts the types of the others)."""
    if request.method != "POST" or request.path != "/api/v1/security/login":
        return
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed({"_": ['send {"username": E-MAIL, "password": P, '
                                      '"provider": "db"} as JSON']})
    errors: dict[str, list[str]] = {}
    for key in ("username", "password"):
        if not isinstance(body.get(key), str):
            errors[key] = ["required: a string"]
        elif "\x00" in body[key]:
            errors[key] = ["may not contain NUL characters"]
    if body.get("provider") != "db":
        errors["provider"] = ['must be "db"']
    if errors:
        raise ValidationFailed(errors)


def require_role(*roles: str) -> None:
    from callboard.engine.errors import Forbidden

    if g.actor.role not in roles:
        raise Forbidden(f"needs the role {' or '.join(roles)}")
