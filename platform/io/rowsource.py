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

import gc
import multiprocessing as mp
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callboard.engine.bulk import BulkWriter, RowOutcome
from callboard.engine.db import connect
from callboard.engine.errors import ValidationFailed
from callboard.engine.model import Field

from .columns import Columns
from .sheets import FileProblem, Table, open_table

PARALLEL_FROM = 2000  # rows (as `sheets.estimate_rows` guesses) before a helper pays off
STALLED_AFTER = 600  # seconds without a batch from the helper before it is given up
_INHERITED: list[Any] = []


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
    database = writer.svc.engine.url.database
    return (writer.mode == "insert" and table_rows >= PARALLEL_FROM
            and sys.platform.startswith("linux") and threading.active_count() == 1
            and database not in (None, "", ":memory:"))


class Helper:
    """A forked process reading and validating the file; the importer takes its batches.

    Used as a context manager: leaving it stops the helper if it still runs."""

    def __init__(self, writer: BulkWriter, path: Path, name: str | None,
                 fields: Mapping[str, Field], region: str,
                 done: Mapping[int, tuple[str, str | None]], size: int):
        writer.svc._users  # noqa: B018 - looked up once here, inherited by the helper
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, daemon=True, name="callboard-import-reader",
                                 args=(send, self._recv, writer, path, name, fields, region,
                                       done, size))
        self._proc.start()
        send.close()  # the helper holds the only writing end: its exit ends our reads
        try:
            head = self._next()
        except BaseException:
            self.close()
            raise
        self.header: list[Any] = head[1]
        self.total: int = head[2]

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()

    def batches(self) -> Iterator[Batch]:
        while True:
            message = self._next()
            if message[0] == "end":
                return
            _, prepared, done, seen = message
            yield Batch(prepared=prepared, done=done, seen=seen)

    def _next(self) -> tuple[Any, ...]:
        try:
            if not self._recv.poll(STALLED_AFTER):
                raise RuntimeError(f"the process reading the file sent nothing for "
                                   f"{STALLED_AFTER} s; it was stopped")
            with _uncollected():  # unpickling a batch makes ~40k acyclic objects
                message = self._recv.recv()
        except (EOFError, OSError):  # gone, perhaps half-way through a message
            self._proc.join()
            raise RuntimeError("the process reading the file stopped "
                               f"(exit code {self._proc.exitcode})") from None
        if message[0] == "problem":
            raise FileProblem(message[1])
        if message[0] == "invalid":
            raise ValidationFailed(message[1])
        if message[0] == "crash":
            raise RuntimeError(f"reading the file failed:\n{message[1]}")
        return message


@contextmanager
def _uncollected() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: (un)pickling a batch makes tens of thousands
    of containers, none in a cycle, and a collection every 700 of them walked them all
    (measured: three times the time of unpickling alone). Single-threaded processes only."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _serve(send: Any, importer_end: Any, writer: BulkWriter, path: Path, name: str | None,
           fields: Mapping[str, Field], region: str,
           done: Mapping[int, tuple[str, str | None]], size: int) -> None:
    """The helper: the file's rows, validated, a batch per message."""
    # The reading end is the importer's alone: held here too, a dead importer would leave
    # this process blocked on a full pipe for ever instead of stopping it (broken pipe).
    importer_end.close()
    gc.freeze()  # what it inherited is never collected here (nor copied by the collector)
    try:
        table = open_table(path, name)
        send.send(("head", table.header, table.total))
        cols = Columns(fields, table.header, region)
        # The parent's pooled connections are its own: the helper opens its own, for the
        # hooks that read while validating (and leaves the inherited ones untouched).
        svc = writer.svc
        _INHERITED.append(svc.engine)  # never collected here, so never closed from here
        svc.engine = connect(svc.engine.url.render_as_string(hide_password=False))
        with svc.engine.connect() as conn:
            for batch in batches(table, cols, done, size):
                outs = writer.prepare(conn, [(n, v) for n, v, _ in batch.rows])
                conn.rollback()
                prepared = [(o, c) for o, (_, _, c) in zip(outs, batch.rows, strict=True)]
                with _uncollected():
                    send.send(("batch", prepared, batch.done, batch.seen))
        send.send(("end",))
    except FileProblem as e:
        send.send(("problem", str(e)))
    except ValidationFailed as e:
        send.send(("invalid", e.errors))
    except BrokenPipeError:  # the importer is gone: so is the reason to read on
        pass
    except BaseException:  # reported to the importer, which raises it
        send.send(("crash", traceback.format_exc()))
