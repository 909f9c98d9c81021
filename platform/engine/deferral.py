"""Follow-up work put off to the end of a bulk operation.

A listener that does something costly after each committed write (the search indexer
commits an index segment) can ask, while an import or a bulk delete runs, to do it once
at the end instead: `later(key, fn)` queues `fn` (once per `key`) when the caller is inside
`deferring()`, and returns False otherwise, in which case the listener does the work now.
The queued work runs when the outermost `deferring()` block ends, also when it ends with an
error: what was committed before the error is followed up all the same.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

_QUEUE: ContextVar[dict[Hashable, Callable[[], None]] | None] = ContextVar(
    "callboard_deferred", default=None)


@contextmanager
def deferring() -> Iterator[None]:
    """Within the block, `later()` queues work; it runs when the block ends (nested blocks
    leave it to the outermost one)."""
    if _QUEUE.get() is not None:
        yield
        return
    queue: dict[Hashable, Callable[[], None]] = {}
    token = _QUEUE.set(queue)
    try:
        yield
    finally:
        _QUEUE.reset(token)
        for fn in queue.values():
            try:
                fn()
            except Exception:  # follow-up work must not undo or hide what was committed
                log.exception("deferred work failed")


def later(key: Hashable, fn: Callable[[], None]) -> bool:
    """Queue `fn` to run at the end of the current `deferring()` block (the first `fn`
    queued under `key` is kept); False when no block is open: do the work now."""
    queue = _QUEUE.get()
    if queue is None:
        return False
    queue.setdefault(key, fn)
    return True
