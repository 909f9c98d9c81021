"""Import, export, templates and bulk delete (Excel and CSV): each starts a job (202)."""
from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

from flask import current_app, g, jsonify, request, send_file

from callboard.engine.bulk import BulkWriter
from callboard.engine.errors import ValidationFailed
from callboard.io.sheets import FileProblem, check_file
from callboard.io.template import write_template
from callboard.jobs import enqueue, get_job
from callboard.workflows.views import view_conditions

from ..auth import login_required, require_role
from ..platform import platform
from . import api
from .common import list_query, locale

TRUE = {"1", "true", "yes", "on"}


def start_job(kind: str, params: dict[str, Any]) -> Any:
    """Record and start a job for the caller; 202 {"job": id}."""
    p = platform()
    asked = at_once()
    job = enqueue(p.settings, g.actor.tenant_id, g.actor.user_id, kind, params,
                  engine=p.engine, listeners=p.listeners, apart=True, wait=not asked,
                  queue=current_app.config.get("CALLBOARD_JOB_QUEUE", "default"))
    return started(job, asked)


def at_once() -> bool:
    """Whether the client asked to be answered before its job ends (`Prefer:
    respond-async`, RFC 7240). Without Redis a job runs inline and is done when the
    request answers; with it, a large job of the web server runs in a process of its own
    and the answer comes at once, so a page can show the job's progress meanwhile."""
    asked = ",".join(request.headers.getlist("Prefer")).split(",")
    return any(a.split(";")[0].strip().lower() == "respond-async" for a in asked)


def started(job: int, asked: bool) -> Any:
    """202 {"job": id}; `Preference-Applied: respond-async` when the client `asked` to be
    answered at once and the job is not done yet."""
    response = jsonify({"job": job})
    if asked and get_job(platform().engine, g.actor.tenant_id, job)["status"] in (
            "queued", "running"):
        response.headers["Preference-Applied"] = "respond-async"
    return response, 202


def save_upload() -> tuple[Path, str]:
    """The request's `file`, checked and kept in the data dir for the job to read."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed({"file": ["send the spreadsheet as multipart field 'file'"]})
    name = Path(upload.filename).name
    folder = platform().settings.data_dir / "uploads" / str(g.actor.tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{Path(name).suffix.lower()}"
    upload.save(path)
    try:
        check_file(path, name)
    except FileProblem:
        path.unlink(missing_ok=True)
        raise
    return path, name


@api.get("/import/<entity>/template")
@login_required
def import_template(entity: str) -> Any:
    ent = g.records._entity_for(g.actor, entity)
    buffer = io.BytesIO()
    write_template(g.records.model, ent, buffer, locale=locale())
    buffer.seek(0)
    return send_file(buffer, as_attachment=True, download_name=f"{entity}-template.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument."
                              "spreadsheetml.sheet")


@api.post("/import/<entity>")
@login_required
def import_records(entity: str) -> Any:
    mode = request.form.get("mode") or "insert"
    key = request.form.get("key") or None
    BulkWriter(g.records, g.actor, entity, mode=mode, key=key)  # 404 / 422 before the upload
    path, name = save_upload()
    return start_job("import", {
        "entity": entity, "path": str(path), "name": name, "mode": mode, "key": key,
        "dry_run": (request.form.get("dry_run") or "").strip().lower() in TRUE})


@api.post("/export/<entity>")
@login_required
def export_records(entity: str) -> Any:
    fmt = (request.args.get("format") or "xlsx").lower()
    if fmt not in ("xlsx", "csv"):
        raise ValidationFailed({"format": ["must be xlsx or csv"]})
    list_query(entity, extra=("locale",))  # unknown entity 404, bad filters 422, now
    view = request.args.get("view") or None
    if view and entity != "ticket":
        raise ValidationFailed({"view": ["only the ticket list has views"]})
    if view:
        view_conditions(view, g.actor, g.tenant.model, g.records.dialect)  # 422 if unknown
    filters = [[k, v] for k, v in request.args.items(multi=True)
               if k not in ("format", "locale", "page", "per_page", "sort", "view")]
    return start_job("export", {"entity": entity, "filters": filters, "format": fmt,
                                "locale": locale(), "view": view})


@api.post("/bulk-delete/<entity>")
@login_required
def bulk_delete(entity: str) -> Any:
    require_role("owner")
    g.records._entity_for(g.actor, entity)
    path, name = save_upload()
    return start_job("bulk_delete", {"entity": entity, "path": str(path), "name": name})
