"""What every screen shares: who is signed in, the tenant's menu, the language, rendering."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale, refresh
from flask_login import current_user, logout_user
from flask_wtf.csrf import generate_csrf

from callboard.engine.errors import ServiceError
from callboard.engine.model import TenantModel

from ..auth import Unauthorized, resolve_actor
from .strings import js_strings

F = TypeVar("F", bound=Callable[..., Any])

# Entities the menu shows first, in this order; the others follow under "Records".
PRIMARY = ("ticket", "customer", "company", "contact", "task", "call")
MANAGERS = ("owner", "admin")


def screen(fn: F) -> F:
    """A page for signed-in tenant members: the login page otherwise; errors the user can
    cause (an unknown entity, another tenant's record) as a page, not JSON."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not getattr(current_user, "is_authenticated", False):
            return redirect(url_for("AuthDBView.login", next=request.full_path))
        try:
            resolve_actor()
        except Unauthorized:
            logout_user()
            return redirect(url_for("AuthDBView.login"))
        except ServiceError as e:  # a write without the page's CSRF token
            return jsonify(e.body()), e.status
        use_tenant_locale()
        try:
            return fn(*args, **kwargs)
        except ServiceError as e:
            if request.is_json or request.accept_mimetypes.best == "application/json":
                return jsonify(e.body()), e.status
            return render("callboard/error.html", status=e.status,
                          message=e.message), e.status

    return wrapper  # type: ignore[return-value]


def use_tenant_locale() -> None:
    """Until the user picks a language, speak the tenant's own (when the UI knows it)."""
    if session.get("locale_chosen"):
        return
    want = g.tenant.model.settings.locale
    if want in current_app.config["LANGUAGES"] and session.get("locale") != want:
        session["locale"] = want
        refresh()


def locale() -> str:
    return str(get_locale() or "en")


def nav(model: TenantModel, loc: str) -> dict[str, Any]:
    """The menu of this tenant: its entities (they differ between tenants)."""
    items = [{"name": e.name, "label": e.plural.text(loc)} for e in model.entities.values()]
    by_name = {i["name"]: i for i in items}
    primary = [by_name[n] for n in PRIMARY if n in by_name]
    rest = sorted((i for i in items if i["name"] not in PRIMARY), key=lambda i: i["label"])
    return {"primary": primary, "more": rest}


def page_data(**extra: Any) -> dict[str, Any]:
    """What the page's scripts need: user, tenant, language, CSRF token, strings."""
    loc = locale()
    m = g.member
    return {
        "user": {"id": g.actor.user_id, "email": m["email"], "name": m.get("name") or "",
                 "role": g.actor.role, "team": g.actor.team,
                 "extension": m.get("extension")},
        "tenant": {"slug": g.tenant.slug, "name": g.tenant.model.settings.name},
        "locale": loc, "csrf": generate_csrf(), "api": "/api/v1",
        "strings": js_strings(),
        "entity_labels": {e.name: e.label.text(loc) for e in g.tenant.model.entities.values()},
        "entity_plurals": {e.name: e.plural.text(loc) for e in g.tenant.model.entities.values()},
        **extra,
    }


def render(template: str, **context: Any) -> str:
    """Render a screen with the shell's context (menu, languages, user)."""
    loc = locale()
    signed_in = hasattr(g, "tenant")
    return render_template(
        template, appbuilder=current_app.appbuilder, locale=loc,
        languages=current_app.config["LANGUAGES"],
        nav=nav(g.tenant.model, loc) if signed_in else None,
        tenant=g.tenant if signed_in else None,
        member=g.member if signed_in else None,
        manager=signed_in and g.actor.role in MANAGERS, **context)
