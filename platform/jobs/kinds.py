"""The built-in job kinds: import, export, bulk delete and revert of an import.

Each takes a JobContext and returns the job's result (what `GET /jobs/{id}` shows); files
it writes go to the job's folder and are listed in `result["files"]`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update

from callboard.engine.errors import ValidationFailed
from callboard.engine.queries import filterable_fields, parse_query
from callboard.engine.tables import jobs, records
from callboard.io.deleter import delete_from_file
from callboard.io.exporter import export_records
from callboard.io.importer import import_file
from callboard.io.ledger import revert
from callboard.io.sheets import estimate_rows
from callboard.workflows.views import view_conditions

from .runner import JobContext, get_job, register


def _done_with_upload(ctx: JobContext, path: Path) -> None:
    """Remove an uploaded file once its job is done (a failed or interrupted job keeps it
    for a resume). Files given on the command line are the user's and stay."""
    uploads = (ctx.data_dir / "uploads").resolve()
    if uploads in path.resolve().parents:
        path.unlink(missing_ok=True)


def run_import(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    entity = p["entity"]
    stem = Path(p.get("name") or "import").stem[:60] or "import"
    result = import_file(ctx.records, ctx.actor, entity, Path(p["path"]), name=p.get("name"),
                         mode=p.get("mode") or "insert", key=p.get("key") or None,
                         dry_run=bool(p.get("dry_run")), job_id=ctx.job_id,
                         errors_path=ctx.path(f"{stem}-rejected.xlsx"),
                         batch_size=int(p.get("batch_size") or 1000), progress=ctx.progress)
    _done_with_upload(ctx, Path(p["path"]))
    return result


def run_export(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    entity = p["entity"]
    ent = ctx.records._entity_for(ctx.actor, entity)
    query = parse_query([tuple(x) for x in p.get("filters") or []],
                        filterable_fields(ctx.records.model, ent))
    extra = view_conditions(p["view"], ctx.actor, ctx.records.model, ctx.records.dialect) \
        if p.get("view") else []
    suffix = ".csv" if p.get("format") == "csv" else ".xlsx"
    return export_records(ctx.records, ctx.actor, entity, ctx.path(f"{entity}{suffix}"),
                          query=query, extra=extra, locale=p.get("locale"),
                          progress=ctx.progress)


def run_bulk_delete(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    result = delete_from_file(ctx.records, ctx.actor, p["entity"], Path(p["path"]),
                              name=p.get("name"), progress=ctx.progress)
    _done_with_upload(ctx, Path(p["path"]))
    return result


def run_revert(ctx: JobContext) -> dict[str, Any]:
    """Undo an import job (`params["job"]`) of the same tenant."""
    target = get_job(ctx.engine, ctx.tenant.id, int(ctx.params["job"]))
    if target["kind"] != "import" or target["params"].get("dry_run"):
        raise ValidationFailed({"job": [f"job {target['id']} is not an import"]})
    counts = revert(ctx.records, ctx.actor, target["id"], target["params"]["entity"],
                    progress=ctx.progress)
    with ctx.engine.begin() as conn:
        result = {**target["result"], "reverted_by": ctx.job_id}
        conn.execute(update(jobs).where(jobs.c.id == target["id"]).values(result=result))
    return {**counts, "job": target["id"]}


def import_size(engine: Engine, tenant_id: int, params: dict[str, Any]) -> int:
    """The rows of the uploaded file, as its header or size suggests."""
    return estimate_rows(Path(params["path"]))


def export_size(engine: Engine, tenant_id: int, params: dict[str, Any]) -> int:
    """At most the tenant's live records of the entity (filters and visibility aside)."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(records).where(
            records.c.tenant_id == tenant_id, records.c.entity == params["entity"],
            records.c.deleted_at.is_(None))).scalar() or 0


register("import", "callboard.jobs.kinds:run_import", size="callboard.jobs.kinds:import_size")
register("export", "callboard.jobs.kinds:run_export", size="callboard.jobs.kinds:export_size")
register("bulk_delete", "callboard.jobs.kinds:run_bulk_delete")
register("revert", "callboard.jobs.kinds:run_revert")
