"""Work a change listener may leave to the end of many writes in a row.

An import writes thousands of records in committed batches. A listener whose work is far
cheaper done once for all of them (the search indexer: one index writer and one commit
instead of one per batch) asks `later` to run it when the bulk write ends; outside a bulk
write `later` says no and the listener works at once, as after any other write.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

_WORK: ContextVar[dict[object, Callable[[], None]] | None] = ContextVar(
    "callboard_deferred_work", default=None)


@contextmanager
def deferring() -> Iterator[None]:
    """Inside, `later` keeps work for the end, where it runs once per key: also when the
    bulk write stops half-way, so what was committed is caught up with."""
    if _WORK.get() is not None:  # nested: the outermost one runs the work
        yield
        return
    token = _WORK.set({})
    try:
        yield
    finally:
        work = _WORK.get() or {}
        _WORK.reset(token)
        for fn in work.values():
            try:
                fn()
            except Exception:  # a listener must never undo committed writes
                log.exception("deferred work failed")


def later(key: object, fn: Callable[[], None]) -> bool:
    """Inside `deferring`: keep `fn` to run at its end, once per `key`, and say True.
    Outside: False, and the caller does the work now."""
    work = _WORK.get()
    if work is None:
        return False
    work.setdefault(key, fn)
    return True
