"""Import and export commands: import, export, template, bulk-delete, jobs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callboard.cli.common import _engine, _settings, _store

if TYPE_CHECKING:
    from callboard.engine.settings import Settings


def _tenant(settings: Settings, slug: str) -> Any:
    return _store(settings).get(slug)


def _run_job(settings: Settings, tenant_id: int, kind: str, params: dict[str, Any]) -> dict:
    """Record a job and run it here (the command waits for it); its finished row."""
    from callboard.jobs.runner import create_job, get_job, run

    engine = _engine(settings)
    job_id = create_job(engine, tenant_id, None, kind, params)
    run(engine, settings.data_dir, job_id)
    job = get_job(engine, tenant_id, job_id)
    if job["status"] == "failed":
        raise click.ClickException(f"{job['error']} (job {job_id})")
    return job


def _input_file(path: str) -> Path:
    from callboard.io.sheets import check_file

    file = Path(path).resolve()
    if not file.is_file():
        raise click.ClickException(f"{path}: no such file")
    check_file(file, file.name)
    return file


@click.command("import")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
@click.option("--mode", type=click.Choice(["insert", "upsert"]), default="insert",
              show_default=True, help="upsert: update the record the key matches.")
@click.option("--key", default=None, help="Field an upsert matches on (default: the "
              "entity's first unique field, such as phone).")
@click.option("--dry-run", is_flag=True, help="Check every row, write nothing.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 50000),
              help="Rows per committed batch.")
def import_(slug: str, entity: str, file: str, mode: str, key: str | None, dry_run: bool,
            batch_size: int) -> None:
    """Import an .xlsx or .csv file into ENTITY of tenant SLUG."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    path = _input_file(file)
    from callboard.engine.access import Actor
    from callboard.engine.bulk import BulkWriter
    from callboard.workflows.hooks import records_service

    BulkWriter(records_service(_engine(settings), tenant), Actor(tenant.id, None, "owner"),
               entity, mode=mode, key=key)  # unknown entity, mode or key: say so now
    job = _run_job(settings, tenant.id, "import", {
        "entity": entity, "path": str(path), "name": path.name, "mode": mode, "key": key,
        "dry_run": dry_run, "batch_size": batch_size})
    r = job["result"]
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} {r['created']}, updated {r['updated']}, unchanged {r['unchanged']}, "
               f"failed {r['failed']} of {r['rows']} rows (job {job['id']})")
    if r.get("ignored_columns"):
        click.echo(f"ignored columns: {', '.join(r['ignored_columns'])}", err=True)
    if r.get("errors_file"):
        from callboard.jobs.runner import job_folder

        where = job_folder(settings.data_dir, tenant.id, job["id"]) / r["errors_file"]
        click.echo(f"rejected rows, with an error column: {where}")


@click.command("export")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
@click.option("--filter", "filters", multiple=True, metavar="FIELD__OP=VALUE",
              help="Only matching records (repeatable), as in the API's list filters.")
@click.option("--locale", default=None, help="Language of the headers and labels.")
def export(slug: str, entity: str, file: str, filters: tuple[str, ...],
           locale: str | None) -> None:
    """Export the records of ENTITY to FILE (.xlsx, or .csv by its extension)."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    pairs = []
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.ClickException(f"--filter '{item}': use FIELD__OP=VALUE")
        pairs.append((name.strip(), value))
    from callboard.engine.access import Actor
    from callboard.engine.queries import filterable_fields, parse_query
    from callboard.io.exporter import export_records
    from callboard.workflows.hooks import records_service

    svc = records_service(_engine(settings), tenant)
    query = parse_query(pairs, filterable_fields(tenant.model, svc.entity(entity)))
    result = export_records(svc, Actor(tenant.id, None, "owner"), entity, Path(file),
                            query=query, locale=locale)
    click.echo(f"exported {result['rows']} {entity} records to {file}")


@click.command("template")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
@click.option("--locale", default=None, help="Language of the labels (default: the "
              "tenant's).")
def template(slug: str, entity: str, file: str, locale: str | None) -> None:
    """Write the import template of ENTITY to FILE (.xlsx)."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    if not file.lower().endswith(".xlsx"):
        raise click.ClickException(f"{file}: the template is an .xlsx file")
    from callboard.engine.errors import NotFound
    from callboard.io.template import write_template

    ent = tenant.model.entities.get(entity)
    if ent is None:
        raise NotFound(f"no entity '{entity}' in {slug}")
    write_template(tenant.model, ent, Path(file), locale=locale)
    click.echo(f"wrote the {entity} import template to {file}")


@click.command("bulk-delete")
@click.argument("slug")
@click.argument("entity")
@click.argument("file")
def bulk_delete(slug: str, entity: str, file: str) -> None:
    """Delete the ENTITY records whose phone, e-mail or lookup value is in FILE."""
    settings = _settings()
    tenant = _tenant(settings, slug)
    path = _input_file(file)
    job = _run_job(settings, tenant.id, "bulk_delete",
                   {"entity": entity, "path": str(path), "name": path.name})
    r = job["result"]
    click.echo(f"deleted {r['deleted']}, not found {r['not_found']} of {r['values']} "
               f"values (job {job['id']})")


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs: show, resume an interrupted import, revert an import."""


def _job_row(settings: Settings, job_id: int) -> dict:
    from sqlalchemy import select

    from callboard.engine.errors import NotFound
    from callboard.engine.tables import jobs
    from callboard.jobs.runner import job_dict

    with _engine(settings).connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return job_dict(row)


@jobs_group.command("show")
@click.argument("job_id", type=int)
def jobs_show(job_id: int) -> None:
    """Status, progress and result of a job."""
    import json

    click.echo(json.dumps(_job_row(_settings(), job_id), ensure_ascii=False, indent=2))


@jobs_group.command("resume")
@click.argument("job_id", type=int)
def jobs_resume(job_id: int) -> None:
    """Run an interrupted or failed job again here (an import skips the rows it did)."""
    from dataclasses import replace

    from callboard.jobs.runner import get_job, resume

    settings = _settings()
    job = _job_row(settings, job_id)
    resume(replace(settings, redis_url=None), job["tenant_id"], job_id,
           engine=_engine(settings))
    job = get_job(_engine(settings), job["tenant_id"], job_id)
    if job["status"] == "failed":
        raise click.ClickException(f"{job['error']} (job {job_id})")
    click.echo(f"job {job_id} {job['status']}: {job['result']}")


@jobs_group.command("revert")
@click.argument("job_id", type=int)
def jobs_revert(job_id: int) -> None:
    """Undo an import: remove what it created, restore what it updated."""
    job = _job_row(_settings(), job_id)
    if job["kind"] != "import":
        raise click.ClickException(f"job {job_id} is not an import")
    done = _run_job(_settings(), job["tenant_id"], "revert", {"job": job_id})
    r = done["result"]
    click.echo(f"removed {r['removed']}, restored {r['restored']}, skipped {r['skipped']} "
               f"(job {done['id']})")
