"""The import ledger: one `import_rows` row per data row an import dealt with.

Ledger rows are written in the transaction of their batch, so after a crash the ledger says
exactly which rows are in the database: a resumed import skips them (nothing twice, nothing
lost), and a revert removes what the import created and restores what it updated.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from callboard.engine.access import Actor, scope, system_actor
from callboard.engine.bulk import RowOutcome, insert_rows, soft_delete
from callboard.engine.deferral import deferring, no_progress
from callboard.engine.errors import NotFound, ValidationFailed
from callboard.engine.records import RecordService
from callboard.engine.tables import import_rows, records

CHUNK = 1000


def done_rows(conn: Connection, job_id: int) -> dict[int, tuple[str, str | None]]:
    """Rows of `job_id` already dealt with: row number -> (action, error)."""
    return {r.row_no: (r.action, r.error) for r in conn.execute(
        select(import_rows.c.row_no, import_rows.c.action, import_rows.c.error).where(
            import_rows.c.job_id == job_id))}


def record(tx: Connection, job_id: int, outcomes: Sequence[RowOutcome],
           messages: dict[int, str]) -> None:
    """Write the ledger rows of a batch on its transaction."""
    if outcomes:
        insert_rows(tx, import_rows, [
            {"job_id": job_id, "row_no": o.row_no, "record_id": o.record_id,
             "action": o.action, "before": o.before if o.action == "update" else None,
             "error": messages.get(o.row_no)} for o in outcomes])


def revert(svc: RecordService, actor: Actor, job_id: int, entity: str,
           progress: Callable[..., None] = no_progress) -> dict[str, Any]:
    """Undo import `job_id`: soft-delete the records it created, restore the ones it
    updated to what they were. Rows reverted are marked, so a revert can resume."""
    with svc.engine.connect() as conn:
        total = conn.execute(select(import_rows.c.id).where(
            import_rows.c.job_id == job_id,
            import_rows.c.action.in_(("create", "update")))).all()
    if not total and not _any_rows(svc, job_id):
        raise NotFound(f"job {job_id} is not an import with rows to revert")
    counts = {"removed": 0, "restored": 0, "skipped": 0}
    done, last = 0, 0
    # listeners' follow-up (search) once, at the end, with its share of the progress
    with deferring(progress) as step:
        while True:
            with svc.engine.connect() as conn:
                rows = conn.execute(select(import_rows).where(
                    import_rows.c.job_id == job_id, import_rows.c.id > last,
                    import_rows.c.action.in_(("create", "update"))).order_by(import_rows.c.id)
                    .limit(CHUNK)).all()
            if not rows:
                break
            last = rows[-1].id
            with svc.transaction() as tx:
                created = [r.record_id for r in rows if r.action == "create"]
                visible = _visible(tx, actor, entity, created)
                removed = soft_delete(svc, tx, actor, entity, sorted(visible),
                                      comment=f"revert of import {job_id}")
                counts["removed"] += len(removed)
                counts["skipped"] += len(created) - len(removed)
                for r in rows:
                    if r.action == "update":
                        counts["restored" if _restore(svc, tx, actor, entity, r) else
                               "skipped"] += 1
                tx.execute(update(import_rows).where(import_rows.c.id.in_([r.id for r in rows]))
                           .values(action="reverted"))
            done += len(rows)
            step(done / max(len(total), 1))
    return counts


def _any_rows(svc: RecordService, job_id: int) -> bool:
    with svc.engine.connect() as conn:
        return conn.execute(select(import_rows.c.id).where(
            import_rows.c.job_id == job_id).limit(1)).first() is not None


def _visible(tx: Connection, actor: Actor, entity: str, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return {r.id for r in tx.execute(select(records.c.id).where(
        scope(actor, entity), records.c.id.in_(ids)))}


def _restore(svc: RecordService, tx: Connection, actor: Actor, entity: str, row: Any) -> bool:
    """Put an updated record back as it was before the import (False when it is gone)."""
    before = row.before or {}
    data = before.get("data") or {}
    found = tx.execute(select(records).where(scope(actor, entity),
                                             records.c.id == row.record_id)).first()
    if found is None:
        return False
    current = svc._out(found)
    fields = svc.fields_for(svc.entity(entity), {**current, **data})
    values = {k: data.get(k) for k in fields if k in data or current.get(k) is not None}
    values["owner"] = before.get("owner")
    try:
        svc.update(system_actor(svc.tenant.id), entity, row.record_id, values,
                   action="revert", comment="revert of an import", conn=tx)
    except (NotFound, ValidationFailed):
        return False
    return True
