"""Logins: a Flask-AppBuilder user (credentials) plus its membership of one tenant."""
from __future__ import annotations

import re

from flask import Flask

from callboard.engine.access import ROLES
from callboard.engine.errors import Conflict, ValidationFailed

from .platform import platform

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_user(app: Flask, tenant_slug: str, email: str, password: str, role: str, *,
                name: str = "", team: str | None = None, department: str | None = None,
                extension: str | None = None) -> int:
    """A new user of the tenant; returns its id. E-mails are unique across tenants
    (they are the login name)."""
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL.match(email):
        errors["email"] = ["is not an e-mail address"]
    if len(password or "") < 8:
        errors["password"] = ["must be at least 8 characters"]
    if role not in ROLES:
        errors["role"] = [f"must be one of {', '.join(ROLES)}"]
    if errors:
        raise ValidationFailed(errors)
    with app.app_context():
        p = platform(app)
        tenant = p.store.get(tenant_slug)
        sm = app.appbuilder.sm
        if sm.find_user(email=email) or sm.find_user(username=email):
            raise Conflict(f"a user with e-mail {email} already exists")
        fab_role = sm.find_role(role) or sm.add_role(role)
        first, _, last = (name or email.split("@")[0]).partition(" ")
        user = sm.add_user(username=email, first_name=first[:64] or email[:64],
                           last_name=last[:64], email=email, role=fab_role, password=password)
        if not user:
            raise Conflict(f"could not create user {email}")
        try:
            p.store.add_member(tenant.id, user.id, email, role, name=name, team=team,
                               department=department, extension=extension)
        except Exception:
            sm.session.delete(user)
            sm.session.commit()
            raise
        return int(user.id)


def update_user(app: Flask, tenant_id: int, user_id: int, **changes: object) -> dict:
    """Change a member of the tenant (role, active, team, department, extension); a
    deactivated member can no longer sign in. NotFound for another tenant's user."""
    with app.app_context():
        member = platform(app).store.update_member(tenant_id, user_id, **changes)
        sm = app.appbuilder.sm
        user = sm.get_user_by_id(user_id)
        if user is not None:
            if "active" in changes:
                user.active = bool(changes["active"])
            if "role" in changes:
                user.roles = [sm.find_role(member["role"]) or sm.add_role(member["role"])]
            sm.session.commit()
        return member
