"""The screens of agents and supervisors: console, generated lists, forms, detail pages."""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, IndexView, expose
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user

from callboard.engine.model import Entity, TenantModel
from callboard.forms.meta import entity_meta

from .expressions_json import expressions
from .shell import locale, page_data, render, screen

TICKET_VIEWS = ("all", "mine", "to_handle", "overdue", "unprocessed", "created_by_me",
                "following")


class HomeView(IndexView):
    """`/`: the console for a signed-in user, the login page otherwise."""

    @expose("/")
    def index(self) -> Any:
        if getattr(current_user, "is_authenticated", False):
            return redirect(url_for("Screens.console"))
        return redirect(url_for("AuthDBView.login"))


def local_path(target: str | None) -> str | None:
    """`target` when it is a path on this site; None for anything that could leave it
    (`//host`, `https://…`, `javascript:…`)."""
    if not target or not target.startswith("/") or target.startswith("//") or \
            "\\" in target or any(c < " " for c in target):
        return None
    return target


def screen_meta(model: TenantModel, ent: Entity, loc: str) -> dict[str, Any]:
    """The entity's metadata for a page, with its conditions parsed for the browser and
    the entities whose records link to it (the detail page's related lists)."""
    meta = entity_meta(model, ent, loc)
    fields = list(ent.fields)
    if ent.name == "ticket":
        fields += [f for tt in model.ticket_types.values() for f in tt.fields]
    meta["expressions"] = expressions(fields)
    meta["related"] = related_entities(model, ent, loc)
    return meta


def related_entities(model: TenantModel, ent: Entity, loc: str) -> list[dict[str, str]]:
    out = []
    for other in model.entities.values():
        if other.name == ent.name:
            continue
        if any(f.type == "link" and f.entity in (ent.name, "*") for f in other.fields):
            out.append({"name": other.name, "label": other.plural.text(loc)})
    order = {"contact": 0, "ticket": 1, "call": 2, "opportunity": 3, "note": 4, "task": 5}
    return sorted(out, key=lambda r: (order.get(r["name"], 9), r["label"]))


class Screens(BaseView):
    """Generated screens under /ui: every page is drawn from the tenant's runtime model."""

    route_base = "/ui"
    default_view = "console"

    @expose("/")
    @screen
    def console(self) -> Any:
        model = g.tenant.model
        loc = locale()
        customer = model.entities.get("customer")
        data = page_data(
            page="console",
            screen_pop=screen_meta(model, customer, loc) if customer else None,
            ticket_types=[{"name": t.name, "label": t.label.text(loc)}
                          for t in model.ticket_types.values()],
            numbers=sorted(model.number_routes),
            can_simulate=g.actor.role in ("owner", "admin", "supervisor"),
            queues=[{"name": q.name, "label": q.label.text(loc)}
                    for q in model.settings.queues.values()])
        return render("callboard/console.html", data=data, title=_("Console"))

    @expose("/r/<entity>")
    @screen
    def records(self, entity: str) -> Any:
        ent = g.records.entity(entity)
        meta = screen_meta(g.tenant.model, ent, locale())
        views = TICKET_VIEWS if ent.name == "ticket" else ()
        data = page_data(page="list", entity=meta, views=list(views),
                         view=request.args.get("view") or ("to_handle" if views else None))
        return render("callboard/list.html", data=data, title=meta["plural"], meta=meta)

    @expose("/r/<entity>/new")
    @screen
    def new(self, entity: str) -> Any:
        ent = g.records.entity(entity)
        meta = screen_meta(g.tenant.model, ent, locale())
        prefill = {k: v for k, v in request.args.items() if k != "next"}
        data = page_data(page="form", entity=meta, record=None, prefill=prefill,
                         next=local_path(request.args.get("next")))
        return render("callboard/form.html", data=data, title=meta["label"], meta=meta)

    @expose("/r/<entity>/<int:record_id>")
    @screen
    def detail(self, entity: str, record_id: int) -> Any:
        ent = g.records.entity(entity)
        record = g.records.get(g.actor, ent.name, record_id)  # 404: not the user's to see
        meta = screen_meta(g.tenant.model, ent, locale())
        data = page_data(page="detail", entity=meta, record=record)
        return render("callboard/detail.html", data=data, title=record.get("title") or "",
                      meta=meta)

    @expose("/r/<entity>/<int:record_id>/edit")
    @screen
    def edit(self, entity: str, record_id: int) -> Any:
        ent = g.records.entity(entity)
        record = g.records.get(g.actor, ent.name, record_id)
        meta = screen_meta(g.tenant.model, ent, locale())
        data = page_data(page="form", entity=meta, record=record, prefill={})
        return render("callboard/form.html", data=data, title=record.get("title") or "",
                      meta=meta)

    @expose("/import")
    @expose("/import/<entity>")
    @screen
    def imports(self, entity: str = "customer") -> Any:
        ent = g.records.entity(entity)
        loc = locale()
        data = page_data(page="import", entity={"name": ent.name, "label": ent.label.text(loc)},
                         entities=[{"name": e.name, "label": e.plural.text(loc)}
                                   for e in g.tenant.model.entities.values()])
        return render("callboard/import.html", data=data, title=_("Import"))

    @expose("/lang/<loc>")
    def language(self, loc: str) -> Any:
        if loc not in current_app.config["LANGUAGES"]:
            abort(404)
        session["locale"] = loc
        session["locale_chosen"] = True
        refresh()
        back = request.referrer or "/"
        if back.startswith(request.host_url):
            back = "/" + back[len(request.host_url):]
        return redirect(local_path(back) or "/")
