"""Where an import's rows come from: read here, or read and validated by a helper process.

A large insert splits its work over two processes. A forked helper opens the file, turns
cells into values and validates every row through the record service
(`BulkWriter.prepare`, the API's own validation); meanwhile the importing process checks
each batch against the table, writes it and records it in the ledger. Nothing the helper
does is written anywhere: when either process dies, the ledger still says which rows are
in the database, and the next run resumes there.

The helper is forked only from a single-threaded process on Linux (the command line, an
RQ work horse): forking a threaded server could copy a lock another thread holds. An
upsert reads the records it updates, so it is validated inside its write transaction,
here; so is a small file.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callboard.engine.bulk import BulkWriter, RowOutcome
from callboard.engine.db import own_engine
from callboard.engine.model import Field

from .columns import Columns
from .forked import Forked
from .forked import can_fork as _fork_allowed
from .sheets import Table, open_table

PARALLEL_FROM = 2000  # rows (as `sheets.estimate_rows` guesses) before a helper pays off
STALLED_AFTER = 600  # seconds without a batch from the helper before it is given up


@dataclass
class Batch:
    """Up to a batch of data rows, in file order."""

    rows: list[tuple[int, dict[str, Any], list[Any]]] = field(default_factory=list)
    prepared: list[tuple[RowOutcome, list[Any]]] | None = None  # validated by the helper
    done: list[tuple[int, str, str | None, list[Any]]] = field(default_factory=list)
    seen: int = 0  # data rows read so far, this batch included
    states: list[tuple[Any, ...]] | None = None  # the prepared outcomes before a write

    def __len__(self) -> int:
        return len(self.rows) + len(self.prepared or ())


def batches(table: Table, cols: Columns, done: Mapping[int, tuple[str, str | None]],
            size: int) -> Iterator[Batch]:
    """The data rows of `table` (the template's row of names and empty rows skipped) in
    batches of `size` to write; rows the ledger holds (`done`) ride along to be counted."""
    batch, seen, first = Batch(), 0, True
    for row_no, cells in table.rows:
        if first:
            first = False
            if cols.is_name_row(cells):
                continue
        values = cols.values(cells)
        if values is None:
            continue
        seen += 1
        if row_no in done:
            action, error = done[row_no]
            batch.done.append((row_no, action, error, cells))
        else:
            batch.rows.append((row_no, values, cells))
        if len(batch.rows) >= size or len(batch.done) >= size:
            batch.seen = seen
            yield batch
            batch = Batch()
    batch.seen = seen
    yield batch


def can_fork(writer: BulkWriter, table_rows: int) -> bool:
    """Whether a helper process should read and validate this import."""
    return (writer.mode == "insert" and table_rows >= PARALLEL_FROM
            and _fork_allowed(writer.svc.engine))


class Helper:
    """A forked process reading and validating the file; the importer takes its batches.

    Used as a context manager: leaving it stops the helper if it still runs."""

    def __init__(self, writer: BulkWriter, path: Path, name: str | None,
                 fields: Mapping[str, Field], region: str,
                 done: Mapping[int, tuple[str, str | None]], size: int):
        writer.svc._users  # noqa: B018 - looked up once here, inherited by the helper
        self._forked = Forked(_prepared, writer, path, name, fields, region, done, size,
                              name="file-reading", stalled_after=STALLED_AFTER)
        self._items = iter(self._forked)
        try:
            self.header, self.total = next(self._items)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._forked.close()

    def batches(self) -> Iterator[Batch]:
        return self._items


def _prepared(writer: BulkWriter, path: Path, name: str | None,
              fields: Mapping[str, Field], region: str,
              done: Mapping[int, tuple[str, str | None]], size: int) -> Iterator[Any]:
    """In the helper: the header and row count, then the file's rows, validated, a batch
    at a time."""
    table = open_table(path, name)
    yield table.header, table.total
    cols = Columns(fields, table.header, region)
    # hooks read while validating: through connections of the helper's own
    svc = writer.svc
    svc.engine = own_engine(svc.engine)
    with svc.engine.connect() as conn:
        for batch in batches(table, cols, done, size):
            outs = writer.prepare(conn, [(n, v) for n, v, _ in batch.rows])
            conn.rollback()
            yield Batch(prepared=[(o, c) for o, (_, _, c) in zip(outs, batch.rows, strict=True)],
                        done=batch.done, seen=batch.seen)
