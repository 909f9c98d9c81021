"""How long one document's commit takes once bulk drains have left many large segments.

    python benchmarks/bench_index_commits.py --segments 23 --docs 10000

Builds a records index of `--segments` segments of `--docs` customer documents each, as
bulk drains leave it (one bulk commit per segment), then times the commit of a single
document, as a single write outside a bulk operation makes it: with the merge policy
Callboard uses for such commits (`merge_light`), and with `--whoosh-policy` with Whoosh's
own MERGE_SMALL, which such commits used before.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from whoosh import index
from whoosh.writing import MERGE_SMALL

from callboard.search import whoosh_backend
from callboard.search.backend import Document
from callboard.search.whoosh_backend import WhooshBackend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=23)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--whoosh-policy", action="store_true",
                    help="commit the single document with Whoosh's MERGE_SMALL")
    args = ap.parse_args()
    if args.whoosh_policy:
        whoosh_backend.merge_light = MERGE_SMALL  # type: ignore[assignment]
    backend = WhooshBackend(Path(tempfile.mkdtemp(prefix="cb-commits-")) / "search",
                            fork=False)
    n = 0
    t0 = time.perf_counter()
    for _ in range(args.segments):
        with backend.writing(1) as batch:
            batch.bulk = True
            for _ in range(args.docs):
                n += 1
                batch.add(Document("customer", n, title=f"Khách {n}",
                                   keywords=f"84{900000000 + n} 0{900000000 + n}",
                                   body=f"Quận {n % 7} đường {n % 300}"))
    ix = index.open_dir(str(backend.path(1) / "records"))
    sizes = [s.doc_count_all() for s in ix._segments()]
    print(f"index: {n} documents in {len(sizes)} segments, built in "
          f"{time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    with backend.writing(1) as batch:
        batch.add(Document("customer", n + 1, title="Một khách"))
    took = time.perf_counter() - t0
    ix = index.open_dir(str(backend.path(1) / "records"))
    policy = "Whoosh's MERGE_SMALL" if args.whoosh_policy else "merge_light"
    print(f"one document's commit ({policy}): {took:.2f} s; segments after: "
          f"{len(ix._segments())}")


if __name__ == "__main__":
    main()
