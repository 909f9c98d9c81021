"""Parts of a Whoosh batch written apart: the other core indexes meanwhile.

A bulk drain splits its documents (`_WhooshBatch.split`): the parent writes one part and
a forked side process the other, each as a new segment of the tenant's indexes, without
taking the writer lock (the parent holds it, as Whoosh's own MpWriter does for its
sub-writers). The parent puts both segments in its own commit, so both parts become
visible together or not at all. What only the lock's holder can do is left to it:
deleting the older document of a key the index may already hold (the new one is in the
part's segment), deleting the document of a record that is gone.

A side process that fails, dies or stalls leaves only files no commit refers to (Whoosh
removes them at the next commit) and the parent writes its half itself: no document is
lost and nothing waits for ever. It is forked only from a single-threaded process on Linux
(the command line, an RQ work horse), for the reason `io.rowsource` gives.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from whoosh.writing import SegmentWriter

from .backend import Batch, Document

log = logging.getLogger(__name__)

STALLED_AFTER = 900  # seconds without an answer before the side process is given up

Fields = Callable[[Document], tuple[str, str, dict[str, Any]]]
# what a part wrote: its segments, keys whose older documents to delete, documents to
# delete, keys added (per collection)
Outcome = tuple[dict[str, Any], list[tuple[str, str]], list[tuple[str, int]],
                dict[str, set[str]]]


def can_fork() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


class SideBatch(Batch):
    """A part of a batch written to segments of its own, without the writer lock. What
    only the lock's holder can do is left in `stale` (keys whose older document it must
    delete: the new one is in these segments) and `deleted` (documents to remove)."""

    def __init__(self, open_index: Callable[[str], Any], fields: Fields,
                 fresh: set[str] | frozenset[str] = frozenset()):
        """`fresh`: collections being rebuilt (cleared), where every document is new."""
        super().__init__()
        self.open_index, self.fields, self.fresh = open_index, fields, fresh
        self.writers: dict[str, Any] = {}
        self.readers: dict[str, Any] = {}
        self.added: dict[str, set[str]] = {}
        self.stale: list[tuple[str, str]] = []           # (collection, key)
        self.deleted: list[tuple[str, int]] = []         # (entity, record id)

    def add(self, doc: Document) -> None:
        name, k, fields = self.fields(doc)
        if k in self.added.get(name, ()):
            raise RuntimeError(f"{k} was given twice to one part of a batch")
        if name not in self.writers:
            ix = self.open_index(name)
            self.writers[name] = SegmentWriter(ix, _lk=False)  # the parent holds the lock
            if name not in self.fresh:
                self.readers[name] = ix.reader()
        if name in self.readers and ("key", k) in self.readers[name]:  # may be there already
            self.stale.append((name, k))
        self.writers[name].add_document(**fields)
        self.added.setdefault(name, set()).add(k)

    def delete(self, entity: str, record_id: int) -> None:
        self.deleted.append((entity, record_id))

    def clear(self) -> None:
        raise RuntimeError("a part of a batch does not clear the index")

    def finish(self) -> dict[str, Any]:
        """The finished segment of every index written to (name -> Whoosh segment)."""
        for reader in self.readers.values():
            reader.close()
        segments = {}
        for name, writer in self.writers.items():
            if writer._added:
                segments[name] = writer._finalize_segment()
            else:
                writer.cancel()
        return segments

    def cancel(self) -> None:
        for reader in self.readers.values():
            reader.close()
        for writer in self.writers.values():
            writer.cancel()

    def outcome(self) -> Outcome:
        return self.finish(), self.stale, self.deleted, self.added


class Side:
    """A running side process; `join()` gives its `Outcome`, or None when it failed (its
    part is then the caller's)."""

    def __init__(self, new_batch: Callable[[], SideBatch], fill: Callable[[Batch], None]):
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, daemon=True, name="callboard-index-side",
                                 args=(send, self._recv, new_batch, fill))
        self._proc.start()
        send.close()  # the side process holds the only writing end: its exit ends our read

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()

    def join(self) -> Outcome | None:
        message = None
        try:
            if self._recv.poll(STALLED_AFTER):
                message = self._recv.recv()
            else:
                log.warning("the side indexing process sent nothing for %s s; stopped",
                            STALLED_AFTER)
        except (EOFError, OSError):  # gone, perhaps half-way through its answer
            log.warning("the side indexing process stopped (exit code %s); its documents "
                        "are written here", self._proc.exitcode)
        finally:
            if message is None and self._proc.is_alive():
                self._proc.kill()
            self._proc.join()
            self._recv.close()
        if message is None:
            return None
        if message[0] != "done":
            log.warning("the side indexing process failed; its documents are written "
                        "here:\n%s", message[1])
            return None
        return message[1]


def _serve(send: Any, parent_end: Any, new_batch: Callable[[], SideBatch],
           fill: Callable[[Batch], None]) -> None:
    parent_end.close()
    gc.freeze()  # what it inherited is never collected here
    try:
        side = new_batch()
        fill(side)
        send.send(("done", side.outcome()))
    except BaseException:
        send.send(("crash", traceback.format_exc()))
