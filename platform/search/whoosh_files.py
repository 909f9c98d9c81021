"""Reading Whoosh's memory-mapped segment files in place.

Whoosh maps each segment's compound file and hands its parts (postings, term index…) to
`BufferFile`, which wraps them in `BytesIO(buf)`: a copy. Opening a reader therefore
copied every segment's postings and terms into the process's own memory (measured: a
60,000-document index, 6 segments, 64 MB of anonymous memory per reader, growing with the
index; a bulk import's index writer opens one per commit). `ViewFile` reads the mapped
bytes where they are, so the pages stay file-backed and shared by every process, and
reads cost what they did.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from whoosh.filedb import structfile


class ViewFile:
    """A read-only file over a buffer (a memoryview of a mapped file), without a copy:
    what Whoosh's readers need of a file (read, readline, seek, tell; pickle and
    array.fromfile read through `read`)."""

    def __init__(self, buf: Any):
        self._view = memoryview(buf).cast("B")
        self._pos = 0
        self.closed = False

    def read(self, n: int | None = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(self._pos + n, len(self._view))
        out = self._view[self._pos:end].tobytes()
        self._pos = max(self._pos, end)
        return out

    def readline(self, limit: int | None = -1) -> bytes:
        view, start = self._view, self._pos
        end = len(view) if limit is None or limit < 0 else min(start + limit, len(view))
        # search a growing window for the newline rather than the whole rest
        step = 256
        stop = start
        while stop < end:
            nxt = min(stop + step, end)
            i = view[stop:nxt].tobytes().find(b"\n")
            if i >= 0:
                stop += i + 1
                break
            stop, step = nxt, step * 2
        self._pos = stop
        return view[start:stop].tobytes()

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence == io.SEEK_END:
            pos += len(self._view)
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        self.closed = True

    def flush(self) -> None:
        pass


def _buffer_file_init(self: Any, buf: Any, name: str | None = None, onclose: Any = None
                      ) -> None:
    self._buf = buf
    self._name = name
    self.file = ViewFile(buf)
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


def read_in_place() -> None:
    """Make Whoosh's BufferFile read its buffer in place (idempotent)."""
    structfile.BufferFile.__init__ = _buffer_file_init  # type: ignore[method-assign]
