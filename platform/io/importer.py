"""Import a spreadsheet into an entity: stream the rows, validate and write them in batches.

Rows go through `engine.bulk.BulkWriter`, hence through the record service's validation.
Each batch commits with its ledger rows (`io.ledger`), so an interrupted import resumes
where it stopped; every rejected row is written to a workbook with an `error` column that
can be fixed and imported again.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from callboard.engine.access import Actor
from callboard.engine.bulk import BulkWriter, RowOutcome, refresh_statistics
from callboard.engine.deferral import deferring, no_progress
from callboard.engine.errors import Conflict
from callboard.engine.records import _PENDING, RecordService

from . import ledger
from .cells import safe_text
from .columns import Columns, importable_fields
from .forked import frozen_heap
from .rowsource import Batch, Helper, batches, can_fork
from .sheets import FileProblem, estimate_rows, open_table

BATCH = 1000
ANALYZE_AT = {2, 10, 50, 200, 1000}  # batches after which the planner's statistics are renewed


class Rejects:
    """The rejected rows, as they were, with `row` and `error` columns (written on demand)."""

    def __init__(self, path: Path | None, header: list[Any]):
        self.path, self.header = path, header
        self.count = 0
        self._wb: Any = None

    def add(self, row_no: int, cells: list[Any], error: str) -> None:
        self.count += 1
        if self.path is None:
            return
        if self._wb is None:
            self._wb = Workbook(write_only=True)
            self._ws = self._wb.create_sheet("rejected")
            self._ws.append([safe_text(h) for h in self.header] + ["row", "error"])
        cells = list(cells) + [None] * (len(self.header) - len(cells))
        out = [_cell(self._ws, c) for c in cells[:len(self.header)]]
        self._ws.append([*out, row_no, safe_text(error)])

    def close(self) -> str | None:
        if self._wb is None or self.path is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wb.save(self.path)
        return self.path.name


def _cell(ws: Any, value: Any) -> Any:
    """A rejected cell as it was: text stays text (never run as a formula, and not
    prefixed either, so the fixed file imports the value the person typed)."""
    if isinstance(value, str):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        cell.number_format = "@"
        return cell
    return value


def import_file(svc: RecordService, actor: Actor, entity: str, path: Path, *,
                name: str | None = None, mode: str = "insert", key: str | None = None,
                dry_run: bool = False, job_id: int | None = None,
                errors_path: Path | None = None, batch_size: int = BATCH,
                parallel: bool | None = None,
                progress: Callable[..., None] = no_progress) -> dict[str, Any]:
    """Import `path` (.xlsx or .csv) into `entity` as `actor`; the counts of what happened.

    With `job_id` (not a dry run) every batch is recorded in the ledger and rows the
    ledger already holds are skipped: running the same job again resumes it. `parallel`:
    whether a helper process reads and validates the rows (`io.rowsource`); by default
    when that is safe and worth it.
    """
    writer = BulkWriter(svc, actor, entity, mode=mode, key=key, remember=dry_run)
    fields = importable_fields(svc.model, writer.ent)
    region = svc.model.settings.phone_region
    done: dict[int, tuple[str, str | None]] = {}
    use_ledger = job_id is not None and not dry_run
    if use_ledger:
        with svc.engine.connect() as conn:
            done = ledger.done_rows(conn, job_id)
    path = Path(path)
    if parallel is None:
        parallel = can_fork(writer, estimate_rows(path))
    with ExitStack() as stack:
        if parallel and writer.mode == "insert":  # a single-threaded process: see Helper
            stack.enter_context(frozen_heap())  # the search follow-up below included
        # listeners' follow-up (search) once, at the end, with its share of the progress
        progress = stack.enter_context(deferring(progress))
        if parallel and writer.mode == "insert":
            helper = stack.enter_context(
                Helper(writer, path, name, fields, region, done, batch_size))
            header, total = helper.header, helper.total
            cols = Columns(fields, header, region)
            source = helper.batches()
        else:
            table = open_table(path, name)
            header, total = table.header, table.total
            cols = Columns(fields, header, region)
            source = batches(table, cols, done, batch_size)
        result = _run(svc, writer, cols, header, total, source, dry_run=dry_run,
                      job_id=job_id if use_ledger else None, errors_path=errors_path,
                      progress=progress, entity=entity)
    result["parallel"] = bool(parallel and writer.mode == "insert")
    return result


def _run(svc: RecordService, writer: BulkWriter, cols: Columns, header: list[Any],
         total: int, source: Iterator[Batch], *, dry_run: bool, job_id: int | None,
         errors_path: Path | None, progress: Callable[..., None], entity: str
         ) -> dict[str, Any]:
    """Write the batches of `source`; the import's result."""
    if writer.key and writer.key not in cols.by_index.values():
        raise FileProblem(f"no column for '{writer.key}', the key an upsert matches on")
    headers = {n: str(header[i]).strip().rstrip("*").strip() for i, n in cols.by_index.items()}
    counts = {"create": 0, "update": 0, "unchanged": 0, "failed": 0}
    rejects = Rejects(errors_path, header)
    seen = flushes = 0

    def message(out: RowOutcome) -> str:
        return "; ".join(f"{headers.get(k, k)}: {', '.join(v)}" for k, v in out.errors.items())

    try:
        for batch in source:
            seen = batch.seen
            for row_no, action, error, cells in batch.done:
                counts[action if action in counts else "unchanged"] += 1
                if action == "failed":
                    rejects.add(row_no, cells, error or "rejected")
            if not len(batch):
                continue
            if dry_run:  # each batch checked and written, then rolled back
                with svc.engine.connect() as conn, conn.begin() as tx:
                    outs = _apply(writer, conn, batch)
                    conn.info.pop(_PENDING, None)
                    tx.rollback()
            else:
                outs = _write(svc, writer, batch, job_id, message)
                flushes += 1
                if flushes in ANALYZE_AT:
                    refresh_statistics(svc)
            cells_of = [c for _, _, c in batch.rows] or [c for _, c in batch.prepared or ()]
            for out, cells in zip(outs, cells_of, strict=True):
                counts[out.action] += 1
                if out.action == "failed":
                    rejects.add(out.row_no, cells, message(out))
            progress(seen / max(total, seen, 1))
    finally:  # the rejected rows so far are kept even when the file breaks off
        errors_file = rejects.close()
    if seen == 0:
        raise FileProblem("the sheet has a header but no data rows")
    return {"created": counts["create"], "updated": counts["update"],
            "unchanged": counts["unchanged"], "failed": counts["failed"], "rows": seen,
            "errors_file": errors_file, "files": [errors_file] if errors_file else [],
            "dry_run": dry_run, "mode": writer.mode, "key": writer.key,
            "ignored_columns": cols.unknown, "entity": entity}


