"""The Whoosh implementation of the search backend, under `<data dir>/search`.

Each tenant has a folder `tenant-<id>` holding two Whoosh indexes: `kb` (knowledge-base
articles) and `records` (customers, contacts, tickets), so a knowledge-base search never
filters out records and the other way round.

One writer per tenant at a time, across threads and processes: an in-process lock, then an
flock on `tenant-<id>/writer.lock`, waited for up to a timeout; Whoosh's own write locks
sit behind it. Queries AND their terms over one weighted text field (see `schema`),
evaluated over cached, decoded posting lists (matching.py) rather than Whoosh's
pure-Python matchers; scores are BM25 without length normalisation; highlights are
computed only for the hits the caller may see.
"""
from __future__ import annotations

import fcntl
import heapq
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from whoosh import index, scoring
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.query import And, Every, Query, Term
from whoosh.writing import CLEAR, MERGE_SMALL, LockError

from .analysis import SearchAnalyzer, Weighted, terms
from .backend import (
    BOOSTS,
    TEXT_FIELDS,
    Batch,
    Document,
    Hit,
    IndexBusy,
    Results,
    SearchBackend,
    Visible,
)
from .highlight import highlight
from .matching import CACHE_BYTES, PostingCache, idf, saturate, search_and
from .whoosh_alongside import Side, SideBatch, can_fork
from .whoosh_files import read_in_place, write_with_fewer_calls

read_in_place()  # segment files read where they are mapped, not copied per reader
write_with_fewer_calls()  # positions counted, missing columns remembered

MAX_TEXT = 200_000  # characters of one field kept in the index (attachments can be long)


class _SaturatedScorer(scoring.BaseScorer):
    """idf × tf·(k1+1)/(tf+k1): BM25 without length normalisation (B = 0), the weighted
    tf putting a title above a body. Searches score in matching.py with the same formula;
    this scorer gives Whoosh's own queries (`query()`) the same scores."""

    def __init__(self, idf: float, max_weight: float):
        self.idf = idf
        self._max = saturate(max_weight) * idf

    def supports_block_quality(self) -> bool:
        return True

    def score(self, matcher: Any) -> float:
        return saturate(matcher.weight()) * self.idf

    def max_quality(self) -> float:
        return self._max

    def block_quality(self, matcher: Any) -> float:
        return saturate(matcher.block_max_weight()) * self.idf


class SaturatedTf(scoring.WeightingModel):
    """The weighting of Whoosh searchers (see _SaturatedScorer)."""

    def scorer(self, searcher: Any, fieldname: str, text: bytes, qf: int = 1) -> Any:
        top = searcher.get_parent()  # statistics of the whole index, not one segment
        return _SaturatedScorer(idf(top.doc_count_all(), top.doc_frequency(fieldname, text)),
                                top.term_info(fieldname, text).max_weight())


WEIGHTING = SaturatedTf()
COLLECTIONS = ("kb", "records")
# The entities each collection holds: asking for all of them needs no entity filter.
UNFILTERED = {"kb": {"kb_article"}, "records": {"customer", "contact", "ticket"}}


def collection(entity: str) -> str:
    """The index an entity's documents live in."""
    return "kb" if entity == "kb_article" else "records"


def schema() -> Schema:
    """One indexed field, `text`, made of the weighted parts of a document (a word of the
    title weighs BOOSTS["title"] in the term frequency BM25 scores, one of the body
    BOOSTS["body"]…): one posting list per term, so an AND of terms is an intersection.
    The parts are stored as they are, for highlights."""
    stored = {name: STORED() for name in TEXT_FIELDS}
    return Schema(key=ID(unique=True, stored=True), entity=ID(stored=True), category=ID(),
                  text=TEXT(analyzer=SearchAnalyzer(), phrase=False), **stored)


def key(entity: str, record_id: int) -> str:
    return f"{entity}:{record_id}"


def whoosh_fields(doc: Document) -> tuple[str, str, dict[str, Any]]:
    """The collection, key and Whoosh fields of a document."""
    parts = {name: unicodedata.normalize("NFC", getattr(doc, name) or "")[:MAX_TEXT]
             for name in TEXT_FIELDS}
    k = key(doc.entity, doc.id)
    return collection(doc.entity), k, dict(
        key=k, entity=doc.entity,
        category=str(doc.category) if doc.category is not None else "",
        text=Weighted([(parts[n], BOOSTS[n]) for n in TEXT_FIELDS if parts[n]]), **parts)


