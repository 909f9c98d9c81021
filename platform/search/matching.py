"""AND queries over decoded posting lists, with the per-posting loops run by C builtins.

Whoosh intersects posting lists with `skip_to` in pure Python, one posting at a time;
for several common terms that costs 5-10x SQLite FTS5. Here each term's postings of a
segment are decoded once (a whole block at a time), kept in a size-bounded cache, and the
intersection, filters and scores run as `map` / `filter` / `compress` over lists:

- a term found in at least 1/DENSE_SHARE of a segment's documents is kept as a dense
  array of per-document scores (4 bytes a document), a rarer one as a dict;
- the rarest term drives: its documents are kept when every other term has them;
- the score is the one `whoosh_backend.SaturatedTf` gives, summed over the terms:
  idf(term) x weight·(k1+1)/(weight+k1), idf from the statistics of the whole index.

A segment never changes once written (only its deletions do), so cached postings are
keyed by segment id and stay valid across index changes; deletions are applied per query.
"""
from __future__ import annotations

import heapq
import itertools
import math
import threading
import zlib
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import add, mul, neg
from pickle import loads
from typing import Any

from whoosh.codec.whoosh3 import W3LeafMatcher

K1 = 1.2
DENSE_SHARE = 16
CACHE_BYTES = 64 * 2**20  # per backend (process): decoded postings of the common terms


def saturate(weight: float) -> float:
    """BM25's term-frequency saturation with k1 = 1.2 and no length normalisation."""
    return weight * (K1 + 1) / (weight + K1)


def idf(doc_count: int, doc_frequency: int) -> float:
    return math.log(1 + (doc_count - doc_frequency + 0.5) / (doc_frequency + 0.5))


@dataclass(frozen=True)
class Postings:
    """One term's postings in one segment: its document numbers (ascending) and a lookup
    document -> saturated weight, false (0.0 or None) for a document without the term."""

    ids: Sequence[int]
    get: Callable[[int], float | None]
    size: int  # bytes, roughly, for the cache budget


def decode(reader: Any, field: str, text: bytes) -> tuple[list[int], list[float]]:
    """All (document numbers, weights) of a term in a segment, deletions not applied."""
    terms = getattr(reader, "_terms", None)
    matcher = (terms.matcher(field, text, reader.schema[field].format)
               if terms is not None else reader.postings(field, text))
    ids: list[int] = []
    weights: list[float] = []
    if type(matcher) is W3LeafMatcher:  # whole blocks: ids delta-coded, weights an array
        postfile = matcher._postfile
        while matcher.is_active():
            data = postfile.get(matcher._dataoffset,
                                matcher._nextoffset - matcher._dataoffset)
            block = loads(zlib.decompress(data) if matcher._compression else data)
            n = len(ids)
            ids.extend(itertools.accumulate(block[0]))
            w = block[1]
            if w is None or isinstance(w, float):
                weights.extend(itertools.repeat(1.0 if w is None else w, len(ids) - n))
            else:
                weights.extend(w)
            matcher._next_block()
    else:  # any other codec: the generic (slower) matcher interface
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            matcher.next()
    return ids, weights


def build(reader: Any, field: str, text: bytes) -> Postings:
    """A term's Postings in one segment, dense or a dict (see the module's docstring)."""
    ids, weights = decode(reader, field, text)
    saturated = {w: saturate(w) for w in set(weights)}  # weights take a few values only
    sats = list(map(saturated.__getitem__, weights))
    n = reader.doc_count_all()
    if len(ids) * DENSE_SHARE >= n:
        dense = array("f", bytes(4 * n))
        deque(map(dense.__setitem__, ids, sats), maxlen=0)  # a scatter, looped in C
        return Postings(array("i", ids), dense.__getitem__, 4 * (n + len(ids)))
    table = dict(zip(ids, sats, strict=True))
    return Postings(array("i", ids), table.get, 4 * len(ids) + 100 * len(ids))


class PostingCache:
    """Decoded postings, least recently used dropped first beyond `budget` bytes."""

    def __init__(self, budget: int = CACHE_BYTES):
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[tuple[Any, ...], Postings] = OrderedDict()
        self._lock = threading.Lock()

    def postings(self, scope: Any, reader: Any, field: str, text: bytes) -> Postings:
        segment = getattr(reader, "segment", None)
        key = (scope, segment().segment_id(), field, text) if segment else None
        if key is not None:
            with self._lock:
                found = self._items.get(key)
                if found is not None:
                    self._items.move_to_end(key)
                    return found
        found = build(reader, field, text)
        if key is not None and found.size <= self.budget // 4:
            with self._lock:
                if key not in self._items:
                    self._items[key] = found
                    self.used += found.size
                while self.used > self.budget and self._items:
                    self.used -= self._items.popitem(last=False)[1].size
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0


class Ranked:
    """Every match of a query, scored; `top(n)` gives the best n, ties by document."""

    def __init__(self, scores: list[float], docs: list[int]):
        self.scores, self.docs = scores, docs

    def __len__(self) -> int:
        return len(self.docs)

    def top(self, n: int) -> list[tuple[float, int]]:
        best = heapq.nlargest(n, zip(self.scores, map(neg, self.docs), strict=True))
        return [(score, -doc) for score, doc in best]


def search_and(searcher: Any, cache: PostingCache, scope: Any, field: str,
               words: Sequence[str], restrict: Sequence[tuple[str, Iterable[str]]] = ()
               ) -> Ranked:
    """Documents holding every one of `words` in `field` (and, for each (field, values)
    of `restrict`, one of the values in that field), scored, over all segments."""
    top = searcher.reader()
    texts = [w.encode("utf-8") for w in words]
    total = top.doc_count_all()
    idfs = [idf(total, top.doc_frequency(field, t)) for t in texts]
    scores: list[float] = []
    docs: list[int] = []
    for reader, offset in top.leaf_readers():
        s, d = _leaf(reader, cache, scope, field, texts, idfs, restrict)
        scores.extend(s)
        docs.extend(map(add, d, itertools.repeat(offset)) if offset else d)
    return Ranked(scores, docs)


def _leaf(reader: Any, cache: PostingCache, scope: Any, field: str, texts: list[bytes],
          idfs: list[float], restrict: Sequence[tuple[str, Iterable[str]]]
          ) -> tuple[list[float], list[int]]:
    if not texts or any(reader.doc_frequency(field, t) == 0 for t in texts):
        return [], []
    posts = [cache.postings(scope, reader, field, t) for t in texts]
    order = sorted(posts, key=lambda p: len(p.ids))
    docs: Iterable[int] = order[0].ids
    for other in order[1:]:
        docs = itertools.compress(docs, map(other.get, docs))
        docs = list(docs)  # each step shrinks the list: materialise it
    for rfield, values in restrict:
        allowed: set[int] = set()
        for v in values:
            t = v.encode("utf-8")
            if reader.doc_frequency(rfield, t):
                allowed.update(decode(reader, rfield, t)[0])
        docs = list(filter(allowed.__contains__, docs))
    if reader.has_deletions():
        deleted = getattr(reader, "deleted_docs_set", None) or frozenset(
            reader.deleted_docs())
        docs = list(itertools.filterfalse(deleted.__contains__, docs))
    docs = list(docs)
    scores = [0.0] * len(docs)
    for p, weight in zip(posts, idfs, strict=True):  # in query order, as Whoosh sums an And
        scores = list(map(add, scores, map(mul, map(p.get, docs), itertools.repeat(weight))))
    return scores, docs
