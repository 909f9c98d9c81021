"""Follow-up work put off to the end of a bulk operation.

A listener that does something costly after each committed write (the search indexer
commits an index segment) can ask, while an import or a bulk delete runs, to do it once
at the end instead: `later(key, fn, stage)` queues `fn` (once per `key`) when the caller
is inside `deferring()`, and returns False otherwise, in which case the listener does the
work now. The queued work runs when the outermost `deferring()` block ends, also when it
ends with an error: what was committed before the error is followed up all the same.

Progress: `deferring(progress)` yields the reporter for the block's own work. Once work
is queued, the block's own work fills the first FOLLOW_UP_AT of the bar and the queued
work the rest, reported as `progress(fraction, stage=...)`, so a job does not read 100 %
while its records are still being indexed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
Work = Callable[[Progress], None]          # queued work, given its own 0..1 reporter
FOLLOW_UP_AT = 0.5  # the share of a job's bar its own work fills when follow-up is queued

_QUEUE: ContextVar[dict[Hashable, tuple[Work, str]] | None] = ContextVar(
    "callboard_deferred", default=None)


def no_progress(fraction: float, **kw: Any) -> None:
    """A progress reporter that reports nowhere (the default of bulk operations)."""


@contextmanager
def deferring(progress: Callable[..., None] | None = None) -> Iterator[Callable[..., None]]:
    """Within the block, `later()` queues work; it runs when the block ends (nested blocks
    leave it to the outermost one). Yields the reporter of the block's own progress."""
    report = progress or no_progress

    def own(fraction: float, **kw: Any) -> None:
        queue = _QUEUE.get()
        report(fraction * FOLLOW_UP_AT if queue else fraction, **kw)

    if _QUEUE.get() is not None:
        yield own
        return
    queue: dict[Hashable, tuple[Work, str]] = {}
    token = _QUEUE.set(queue)
    try:
        yield own
    finally:
        _QUEUE.reset(token)
        _run(queue, report)


def _run(queue: dict[Hashable, tuple[Work, str]], report: Callable[..., None]) -> None:
    n = len(queue)
    for i, (fn, stage) in enumerate(queue.values()):
        lo = FOLLOW_UP_AT + (1 - FOLLOW_UP_AT) * i / n
        hi = FOLLOW_UP_AT + (1 - FOLLOW_UP_AT) * (i + 1) / n
        try:
            report(lo, stage=stage)
            fn(lambda f, lo=lo, hi=hi, stage=stage: report(
                lo + (hi - lo) * max(0.0, min(1.0, f)), stage=stage))
        except Exception:  # follow-up work must not undo or hide what was committed
            log.exception("deferred work failed")


def later(key: Hashable, fn: Work, stage: str = "follow-up") -> bool:
    """Queue `fn` to run at the end of the current `deferring()` block (the first `fn`
    queued under `key` is kept), reported under `stage`; False when no block is open:
    do the work now."""
    queue = _QUEUE.get()
    if queue is None:
        return False
    queue.setdefault(key, (fn, stage))
    return True