LIGHT_BELOW = 2_000  # documents: the segments a commit outside a bulk operation may merge


def merge_light(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh's MERGE_SMALL over the segments under LIGHT_BELOW documents only. The
    segments of bulk drains (10,000 documents each) are merged by bulk drains: left to
    MERGE_SMALL, the commit of a single write that makes them 24 rewrote all of them
    (measured: one document's commit took 86 s, merging 230,000 documents)."""
    large = [s for s in segments if s.doc_count_all() >= LIGHT_BELOW]
    return large + MERGE_SMALL(writer, [s for s in segments
                                        if s.doc_count_all() < LIGHT_BELOW])


class _WhooshBatch(Batch):
    """Writers opened on first use, per collection, under the tenant's writer lock.

    A document whose key the index has never held (a new record) is added; only one
    that may be there is updated (delete, then add): Whoosh's update looks every key up
    through a searcher, posting lists and all (measured: 40,000 new documents in commits
    of 10,000 took 31.7 s updated, 24.6 s added)."""

    def __init__(self, backend: WhooshBackend, tenant_id: int, timeout: float):
        super().__init__()
        self.backend, self.tenant_id, self.timeout = backend, tenant_id, timeout
        self.writers: dict[str, Any] = {}
        self.readers: dict[str, Any] = {}  # the index as it was when the writer opened
        self.added: dict[str, set[str]] = {}
        self.cleared: set[str] = set()
        self.adopted: dict[str, list[Any]] = {}  # segments written apart (split)
        self.side_keys: set[str] = set()

    def writer(self, name: str) -> Any:
        if name not in self.writers:
            ix = self.backend._index(self.tenant_id, name)
            try:
                self.writers[name] = ix.writer(timeout=max(self.timeout, 1.0), delay=0.02)
            except LockError:
                raise IndexBusy(f"the search index of tenant {self.tenant_id} is busy"
                                ) from None
        return self.writers[name]

    @property
    def parallel(self) -> bool:  # type: ignore[override]
        return can_fork() if self.backend.fork is None else self.backend.fork

    def split(self, parts: Sequence[Callable[[Batch], None]]) -> None:
        """The first part written here, each other one by a forked process, each into a
        segment of its own that this batch commits (whoosh_alongside.py); one after the
        other in this writer when forking is not safe, and a failed process's part here."""
        if not self.parallel or len(parts) < 2:
            super().split(parts)
            return
        open_index = partial(self.backend._index, self.tenant_id)
        fresh = set(self.cleared)  # collections being rebuilt: every document is new
        sides = [Side(partial(SideBatch, open_index, whoosh_fields, fresh), fill)
                 for fill in parts[1:]]
        here = SideBatch(open_index, whoosh_fields, fresh)
        try:
            parts[0](here)
            outcomes = [here.outcome()]
        except BaseException:
            here.cancel()
            for side in sides:
                side.stop()
            raise
        for side, fill in zip(sides, parts[1:], strict=True):
            outcome = side.join()
            if outcome is None:
                fill(self)
            else:
                outcomes.append(outcome)
        for segments, stale, deleted, added in outcomes:
            for name, segment in segments.items():
                self.adopted.setdefault(name, []).append(segment)
            for name, k in stale:  # the parts' segments are not among the writer's
                self.writer(name).delete_by_term("key", k)
            for entity, record_id in deleted:
                self.delete(entity, record_id)
            for name, keys in added.items():
                self.writer(name)
                self.added.setdefault(name, set()).update(keys)
                self.side_keys.update(keys)

    def add(self, doc: Document) -> None:
        name, k, fields = whoosh_fields(doc)
        if k in self.side_keys:  # in a segment this writer's deletions would not reach
            raise RuntimeError(f"{k} was written to a segment of its own in this batch")
        writer = self.writer(name)
        if self._may_hold(name, k):
            writer.update_document(**fields)
        else:
            writer.add_document(**fields)
        self.added.setdefault(name, set()).add(k)

    def _may_hold(self, name: str, k: str) -> bool:
        """Whether the collection may hold a document of key `k`: added in this batch,
        or the key is a term of the index (deleted documents' terms linger until a merge,
        so a True may be needless, never a False wrong). After clear(): only this batch."""
        if k in self.added.get(name, ()):
            return True
        if name in self.cleared:
            return False
        reader = self.readers.get(name)
        if reader is None:
            reader = self.readers[name] = self.writers[name].reader()
        return ("key", k) in reader

    def delete(self, entity: str, record_id: int) -> None:
        if key(entity, record_id) in self.side_keys:
            raise RuntimeError(f"{key(entity, record_id)} was written to a segment of its "
                               "own in this batch")
        self.writer(collection(entity)).delete_by_term("key", key(entity, record_id))

    def clear(self) -> None:
        for name in COLLECTIONS:
            self.cleared.add(name)
            self.writer(name).delete_by_query(Every())

    def commit(self) -> None:
        self._close_readers()
        for name, writer in self.writers.items():
            policy = CLEAR if name in self.cleared else MERGE_SMALL if self.bulk \
                else merge_light
            extra = self.adopted.get(name)
            writer.commit(mergetype=(lambda w, s, p=policy, e=extra: p(w, s) + e)
                          if extra else policy)

    def cancel(self) -> None:
        self._close_readers()
        for writer in self.writers.values():
            writer.cancel()

    def _close_readers(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()


class WhooshBackend(SearchBackend):
    """Whoosh indexes under `root` (normally `<data dir>/search`); up to `cache_bytes` of
    decoded postings kept in memory between queries (see matching.py). `fork`: whether a
    batch may split its work over forked processes (None: when that is safe)."""

    def __init__(self, root: Path, cache_bytes: int = CACHE_BYTES,
                 fork: bool | None = None):
        self.root = Path(root)
        self.fork = fork
        self._indexes: dict[tuple[int, str], Any] = {}
        self._searchers: dict[tuple[int, str], Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._postings = PostingCache(cache_bytes)
        self._guard = threading.Lock()

    # -- opening -----------------------------------------------------------------------
    def path(self, tenant_id: int) -> Path:
        return self.root / f"tenant-{int(tenant_id)}"

    def _index(self, tenant_id: int, name: str) -> Any:
        ix = self._indexes.get((tenant_id, name))
        if ix is not None:
            return ix
        with self._guard:
            ix = self._indexes.get((tenant_id, name))
            if ix is None:
                ix = self._open_or_create(self.path(tenant_id), name)
                self._indexes[(tenant_id, name)] = ix
            return ix

    @staticmethod
    def _open_or_create(folder: Path, name: str) -> Any:
        path = folder / name
        path.mkdir(parents=True, exist_ok=True)
        with open(folder / "create.lock", "w") as guard:  # one creator across processes
            fcntl.flock(guard, fcntl.LOCK_EX)
            if index.exists_in(str(path)):
                return index.open_dir(str(path))
            return index.create_in(str(path), schema())

    def _lock(self, *key: Any) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- writing -----------------------------------------------------------------------
    @contextmanager
    def writing(self, tenant_id: int, timeout: float = 5.0) -> Iterator[Batch]:
        lock = self._lock("write", tenant_id)
        deadline = time.monotonic() + max(timeout, 0.0)
        if not (lock.acquire(timeout=timeout) if timeout > 0 else lock.acquire(False)):
            raise IndexBusy(f"the search index of tenant {tenant_id} is busy")
        try:
            folder = self.path(tenant_id)
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / "writer.lock", os.O_CREAT | os.O_WRONLY, 0o644)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise IndexBusy(f"the search index of tenant {tenant_id} is "
                                            f"busy") from None
                        time.sleep(0.01)
                batch = _WhooshBatch(self, tenant_id, timeout)
                try:
                    yield batch
                except BaseException:
                    batch.cancel()
                    raise
                batch.commit()
                for fn in batch.after_commit:
                    fn()
            finally:
                os.close(fd)  # releases the flock
        finally:
            lock.release()

    def count(self, tenant_id: int) -> int:
        total = 0
        for name in COLLECTIONS:
            with self._searcher(tenant_id, name) as searcher:
                total += searcher.doc_count()
        return total

    # -- searching ---------------------------------------------------------------------
    def query(self, text: str) -> Query | None:
        """Every term of `text` as a Whoosh And (None when it has no terms): what a search
        matches and scores, in Whoosh's own form, for checks and ad-hoc use; `search`
        evaluates it with matching.py."""
        words = list(dict.fromkeys(terms(text)))
        if not words:
            return None
        return And([Term("text", w) for w in words])

    @contextmanager
    def _searcher(self, tenant_id: int, name: str) -> Iterator[Any]:
        """The collection's searcher, kept open and replaced when the index changed."""
        with self._lock("read", tenant_id, name):
            searcher = self._searchers.get((tenant_id, name))
            if searcher is not None and not searcher.up_to_date():
                # a new searcher, not refresh(): a reused segment reader keeps the old
                # deletions
                searcher.close()
                searcher = None
            if searcher is None:
                searcher = self._index(tenant_id, name).searcher(weighting=WEIGHTING)
                self._searchers[(tenant_id, name)] = searcher
            yield searcher

    def search(self, tenant_id: int, text: str, *, entities: Iterable[str],
               categories: Iterable[int] | None = None, limit: int = 20,
               visible: Visible | None = None, window: int = 1000,
               highlight: bool = True) -> Results:
        words = list(dict.fromkeys(terms(text)))
        entities = sorted(set(entities))
        if not words or not entities:
            return Results([], 0)
        restrict: list[tuple[str, list[str]]] = []
        if categories is not None:
            cats = [str(c) for c in categories]
            if not cats:
                return Results([], 0)
            restrict.append(("category", cats))
        by_collection: dict[str, list[str]] = {}
        for entity in entities:
            by_collection.setdefault(collection(entity), []).append(entity)
        hits: list[Hit] = []
        total = 0
        for name, names in by_collection.items():
            extra = list(restrict)
            if set(names) != UNFILTERED[name]:  # only some of the collection's entities
                extra.append(("entity", names))
            found = self._search_one(tenant_id, name, words, extra, limit, visible, window,
                                     set(words) if highlight else None)
            hits.extend(found.hits)
            total += found.total
        if len(by_collection) > 1:
            hits = heapq.nlargest(limit, hits, key=lambda h: h.score)
        return Results(hits, total)

    def _search_one(self, tenant_id: int, name: str, words: list[str],
                    restrict: list[tuple[str, list[str]]], limit: int,
                    visible: Visible | None, window: int, highlight: set[str] | None
                    ) -> Results:
        """The best `limit` visible hits of one collection. Every match is scored (see
        matching.py); the best are shown to the `visible` filter in a growing window (3×
        the limit first, up to `window`) until enough are visible; `total` is exact when
        every match was a candidate, else estimated from the share of visible ones."""
        size = min(max(limit * 3, 30), window) if visible else limit
        with self._searcher(tenant_id, name) as searcher:
            ranked = search_and(searcher, self._postings, (tenant_id, name), "text", words,
                                restrict)
            while True:
                keys = []
                for score, doc in ranked.top(size):
                    stored = searcher.stored_fields(doc)
                    entity, _, rid = stored["key"].partition(":")
                    keys.append((entity, int(rid), score, stored))
                allowed = visible([(e, i) for e, i, _, _ in keys]) if visible else None
                shown = [k for k in keys if allowed is None or (k[0], k[1]) in allowed]
                complete = len(keys) >= len(ranked)
                if len(shown) >= limit or complete or size >= window:
                    break
                size = min(size * 4, window)
            if complete:
                total = len(shown)
            else:
                share = len(shown) / max(1, len(keys))
                total = max(len(shown), round(len(ranked) * share))
            hits = [Hit(e, i, round(float(score), 4),
                        _highlights(stored, highlight) if highlight else {})
                    for e, i, score, stored in shown[:limit]]
        return Results(hits, total)

    def close(self) -> None:
        with self._guard:
            for searcher in self._searchers.values():
                searcher.close()
            self._searchers.clear()
            for ix in self._indexes.values():
                ix.close()
            self._indexes.clear()
            self._postings.clear()


def _highlights(stored: dict[str, Any], words: set[str]) -> dict[str, str]:
    """The best fragments of each stored part where the query's words occur."""
    out = {}
    for name in TEXT_FIELDS:
        fragment = highlight(stored.get(name) or "", words)
        if fragment:
            out[name] = fragment
    return out
