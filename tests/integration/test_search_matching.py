"""The AND evaluation of matching.py gives exactly what Whoosh's own (unoptimised) search
gives with the same scoring: same documents, same scores, same order, same count; over
several segments, after deletions and updates, with category and entity filters, with
postings kept dense or as dicts, decoded whole blocks at a time or posting by posting."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from whoosh.query import Or, Term

from callboard.search import matching
from callboard.search.backend import Document
from callboard.search.whoosh_backend import WhooshBackend

WORDS = ["hóa", "đơn", "tiền", "nước", "sinh", "hoạt", "khách", "hàng", "báo", "hỏng",
         "đồng", "hồ", "thanh", "toán", "trễ", "hạn", "退款", "申请", "发票", "水费", "账单",
         "refund", "meter", "invoice", "leak", "pressure"]


def article(rng: random.Random, i: int) -> Document:
    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS[: rng.randint(4, len(WORDS))]) for _ in range(n))
    return Document("kb_article", i, title=text(rng.randint(1, 4)), keywords=text(2),
                    body=text(rng.randint(5, 30)), attachments=text(rng.randint(0, 10)),
                    category=rng.randint(1, 4))


@pytest.fixture
def backend(tmp_path: Path) -> WhooshBackend:
    rng = random.Random(6)
    b = WhooshBackend(tmp_path / "search")
    for start in (1, 61, 121):  # three commits: three segments
        b.index(1, [article(rng, i) for i in range(start, start + 60)])
    b.index(1, [article(rng, i) for i in range(5, 40, 3)])  # updates: delete + add
    b.delete(1, [("kb_article", i) for i in range(100, 130, 2)])
    b.index(1, [Document("customer", 1, title="hóa đơn nước")])  # another collection
    yield b
    b.close()


def whoosh_says(b: WhooshBackend, text: str, categories: list[int] | None = None
                ) -> tuple[list[tuple[float, int]], int]:
    q = b.query(text)
    assert q is not None
    only = Or([Term("category", str(c)) for c in categories]) if categories else None
    with b._searcher(1, "kb") as searcher:
        found = searcher.search(q, limit=None, optimize=False, filter=only)
        return ([(round(h.score, 4), int(h["key"].split(":")[1])) for h in found][:15],
                len(found))


QUERIES = ["hoa don", "tien nuoc", "退款", "申请退款", "refund meter", "khach hang bao hong",
           "nuoc", "dong ho thanh toan tre han", "leak 水费", "nothing here", "hóa"]


def ours(b: WhooshBackend, text: str, categories: list[int] | None = None
         ) -> tuple[list[tuple[float, int]], int]:
    r = b.search(1, text, entities=["kb_article"], categories=categories, limit=15,
                 highlight=False)
    return [(h.score, h.id) for h in r.hits], r.total


def test_same_hits_scores_and_counts_as_whoosh(backend: WhooshBackend) -> None:
    with backend._searcher(1, "kb") as searcher:
        assert len(searcher.reader().leaf_readers()) > 1
        assert searcher.reader().has_deletions()
    nonempty = 0
    for text in QUERIES:
        expected = whoosh_says(backend, text)
        assert ours(backend, text) == expected, text
        nonempty += bool(expected[1])
        assert ours(backend, text, [2, 3]) == whoosh_says(backend, text, [2, 3]), text
    assert nonempty >= 8


@pytest.mark.parametrize("share", [1, 10**9])  # every term a dict / every term dense
def test_dense_and_dict_postings_agree(backend: WhooshBackend, monkeypatch: Any,
                                       share: int) -> None:
    monkeypatch.setattr(matching, "DENSE_SHARE", share)
    backend._postings.clear()
    for text in QUERIES:
        assert ours(backend, text) == whoosh_says(backend, text), text


def test_generic_decoding_agrees_with_block_decoding(backend: WhooshBackend) -> None:
    with backend._searcher(1, "kb") as searcher:
        for reader, _ in searcher.reader().leaf_readers():
            for text in (b"hoa", b"nuoc", "退款".encode()):
                fast = matching.decode(reader, "text", text)
                m = reader._terms.matcher("text", text, reader.schema["text"].format)
                slow = ([], [])
                while m.is_active():
                    slow[0].append(m.id())
                    slow[1].append(m.weight())
                    m.next()
                assert fast == slow and fast[0]


def test_cached_postings_survive_changes_and_respect_deletions(backend: WhooshBackend
                                                               ) -> None:
    hits, total = ours(backend, "hoa don")
    assert total and backend._postings.used > 0
    cached = set(backend._postings._items)
    gone = hits[0][1]
    backend.delete(1, [("kb_article", gone)])
    after, after_total = ours(backend, "hoa don")
    assert gone not in [i for _, i in after] and after_total == total - 1
    assert (after, after_total) == whoosh_says(backend, "hoa don")
    assert cached & set(backend._postings._items)  # untouched segments kept their postings


def test_the_cache_stays_within_its_budget(tmp_path: Path) -> None:
    rng = random.Random(9)
    b = WhooshBackend(tmp_path / "search")
    b._postings.budget = 3000
    b.index(1, [article(rng, i) for i in range(1, 200)])
    for text in QUERIES:
        assert ours(b, text) == whoosh_says(b, text)
        assert b._postings.used <= b._postings.budget
    b.close()
