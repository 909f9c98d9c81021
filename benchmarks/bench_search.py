"""Knowledge-base search: Whoosh (the shipped backend) against SQLite FTS5, same corpus.

A generated corpus of articles in mixed Vietnamese, Chinese and English whose words follow
a Zipf law (a few very common words, a long tail of rare ones), like a real help desk's
knowledge base. Both engines get the same analysis (`callboard.search.analysis.terms`:
diacritics folded, CJK bigrams), so they index the same terms; FTS5 is fed the analysed
terms joined by spaces. Both rank with BM25 and the same field weights and AND every
query term.

Measured: index rate (documents/s, analysis included for both) and query latency p50/p95
per query kind, Whoosh and FTS5 interleaved query by query. The Whoosh backend keeps
decoded postings of common terms in memory (`--cache-mb`; 0 makes every query cold);
`--reuse` queries the indexes an earlier run left in `--dir` without rebuilding them.

    python benchmarks/bench_search.py --articles 50000 --queries 200 --dir /tmp/bs50k
    python benchmarks/bench_search.py --articles 50000 --dir /tmp/bs50k --reuse --cache-mb 0
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from callboard.search.analysis import fold, terms
from callboard.search.backend import BOOSTS, TEXT_FIELDS, Document
from callboard.search.matching import CACHE_BYTES
from callboard.search.whoosh_backend import WhooshBackend

TENANT = 1

# -- the corpus ----------------------------------------------------------------------------
ONSETS = ["", "b", "c", "ch", "d", "đ", "g", "gi", "h", "k", "kh", "l", "m", "n", "ng", "nh",
          "ph", "qu", "s", "t", "th", "tr", "v", "x"]
RHYMES = ["a", "ai", "an", "ang", "anh", "ao", "au", "ay", "âm", "ân", "âu", "e", "em", "en",
          "eo", "ê", "ên", "i", "ia", "im", "in", "inh", "iêu", "o", "oa", "oai", "oan", "oc",
          "oi", "om", "on", "ong", "ô", "ôi", "ôn", "ông", "ơ", "ơi", "ơn", "u", "ua", "uc",
          "ui", "um", "un", "ung", "uôi", "uông", "ư", "ưa", "ươc", "ương", "uy", "yên"]
TONES = ["", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"]   # ngang sắc huyền hỏi ngã nặng
VOWELS = set("aăâeêioôơuưy")


def vi_syllable(rng: random.Random) -> str:
    onset, rhyme, tone = rng.choice(ONSETS), rng.choice(RHYMES), rng.choice(TONES)
    for i, ch in enumerate(rhyme):
        if ch in VOWELS:
            rhyme = rhyme[:i + 1] + tone + rhyme[i + 1:]
            break
    return unicodedata.normalize("NFC", onset + rhyme)


def vocabulary(rng: random.Random, size: int) -> list[tuple[str, str]]:
    """(language, word) pairs, shuffled so each language has common and rare words."""
    hanzi = [chr(c) for c in rng.sample(range(0x4E00, 0x9FA5), 2500)]
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words: set[tuple[str, str]] = set()
    while len(words) < size:
        lang = rng.choices(("vi", "zh", "en"), weights=(5, 3, 2))[0]
        if lang == "vi":
            word = " ".join(vi_syllable(rng) for _ in range(rng.choice((1, 2, 2))))
        elif lang == "zh":
            word = "".join(rng.choice(hanzi) for _ in range(rng.choice((2, 2, 3, 4))))
        else:
            word = "".join(rng.choice(consonants) + rng.choice(vowels)
                           for _ in range(rng.randint(2, 4)))
        words.add((lang, word))
    out = sorted(words)
    rng.shuffle(out)
    return out


class Corpus:
    """Articles drawn from a Zipf(s=1.07) law over the vocabulary."""

    def __init__(self, seed: int, vocab_size: int = 30000):
        self.rng = random.Random(seed)
        self.vocab = vocabulary(self.rng, vocab_size)
        weights = [1 / (r ** 1.07) for r in range(1, len(self.vocab) + 1)]
        total = sum(weights)
        self.cum = list(_accumulate([w / total for w in weights]))

    def words(self, n: int, lang: str | None = None) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            lang_, word = self.vocab[_pick(self.cum, self.rng.random())]
            if lang is None or lang_ == lang or self.rng.random() < 0.15:
                out.append(word)
        return out

    def article(self, i: int) -> Document:
        lang = self.rng.choices(("vi", "zh", "en"), weights=(5, 3, 2))[0]
        sep = "" if lang == "zh" else " "
        title = sep.join(self.words(self.rng.randint(4, 9), lang))
        keywords = ", ".join(self.words(self.rng.randint(2, 5), lang))
        body = sep.join(self.words(self.rng.randint(60, 260), lang))
        return Document("kb_article", i, title=title, keywords=keywords, body=body,
                        category=self.rng.randint(1, 40))


def _accumulate(xs: Sequence[float]) -> list[float]:
    out, s = [], 0.0
    for x in xs:
        s += x
        out.append(s)
    return out


def _pick(cum: Sequence[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def queries(corpus: Corpus, n: int) -> dict[str, list[str]]:
    """Query kinds an agent types: Vietnamese without diacritics (1-2 words), a Chinese
    word, an English word, two words of any language, and a broad (very common) word."""
    rng, vocab = random.Random(7), corpus.vocab

    def ranked(lo: int, hi: int, lang: str | None = None) -> str:
        while True:
            r = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            lang_, word = vocab[r]
            if lang is None or lang == lang_:
                return word

    return {
        "vi, no diacritics": [fold(ranked(20, 5000, "vi")) for _ in range(n)],
        "zh word": [ranked(20, 5000, "zh") for _ in range(n)],
        "en word": [ranked(20, 5000, "en") for _ in range(n)],
        "two words": [f"{ranked(5, 400)} {ranked(20, 3000)}" for _ in range(n)],
        "broad (top-20 word)": [vocab[rng.randint(0, 19)][1] for _ in range(n)],
    }


# -- the two engines -------------------------------------------------------------------------
def fts_create(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE VIRTUAL TABLE kb USING fts5(title, keywords, body, attachments, "
                 "tokenize='unicode61')")
    return conn


def fts_row(doc: Document) -> tuple[int, str, str, str, str]:
    return (doc.id, *(" ".join(terms(getattr(doc, f))) for f in TEXT_FIELDS))


FTS_QUERY = ("SELECT rowid, bm25(kb, {}) AS s FROM kb WHERE kb MATCH ? ORDER BY s LIMIT ?"
             .format(", ".join(str(BOOSTS[f]) for f in TEXT_FIELDS)))


def fts_search(conn: sqlite3.Connection, text: str, limit: int = 10) -> list[int]:
    words = list(dict.fromkeys(terms(text)))
    if not words:
        return []
    match = " AND ".join('"' + w.replace('"', '""') + '"' for w in words)
    return [r[0] for r in conn.execute(FTS_QUERY, (match, limit))]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def index_both(backend: WhooshBackend, fts_path: Path, docs: list[Document]) -> None:
    """Index `docs` into Whoosh (one writer) and FTS5, printing rates and sizes."""
    t = time.perf_counter()
    with backend.writing(TENANT, timeout=60) as batch:
        for doc in docs:
            batch.add(doc)
    whoosh_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in backend.root.rglob("*") if f.is_file())
    print(f"whoosh: indexed {len(docs)} in {whoosh_s:.1f}s = {len(docs) / whoosh_s:.0f} docs/s, "
          f"{size / 2**20:.0f} MB; load {os.getloadavg()[0]:.1f}")
    fts_path.unlink(missing_ok=True)
    conn = fts_create(fts_path)
    t = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO kb(rowid, title, keywords, body, attachments) "
                         "VALUES (?, ?, ?, ?, ?)", (fts_row(d) for d in docs))
    fts_s = time.perf_counter() - t
    print(f"fts5:   indexed {len(docs)} in {fts_s:.1f}s = {len(docs) / fts_s:.0f} docs/s, "
          f"{fts_path.stat().st_size / 2**20:.0f} MB (analysis included)")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=50000)
    ap.add_argument("--queries", type=int, default=200, help="per query kind")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    ap.add_argument("--cache-mb", type=float, default=CACHE_BYTES / 2**20,
                    help="Whoosh backend's cache of decoded postings (0: every query cold)")
    ap.add_argument("--reuse", action="store_true",
                    help="query the indexes a previous run left in --dir, same options")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_search_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"corpus: {args.articles} articles, seed {args.seed}, work dir {work}")

    t = time.perf_counter()
    corpus = Corpus(args.seed)
    docs = [corpus.article(i) for i in range(1, args.articles + 1)]
    sample = docs[:2000]
    words = sum(len(terms(d.body)) + len(terms(d.title)) for d in sample) / len(sample)
    print(f"generated in {time.perf_counter() - t:.1f}s; ~{words:.0f} terms per article; "
          f"load {os.getloadavg()[0]:.1f}")

    backend = WhooshBackend(work / "whoosh", cache_bytes=int(args.cache_mb * 2**20))
    fts_path = work / "fts.db"
    if args.reuse:
        conn = sqlite3.connect(fts_path)
        counts = (backend.count(TENANT), conn.execute("SELECT count(*) FROM kb").fetchone()[0])
        if counts != (len(docs), len(docs)):
            raise SystemExit(f"--reuse: {work} holds {counts} documents, not {len(docs)}")
        print(f"reusing the indexes in {work}")
    else:
        index_both(backend, fts_path, docs)
        conn = sqlite3.connect(fts_path)

    print(f"\nquery latency in ms, {args.queries} queries per kind, 10 best, interleaved; "
          "whoosh 'api' = the /kb/search path: 1000-hit window for the visibility filter, "
          "highlights of the 10 shown")
    print(f"{'kind':22} {'hits p50':>8} {'whoosh p50/p95':>16} {'api p50/p95':>16} "
          f"{'fts5 p50/p95':>16} {'p95 ratio':>9} {'agree@10':>8}")
    for kind, qs in queries(corpus, args.queries).items():
        tw, ta, tf, hits, agree = [], [], [], [], []
        for q in qs[:5]:  # warm up
            backend.search(TENANT, q, entities=["kb_article"], limit=10, window=10)
            fts_search(conn, q)
        for q in qs:
            t0 = time.perf_counter()
            w = backend.search(TENANT, q, entities=["kb_article"], limit=10, window=10,
                               highlight=False)
            t1 = time.perf_counter()
            a = backend.search(TENANT, q, entities=["kb_article"], limit=10, window=1000,
                               visible=lambda keys: set(keys))
            t2 = time.perf_counter()
            f = fts_search(conn, q)
            t3 = time.perf_counter()
            tw.append((t1 - t0) * 1000)
            ta.append((t2 - t1) * 1000)
            tf.append((t3 - t2) * 1000)
            hits.append(a.total)
            wids = [h.id for h in w.hits]
            agree.append(len(set(wids) & set(f)) / max(1, len(f)) if f else 1.0)
        print(f"{kind:22} {statistics.median(hits):>8.0f} "
              f"{pct(tw, 50):>7.1f}/{pct(tw, 95):<8.1f} {pct(ta, 50):>7.1f}/{pct(ta, 95):<8.1f} "
              f"{pct(tf, 50):>7.1f}/{pct(tf, 95):<8.1f} {pct(tw, 95) / pct(tf, 95):>8.1f}x "
              f"{statistics.mean(agree):>7.0%}")
    print(f"load {os.getloadavg()[0]:.1f}; postings cache "
          f"{backend._postings.used / 2**20:.0f} of {args.cache_mb:.0f} MB")
    backend.close()
    conn.close()


if __name__ == "__main__":
    main()
