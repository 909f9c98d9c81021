"""The search-backend interface: one index per tenant, written in batches by one writer
at a time, searched with AND grouping and a visibility filter supplied by the caller.

The interface keeps room for PostgreSQL full text or OpenSearch; `WhooshBackend`
(whoosh_backend.py) is the implementation that ships.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Field boosts: a match in the title counts most, one only in an attachment least.
BOOSTS: dict[str, float] = {"title": 6.0, "keywords": 3.5, "body": 2.0, "attachments": 1.0}
TEXT_FIELDS: tuple[str, ...] = tuple(BOOSTS)


@dataclass(frozen=True)
class Document:
    """What the index holds of one record."""

    entity: str
    id: int
    title: str = ""
    keywords: str = ""
    body: str = ""
    attachments: str = ""
    category: int | None = None


@dataclass(frozen=True)
class Hit:
    entity: str
    id: int
    score: float
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    total: int


Visible = Callable[[Sequence[tuple[str, int]]], set[tuple[str, int]]]
"""Given candidate (entity, id) pairs, the ones the caller may see."""


class IndexBusy(Exception):
    """Another writer holds the tenant's index longer than we were willing to wait."""


class Batch(ABC):
    """Changes to one tenant's index, committed together when the batch ends."""

    def __init__(self) -> None:
        self.after_commit: list[Callable[[], None]] = []

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the batch is committed, while the writer is still held."""
        self.after_commit.append(fn)

    #: Whether `split` runs its parts at the same time, in processes of their own.
    parallel: bool = False
    #: Set by a bulk operation (a job): its commit may take long to reorganise the index;
    #: any other batch (a single write, a search) must not.
    bulk: bool = False

    def split(self, parts: Sequence[Callable[[Batch], None]]) -> None:
        """Run each part (adds and deletes of documents no other part touches) as part of
        this batch, committed with it. A backend may run them at the same time in several
        processes; here they run one after the other."""
        for fill in parts:
            fill(self)

    @abstractmethod
    def add(self, doc: Document) -> None:
        """Add or replace the document of (doc.entity, doc.id)."""

    @abstractmethod
    def delete(self, entity: str, record_id: int) -> None:
        """Remove the document of a record (no error when there is none)."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every document of the tenant (a rebuild follows)."""


class SearchBackend(ABC):
    """Per-tenant full-text indexes."""

    @abstractmethod
    def writing(self, tenant_id: int, timeout: float = 5.0) -> AbstractContextManager[Batch]:
        """The tenant's one writer (IndexBusy after `timeout` seconds); commits on exit,
        discards the batch when the block raises."""

    @abstractmethod
    def search(self, tenant_id: int, text: str, *, entities: Iterable[str],
               categories: Iterable[int] | None = None, limit: int = 20,
               visible: Visible | None = None, window: int = 1000,
               highlight: bool = True) -> Results:
        """The best `limit` hits for `text` (every term must match, in some field) among
        `entities` (and `categories`), those the `visible` filter keeps, looking at up to
        `window` candidates; `total` counts the visible matches (exact when every match
        was a candidate, else estimated)."""

    def index(self, tenant_id: int, docs: Iterable[Document]) -> None:
        with self.writing(tenant_id) as batch:
            for doc in docs:
                batch.add(doc)

    def delete(self, tenant_id: int, keys: Iterable[tuple[str, int]]) -> None:
        with self.writing(tenant_id) as batch:
            for entity, record_id in keys:
                batch.delete(entity, record_id)

    def clear(self, tenant_id: int) -> None:
        with self.writing(tenant_id) as batch:
            batch.clear()

    def count(self, tenant_id: int) -> int:
        """How many documents the tenant's index holds."""
        return 0

    def close(self) -> None:  # noqa: B027 - nothing to release unless a backend says so
        """Release what the backend keeps open."""


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