def _apply(writer: BulkWriter, tx: Connection, batch: Batch) -> list[RowOutcome]:
    """A batch's checks and writes on `tx`: validated here, or by the helper already."""
    if batch.prepared is None:
        return writer.write(tx, [(n, v) for n, v, _ in batch.rows])
    outs = [o for o, _ in batch.prepared]
    if batch.states is None:  # as prepared, for a batch the database refuses and that is
        batch.states = [o.snapshot() for o in outs]  # then tried again
    else:
        for o, state in zip(outs, batch.states, strict=True):
            o.restore(state)
    writer.lock(tx)
    return writer.finish(tx, outs)


def _write(svc: RecordService, writer: BulkWriter, batch: Batch, job_id: int | None,
           message: Callable[[RowOutcome], str]) -> list[RowOutcome]:
    """One batch in one transaction with its ledger rows. A unique value taken by another
    writer between the check and the insert makes the database refuse the batch: it is
    checked and written again, and then the row that lost says so."""
    for attempt in range(3):
        try:
            with svc.transaction() as tx:
                outs = _apply(writer, tx, batch)
                if job_id is not None:
                    ledger.record(tx, job_id, outs, {o.row_no: message(o) for o in outs
                                                     if o.action == "failed"})
            return outs
        except IntegrityError as e:
            if "import_rows" in str(e.orig) or attempt == 2:
                raise Conflict("another run of this import is writing the same rows") \
                    from None
    raise AssertionError("unreachable")
