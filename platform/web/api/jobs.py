"""Background jobs: status, result files, resume and revert.

A job is visible to the user who started it, to the supervisor of its team and to the
tenant's owners and admins; another tenant's job, or a colleague's, is a 404.
"""
from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request, send_file
from sqlalchemy import or_, select

from callboard.engine.errors import ValidationFailed
from callboard.engine.tables import jobs, members
from callboard.jobs import job_file, resume, visible_job
from callboard.jobs.runner import job_dict

from ..auth import login_required
from ..platform import platform
from . import api
from .imports import at_once, start_job, started


def _out(job: dict[str, Any]) -> dict[str, Any]:
    files = job["result"].get("files") or []
    params = {k: v for k, v in job["params"].items() if k != "path"}  # no server paths
    return {**{k: v for k, v in job.items() if k != "tenant_id"}, "params": params,
            "files": {n: f"{api.url_prefix}/jobs/{job['id']}/files/{n}" for n in files}}


@api.get("/jobs")
@login_required
def list_jobs() -> Any:
    q = select(jobs).where(jobs.c.tenant_id == g.actor.tenant_id)
    if g.actor.role == "supervisor" and g.actor.team:
        team = select(members.c.user_id).where(members.c.tenant_id == g.actor.tenant_id,
                                                members.c.team == g.actor.team)
        q = q.where(or_(jobs.c.user_id == g.actor.user_id, jobs.c.user_id.in_(team)))
    elif not g.actor.sees_all:
        q = q.where(jobs.c.user_id == g.actor.user_id)
    if request.args.get("kind"):
        q = q.where(jobs.c.kind == request.args["kind"])
    with platform().engine.connect() as conn:
        rows = conn.execute(q.order_by(jobs.c.id.desc()).limit(100)).all()
    return jsonify({"items": [_out(job_dict(r)) for r in rows]})


@api.get("/jobs/<int:job_id>")
@login_required
def get_job(job_id: int) -> Any:
    return jsonify(_out(visible_job(platform().engine, g.actor, job_id)))


@api.get("/jobs/<int:job_id>/file")
@api.get("/jobs/<int:job_id>/files/<name>")
@login_required
def job_result_file(job_id: int, name: str | None = None) -> Any:
    job = visible_job(platform().engine, g.actor, job_id)
    path = job_file(platform().settings.data_dir, job, name)
    return send_file(path, as_attachment=True, download_name=path.name)


@api.post("/jobs/<int:job_id>/resume")
@login_required
def resume_job(job_id: int) -> Any:
    p = platform()
    visible_job(p.engine, g.actor, job_id)
    asked = at_once()
    resume(p.settings, g.actor.tenant_id, job_id, engine=p.engine, listeners=p.listeners,
           apart=True, wait=not asked,
           queue=current_app.config.get("CALLBOARD_JOB_QUEUE", "default"))
    return started(job_id, asked)


@api.post("/jobs/<int:job_id>/revert")
@login_required
def revert_job(job_id: int) -> Any:
    job = visible_job(platform().engine, g.actor, job_id)
    if job["kind"] != "import" or job["params"].get("dry_run"):
        raise ValidationFailed({"job": [f"job {job_id} is not an import"]})
    if job["status"] != "done" and job["status"] != "failed":
        raise ValidationFailed({"job": [f"job {job_id} is {job['status']}; wait for it"]})
    return start_job("revert", {"job": job_id})
