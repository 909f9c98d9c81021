"""The tenant's compiled metadata."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify

from callboard.forms.meta import entity_meta, entity_summary

from ..auth import login_required
from . import api
from .common import locale


@api.get("/meta/entities")
@login_required
def entities() -> Any:
    loc = locale()
    return jsonify({"items": [entity_summary(e, loc) for e in g.tenant.model.entities.values()],
                    "version": g.tenant.version})


@api.get("/meta/entities/<entity>")
@login_required
def entity(entity: str) -> Any:
    ent = g.records.entity(entity)
    return jsonify(entity_meta(g.tenant.model, ent, locale()))
