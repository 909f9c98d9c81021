"""The tenant's bundle, read and changed file by file; every change is checked first."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from callboard.engine.bundle import BundleSource, check_bundle
from callboard.engine.errors import ValidationFailed
from callboard.engine.tenancy import file_path

from ..auth import login_required, require_role
from ..platform import platform
from . import api


@api.get("/admin/config")
@login_required
def read_config() -> Any:
    require_role("owner", "admin")
    store = platform().store
    return jsonify({"version": g.tenant.version, "files": store.files(g.tenant.id),
                    "history": [{**h, "created_at": h["created_at"].isoformat()}
                                for h in store.history(g.tenant.id)[:20]]})


@api.put("/admin/config/<kind>/<name>")
@api.put("/admin/config/<kind>", defaults={"name": ""})
@login_required
def write_config(kind: str, name: str) -> Any:
    require_role("owner", "admin")
    path = file_path(kind, name)
    text = request.get_data(as_text=True)
    if not text.strip():
        raise ValidationFailed({"_": ["send the file's YAML as the request body"]})
    store = platform().store
    files = store.files(g.tenant.id)
    files[path] = text
    problems = check_bundle(BundleSource(files))
    if problems:
        return jsonify({"errors": {path: [p.format() for p in problems]},
                        "problems": [{"file": p.file, "line": p.line, "column": p.column,
                                      "path": p.path, "message": p.message}
                                     for p in problems]}), 422
    tenant = store.put_file(g.tenant.id, path, text, user_id=g.actor.user_id)
    return jsonify({"version": tenant.version, "file": path})


@api.delete("/admin/config/<kind>/<name>")
@login_required
def delete_config(kind: str, name: str) -> Any:
    require_role("owner", "admin")
    path = file_path(kind, name)
    tenant = platform().store.put_file(g.tenant.id, path, None, user_id=g.actor.user_id)
    return jsonify({"version": tenant.version, "removed": path})
