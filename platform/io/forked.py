"""A generator run in a forked process, its items taken here: two cores for one file.

An import's rows are read and validated by a forked helper while the importing process
writes them (`io.rowsource`); an export's rows are read and formatted by one while this
process writes the workbook (`io.exporter`). The helper sends its items through a pipe;
what it raises comes back here: a file problem or a validation error as itself, anything
else as a RuntimeError with the helper's traceback.

A helper is forked only from a single-threaded process on Linux (the command line, an RQ
work horse): forking a threaded server could copy a lock another thread holds.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from callboard.engine.errors import ValidationFailed

from .sheets import FileProblem

STALLED_AFTER = 600  # seconds without an item from the helper before it is given up


def can_fork(engine: Engine) -> bool:
    """Whether this process may fork a helper that opens its own connections to `engine`'s
    database: Linux, no other thread, a database a second process can open."""
    return (sys.platform.startswith("linux") and threading.active_count() == 1
            and engine.url.database not in (None, "", ":memory:"))


class Forked:
    """`work(*args)` (a generator) run in a forked process; iterate to take its items.

    Used as a context manager: leaving it stops the helper if it still runs."""

    def __init__(self, work: Callable[..., Iterator[Any]], *args: Any, name: str,
                 stalled_after: float = STALLED_AFTER):
        self.name, self.stalled_after = name, stalled_after
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, daemon=True, name=name,
                                 args=(send, self._recv, work, args))
        self._proc.start()
        send.close()  # the helper holds the only writing end: its exit ends our reads

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        while True:
            message = self._next()
            if message[0] == "end":
                return
            yield message[1]

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()

    def _next(self) -> tuple[Any, ...]:
        try:
            if not self._recv.poll(self.stalled_after):
                raise RuntimeError(f"the {self.name} process sent nothing for "
                                   f"{self.stalled_after:g} s; it was stopped")
            with uncollected():  # unpickling a batch makes tens of thousands of objects
                message = self._recv.recv()
        except (EOFError, OSError):  # gone, perhaps half-way through a message
            self._proc.join()
            raise RuntimeError(f"the {self.name} process stopped "
                               f"(exit code {self._proc.exitcode})") from None
        if message[0] == "problem":
            raise FileProblem(message[1])
        if message[0] == "invalid":
            raise ValidationFailed(message[1])
        if message[0] == "crash":
            raise RuntimeError(f"the {self.name} process failed:\n{message[1]}")
        return message


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects that exist now left out of cyclic garbage collection meanwhile
    (`gc.freeze`): a large job makes millions of short-lived containers, and each full
    collection walked the whole heap of a loaded application again with them (measured:
    0.8 s of the importing process's 6.2 s of CPU for 100k rows). They are handed back to
    the collector at the end. Single-threaded processes only (a helper's parent)."""
    if gc.get_freeze_count():  # frozen already (a helper of its own): leave it so
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def uncollected() -> Iterator[None]:
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


def _serve(send: Any, parent_end: Any, work: Callable[..., Iterator[Any]],
           args: tuple[Any, ...]) -> None:
    """The helper: each item of `work(*args)`, a message each, then the end."""
    # The reading end is the parent's alone: held here too, a dead parent would leave this
    # process blocked on a full pipe for ever instead of stopping it (broken pipe).
    parent_end.close()
    gc.freeze()  # what it inherited is never collected here (nor copied by the collector)
    try:
        for item in work(*args):
            with uncollected():
                send.send(("item", item))
        send.send(("end",))
    except FileProblem as e:
        send.send(("problem", str(e)))
    except ValidationFailed as e:
        send.send(("invalid", e.errors))
    except BrokenPipeError:  # the parent is gone: so is the reason to go on
        pass
    except BaseException:  # reported to the parent, which raises it
        send.send(("crash", traceback.format_exc()))
