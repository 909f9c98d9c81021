"""Tenant administration screens: members and roles, custom fields, the YAML bundle."""
from __future__ import annotations

import re
from typing import Any

from flask import current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_babel import gettext as _

from callboard.engine.access import ROLES
from callboard.engine.errors import Forbidden, ServiceError, ValidationFailed
from callboard.engine.model import FIELD_TYPES
from callboard.engine.tenancy import file_path
from callboard.forms.meta import entity_meta

from ..platform import platform
from ..users import create_user, update_user
from .shell import MANAGERS, locale, page_data, render, screen
from .yamledit import set_field

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
LOCALES = ("en", "vi", "zh")


def managers_only() -> None:
    if g.actor.role not in MANAGERS:
        raise Forbidden(_("Only an owner or an admin of the tenant may do this."))


class AdminScreens(BaseView):
    """/ui/admin: what an owner or admin of the tenant manages."""

    route_base = "/ui/admin"
    default_view = "users"

    # -- members and roles ------------------------------------------------------------
    @expose("/users", methods=["GET", "POST"])
    @screen
    def users(self) -> Any:
        managers_only()
        errors: dict[str, list[str]] = {}
        values: dict[str, str] = {}
        if request.method == "POST":
            values = {k: request.form.get(k, "").strip() for k in
                      ("email", "name", "role", "team", "department", "extension")}
            try:
                if values["role"] == "owner" and g.actor.role != "owner":
                    raise ValidationFailed({"role": [_("only an owner may add an owner")]})
                create_user(current_app, g.tenant.slug, values["email"],
                            request.form.get("password", ""), values["role"],
                            name=values["name"], team=values["team"] or None,
                            department=values["department"] or None,
                            extension=values["extension"] or None)
                flash(_("User %(email)s created.", email=values["email"]), "success")
                return redirect(url_for("AdminScreens.users"))
            except ValidationFailed as e:
                errors = e.errors
            except ServiceError as e:
                errors = {"_": [e.message]}
        members = platform().store.members(g.tenant.id)
        model = g.tenant.model
        loc = locale()
        departments = [(d.name, d.label.text(loc)) for d in model.settings.departments.values()]
        return render("callboard/admin_users.html", title=_("Users"), members=members,
                      roles=ROLES, departments=departments, errors=errors, values=values,
                      data=page_data(page="users")), (422 if errors else 200)

    @expose("/users/<int:user_id>", methods=["POST"])
    @screen
    def change_user(self, user_id: int) -> Any:
        managers_only()
        store = platform().store
        target = next((m for m in store.members(g.tenant.id) if m["user_id"] == user_id), None)
        if target is None:
            return render("callboard/error.html", status=404,
                          message=_("No such user in this tenant.")), 404
        changes: dict[str, Any] = {}
        action = request.form.get("action")
        if action in ("deactivate", "activate"):
            changes["active"] = action == "activate"
        elif action == "update":
            changes = {k: (request.form.get(k) or "").strip() or None
                       for k in ("role", "team", "extension", "department")}
            changes["role"] = changes["role"] or target["role"]
            changes = {k: v for k, v in changes.items() if v != target[k]}
        touches_owner = target["role"] == "owner" or changes.get("role") == "owner"
        if not changes:
            pass
        elif touches_owner and g.actor.role != "owner":
            flash(_("Only an owner may change an owner."), "danger")
        elif user_id == g.actor.user_id:
            flash(_("You cannot change your own access."), "danger")
        else:
            try:
                update_user(current_app, g.tenant.id, user_id, **changes)
                flash(_("User %(email)s updated.", email=target["email"]), "success")
            except ServiceError as e:
                flash(e.message, "danger")
        return redirect(url_for("AdminScreens.users"))

    # -- custom fields ----------------------------------------------------------------
    @expose("/fields")
    @expose("/fields/<entity>")
    @screen
    def fields(self, entity: str = "customer") -> Any:
        managers_only()
        model = g.tenant.model
        ent = g.records.entity(entity)
        loc = locale()
        data = page_data(page="fields", entity=entity_meta(model, ent, loc),
                         types=list(FIELD_TYPES), locales=list(LOCALES),
                         entities=[{"name": e.name, "label": e.plural.text(loc)}
                                   for e in model.entities.values()],
                         field=request.args.get("field"))
        return render("callboard/admin_fields.html", data=data, title=_("Fields"))

    @expose("/fields/<entity>/yaml", methods=["POST"])
    @screen
    def field_yaml(self, entity: str) -> Any:
        """The entity's file with the field of the posted form: the page then PUTs it to
        /api/v1/admin/config/entity/{entity}, where it is checked and applied."""
        managers_only()  # the session's CSRF token was checked with the sign-in
        ent = g.records.entity(entity)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValidationFailed({"_": ["expected a JSON object"]})
        name, spec = field_spec(body)
        path = file_path("entity", ent.name)
        text = platform().store.files(g.tenant.id).get(path, "")
        section = body.get("section")
        yaml_text = set_field(text, name, spec, column=bool(body.get("column")),
                              filter_=bool(body.get("filter")),
                              section=int(section) if str(section or "").isdigit() else None)
        return {"path": path, "yaml": yaml_text}

    # -- the bundle as YAML -----------------------------------------------------------
    @expose("/config")
    @screen
    def config(self) -> Any:
        managers_only()
        files = platform().store.files(g.tenant.id)
        data = page_data(page="config", files=sorted(files),
                         file=request.args.get("file") or next(
                             (f for f in sorted(files) if f.startswith("ticket_types/")), None))
        return render("callboard/admin_config.html", data=data, title=_("Configuration"))


def field_spec(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, YAML spec) of a field from the admin form; 422 naming each bad input."""
    errors: dict[str, list[str]] = {}
    name = str(body.get("name") or "").strip()
    ftype = str(body.get("type") or "")
    if not NAME.match(name):
        errors["name"] = [_("lower-case letters, digits and _; starting with a letter")]
    if ftype not in FIELD_TYPES:
        errors["type"] = [_("choose a type")]
    spec: dict[str, Any] = {"type": ftype}
    labels = body.get("label") or {}
    labels = {k: str(v).strip() for k, v in labels.items()
              if k in LOCALES and str(v or "").strip()} if isinstance(labels, dict) else {}
    if labels:
        spec["label"] = labels
    if ftype in ("select", "multiselect"):
        options = _options(str(body.get("options") or ""))
        if not options:
            errors["options"] = [_("give at least one option, one a line")]
        spec["options"] = options
    if ftype == "link":
        spec["entity"] = str(body.get("entity") or "")
    for key in ("required", "index", "unique", "search"):
        if body.get(key):
            spec[key] = True
    for key in ("min", "max"):
        raw = str(body.get(key) or "").strip()
        if raw:
            try:
                spec[key] = float(raw) if "." in raw else int(raw)
            except ValueError:
                errors[key] = [_("must be a number")]
    for key in ("default", "visible_if", "required_if", "pattern"):
        raw = str(body.get(key) or "").strip()
        if raw:
            spec[key] = raw
    help_text = str(body.get("help") or "").strip()
    if help_text:
        spec["help"] = help_text
    if errors:
        raise ValidationFailed(errors)
    return name, spec


def _options(text: str) -> list[Any]:
    """One option a line: `value` or `value = label`."""
    out: list[Any] = []
    for line in text.splitlines():
        value, _sep, label = (p.strip() for p in line.partition("="))
        if value:
            out.append({"value": value, "label": label} if label else value)
    return out
