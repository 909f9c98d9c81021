"""Export the records an actor may see, filtered, as .xlsx (openpyxl write-only) or .csv.

Rows are read by id in chunks and written as they come, so memory stays flat whatever the
count; for a large workbook a helper process reads and formats them while this one writes
(openpyxl spends more time per row than reading does). Headers are the fields' labels in
the chosen locale; every text that a spreadsheet could take for a formula is neutralised
(`cells.safe_text`).
"""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select

from callboard.engine.access import Actor
from callboard.engine.bulk import count_records, iter_records
from callboard.engine.db import own_engine
from callboard.engine.model import Field, Label
from callboard.engine.queries import Query
from callboard.engine.records import RecordService
from callboard.engine.tables import members

from .cells import Display, safe_text
from .columns import OWNER, RECORD_ID, importable_fields
from .forked import Forked, can_fork, frozen_heap
from .sheets import FileProblem

_STAMP = Field("stamp", "datetime", Label.of("stamp"))
PARALLEL_FROM = 2000  # rows before a helper process pays off (.xlsx)
LINES_PER_BATCH = 1000  # rows per message from the helper
STAMPS = {"created_at": {"en": "Created", "vi": "Ngày tạo", "zh": "创建时间"},
          "updated_at": {"en": "Updated", "vi": "Ngày cập nhật", "zh": "更新时间"}}


def export_records(svc: RecordService, actor: Actor, entity: str, path: Path, *,
                   query: Query | None = None, extra: Sequence[Any] = (),
                   locale: str | None = None, parallel: bool | None = None,
                   progress: Callable[[float], None] = lambda f: None) -> dict[str, Any]:
    """Write the records to `path` (.xlsx, or .csv by its suffix); {"rows": n, ...}.
    `query` filters them as a list does, `extra` adds SQL conditions (a ticket view's).

    `parallel`: whether a helper process reads and formats the rows while this one writes
    the workbook (`io.forked`); by default for a large .xlsx when that is safe. A .csv is
    written in-process: writing it costs little next to reading the rows."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise FileProblem(f"'{path.name}': export to .xlsx or .csv")
    query = query or Query()
    ent = svc._entity_for(actor, entity)
    settings = svc.model.settings
    locale = locale if locale in settings.locales else settings.locale
    fields = [f for n, f in importable_fields(svc.model, ent).items() if n != "owner"]
    columns = [RECORD_ID, *fields, OWNER]
    with svc.engine.connect() as conn:
        users = {r.user_id: r.email for r in conn.execute(
            select(members.c.user_id, members.c.email).where(
                members.c.tenant_id == svc.tenant.id))}
    display = Display(locale, settings.phone_region, users, typed_dates=suffix == ".xlsx")
    header = [f.label.text(locale) for f in columns] + [
        STAMPS[s].get(locale, STAMPS[s]["en"]) for s in STAMPS]
    total = max(count_records(svc, actor, entity, query, extra=extra), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    if parallel is None:
        parallel = suffix == ".xlsx" and total >= PARALLEL_FROM and can_fork(svc.engine)
    part = path.with_name(path.name + ".part")  # renamed once whole: no half files
    with ExitStack() as stack:
        stack.callback(part.unlink, missing_ok=True)
        if parallel:  # a helper reads and formats the rows while this process writes them
            stack.enter_context(frozen_heap())
            helper = stack.enter_context(Forked(
                _batches_of_lines, svc, actor, entity, query, extra, display, fields,
                users, name="export-reading"))
            source: Iterator[list[list[Any]]] = iter(helper)
        else:
            source = _batches(_lines(svc, actor, entity, query, extra, display, fields,
                                     users))
        if suffix == ".csv":
            with part.open("w", encoding="utf-8-sig", newline="") as f:
                out = csv.writer(f)
                out.writerow([safe_text(h) for h in header])
                for batch in source:
                    out.writerows(batch)
                    rows += len(batch)
                    progress(rows / total)
        else:
            wb = Workbook(write_only=True)
            ws = wb.create_sheet(ent.plural.text(locale)[:31] or entity)
            ws.append([safe_text(h) for h in header])
            try:
                for batch in source:
                    for line in batch:
                        ws.append(line)
                    rows += len(batch)
                    progress(rows / total)
            except BaseException:
                _discard(ws)
                raise
            wb.save(part)
        part.replace(path)
    return {"rows": rows, "file": path.name, "files": [path.name], "entity": entity,
            "parallel": bool(parallel)}


def _discard(ws: Any) -> None:
    """An unfinished write-only sheet closed and the temporary file openpyxl wrote its
    rows to removed (left open, it would be finished noisily when collected)."""
    try:
        ws.close()
        ws._writer.cleanup()
    except Exception:  # the export's own error is the one to report
        pass


def _lines(svc: RecordService, actor: Actor, entity: str, query: Query,
           extra: Sequence[Any], display: Display, fields: list[Field],
           users: dict[int, str]) -> Iterator[list[Any]]:
    """The export's rows: record id, fields, owner, created and updated."""
    for record in iter_records(svc, actor, entity, query, extra=extra):
        yield [record["id"], *[display.value(f, record.get(f.name)) for f in fields],
               users.get(record["owner"]) if record["owner"] else None,
               display.value(_STAMP, record["created_at"]),
               display.value(_STAMP, record["updated_at"])]


def _batches(lines: Iterator[list[Any]]) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= LINES_PER_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _batches_of_lines(svc: RecordService, actor: Actor, entity: str, query: Query,
                      extra: Sequence[Any], display: Display, fields: list[Field],
                      users: dict[int, str]) -> Iterator[list[list[Any]]]:
    """In the helper: the export's rows, read through connections of its own."""
    svc.engine = own_engine(svc.engine)
    yield from _batches(_lines(svc, actor, entity, query, extra, display, fields, users))
