"""Who is calling: a JWT (API) or a signed-in session (screens) -> an engine Actor."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_login import current_user

from callboard.engine.access import Actor
from callboard.engine.errors import ServiceError

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


def login_required(fn: F) -> F:
    """API views: resolve the actor first; 401 JSON when there is none."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        resolve_actor()
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_role(*roles: str) -> None:
    from callboard.engine.errors import Forbidden

    if g.actor.role not in roles:
        raise Forbidden(f"needs the role {' or '.join(roles)}")
