"""The compiled metadata as JSON: what `GET /meta/entities/{entity}` and the screens use."""
from __future__ import annotations

from typing import Any

from callboard.engine.model import Entity, Field, Label, Section, TenantModel, Workflow
from callboard.engine.queries import BUILTIN


def label(value: Label | None, locale: str) -> str | None:
    return value.text(locale) if value is not None else None


def field_meta(f: Field, locale: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "type": f.type, "label": f.label.text(locale),
                           "labels": dict(f.label.texts)}
    for key in ("required", "unique", "lookup", "index", "search", "readonly", "hidden",
                "multiple", "system"):
        if getattr(f, key):
            out[key] = True
    for key in ("default", "min", "max", "max_length", "pattern", "entity"):
        if getattr(f, key) is not None:
            out[key] = getattr(f, key)
    if f.options:
        out["options"] = [{"value": o.value, "label": o.label.text(locale)} for o in f.options]
    if f.help:
        out["help"] = f.help.text(locale)
    if f.visible_if:
        out["visible_if"] = f.visible_if.source
    if f.required_if:
        out["required_if"] = f.required_if.source
    if f.fields:
        out["fields"] = [field_meta(c, locale) for c in f.fields]
    return out


def sections_meta(sections: tuple[Section, ...], locale: str) -> list[dict[str, Any]]:
    return [{"label": s.label.text(locale), "fields": list(s.fields), "columns": s.columns}
            for s in sections]


def workflow_meta(w: Workflow, locale: str) -> dict[str, Any]:
    return {
        "initial": w.initial,
        "states": [{"name": s.name, "label": s.label.text(locale), "final": s.final,
                    "pause_sla": s.pause_sla} for s in w.states.values()],
        "transitions": [{"name": t.name, "label": t.label.text(locale), "from": list(t.sources),
                         "to": t.target, "roles": list(t.roles), "require": list(t.require),
                         "when": t.when.source if t.when else None, "transfer": t.transfer}
                        for t in w.transitions.values()],
    }


def entity_summary(e: Entity, locale: str) -> dict[str, Any]:
    return {"name": e.name, "label": e.label.text(locale), "plural": e.plural.text(locale),
            "system": e.system}


def entity_meta(model: TenantModel, e: Entity, locale: str) -> dict[str, Any]:
    """Everything a screen or client needs to show and edit records of `e`."""
    out = {
        **entity_summary(e, locale),
        "title": e.title,
        "fields": [field_meta(f, locale) for f in e.fields],
        "builtins": [field_meta(f, locale) for name, f in BUILTIN.items()
                     if name in ("owner", "created_at", "updated_at", "created_by")],
        "list": {"columns": list(e.list.columns), "filters": list(e.list.filters),
                 "sort": e.list.sort},
        "form": {"sections": sections_meta(e.form, locale)},
        "screen_pop": {"fields": list(e.screen_pop.fields),
                       "related": [{"entity": r.entity, "limit": r.limit}
                                   for r in e.screen_pop.related]} if e.screen_pop else None,
        "workflow": workflow_meta(e.workflow, locale) if e.workflow else None,
    }
    if e.name == "ticket":
        out["ticket_types"] = [{
            "name": t.name, "label": t.label.text(locale),
            "fields": [field_meta(f, locale) for f in t.fields],
            "form": {"sections": sections_meta(t.form, locale)},
            "sla": {"respond": t.sla.respond, "resolve": t.sla.resolve,
                    "schedule": t.sla.schedule} if t.sla else None,
            "department": t.department,
            "workflow": workflow_meta(t.workflow, locale)} for t in model.ticket_types.values()]
    return out
