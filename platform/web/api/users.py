"""The tenant's users (never another tenant's)."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from ..auth import login_required
from . import api


@api.get("/users")
@login_required
def list_users() -> Any:
    filters = {k: request.args.get(k) for k in ("email", "role", "team", "department",
                                                "extension") if request.args.get(k)}
    if "email" in filters:
        filters["email"] = filters["email"].strip().lower()
    rows = g.records.engine and _members(filters)
    return jsonify({"items": rows, "total": len(rows)})


def _members(filters: dict[str, str]) -> list[dict[str, Any]]:
    from ..platform import platform

    keep = ("user_id", "email", "name", "role", "team", "department", "extension", "active")
    return [{("id" if k == "user_id" else k): m[k] for k in keep}
            for m in platform().store.members(g.tenant.id, **filters)]
