"""Import and export throughput, and peak memory of a large import, on SQLite and PostgreSQL.

    python benchmarks/bench_import.py --db both --rows 100000 --memory-rows 1000000

Per database: a fresh database with the demo water tenant (config/); an .xlsx of `--rows`
customers (as a person would fill the template: Vietnamese names, a third of the phones
typed as numbers that lost their leading 0, dates as dd/mm/yyyy text, district labels,
owners by e-mail) is read once bare with python-calamine (every cell touched) and then
imported through the whole path (`io.importer.import_file`: column matching, the record
service's validation, batched writes with the ledger), as a job. Reported: rows/s and the
ratio import / bare read, measured in the same run on the same file. Then an export of the
same records to .xlsx (in one process, then with a helper process reading and formatting
the rows, as the command line and the worker export) and to .csv. With `--memory-rows`,
first (while this process is still small: a forked child's ru_maxrss starts from its
parent's peak), a child process imports that many rows and reports its peak resident
memory (resource.getrusage ru_maxrss, and /proc VmHWM). Files are kept in `--data-dir`
between runs (generation is not timed).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from callboard.engine import schema
from callboard.engine.access import Actor
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.tenancy import TenantStore

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
MIDDLE = ["Văn", "Thị", "Hữu", "Ngọc", "Minh", "Thanh", "Đức", "Thu"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Giang", "Hà", "Hải", "Hương", "Lan", "Long",
         "Mai", "Nam", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Yến"]
DISTRICTS = ["Quận 1", "Quận 3", "Quận 5", "Bình Thạnh", "Gò Vấp", "Tân Bình", "TP. Thủ Đức"]
STREETS = ["Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Điện Biên Phủ", "Võ Văn Tần"]
HEADER = ["Tên chủ hộ / Tên khách hàng", "Điện thoại 1", "Email", "Loại khách hàng", "Danh bộ",
          "Quận / Huyện", "Địa chỉ sử dụng nước", "Số nhân khẩu đăng ký định mức",
          "Người phụ trách"]
AGENTS = 10


def make_file(path: Path, rows: int, seed: int = 7) -> Path:
    """An .xlsx of `rows` customers (write-only openpyxl; kept for the next run)."""
    if path.exists():
        return path
    from openpyxl import Workbook

    rng = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Khách hàng")
    ws.append(HEADER)
    for i in range(rows):
        mobile = 900000000 + i  # unique 09x numbers
        phone: Any = mobile if i % 3 == 0 else f"0{mobile}"
        ws.append([
            f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}", phone,
            f"kh{i}@example.vn" if i % 4 == 0 else None,
            "Hộ gia đình" if i % 9 else "residential", f"{10_000_000_000 + i}",
            rng.choice(DISTRICTS), f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
            rng.randint(1, 8), f"agent{i % AGENTS}@water.test" if i % 5 else None])
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    tmp.rename(path)
    return path


def bare_read(path: Path) -> tuple[float, int]:
    """Seconds to read every cell with python-calamine, and the row count."""
    import python_calamine as pc

    t0 = time.perf_counter()
    sheet = pc.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    n = 0
    for row in sheet.iter_rows():
        for _cell in row:
            pass
        n += 1
    return time.perf_counter() - t0, n - 1


class Database:
    """A fresh database with the water tenant, an owner and agents."""

    def __init__(self, kind: str, data_dir: Path):
        self.kind = kind
        self.indexed = False  # whether the search indexer listens
        self.schema_name = None
        if kind == "sqlite":
            db = data_dir / f"bench-{uuid.uuid4().hex[:8]}.db"
            self.url = f"sqlite:///{db}"
            self.file = db
        else:
            self.schema_name = f"bench_{uuid.uuid4().hex[:10]}"
            admin = connect(PG_URL)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {self.schema_name}"))
            admin.dispose()
            self.url = f"{PG_URL}?options=-csearch_path%3D{self.schema_name}"
        self.engine = connect(self.url)
        schema.upgrade(self.engine)
        store = TenantStore(self.engine)
        self.tenant = store.create("water", None, BundleSource.from_dir(ROOT / "config"))
        store.add_member(self.tenant.id, 1, "owner@water.test", "owner")
        for a in range(AGENTS):
            store.add_member(self.tenant.id, 10 + a, f"agent{a}@water.test", "agent",
                             team="a", extension=str(200 + a))
        self.tenant = store.get("water")

    def drop(self) -> None:
        self.engine.dispose()
        if self.schema_name:
            admin = connect(PG_URL)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {self.schema_name} CASCADE"))
            admin.dispose()
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.file) + suffix).unlink(missing_ok=True)


def import_once(db: Database, path: Path, data_dir: Path, *, search: bool = False,
                mode: str = "insert", key: str | None = None, fork: bool | None = None
                ) -> dict[str, Any]:
    from callboard.io.importer import import_file
    from callboard.jobs.runner import create_job
    from callboard.workflows.hooks import records_service

    if search and not db.indexed:  # as the web app, the command line and the worker do
        from callboard.search.indexing import install

        install(db.engine, data_dir / f"search-{uuid.uuid4().hex[:8]}").backend.fork = fork
        db.indexed = True

    job = create_job(db.engine, db.tenant.id, 1, "import", {"entity": "customer"})
    svc = records_service(db.engine, db.tenant)
    def usage() -> tuple[Any, Any]:
        return (resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN))

    before = usage()
    t0 = time.perf_counter()
    result = import_file(svc, Actor(db.tenant.id, 1, "owner", email="owner@water.test"),
                         "customer", path, job_id=job, errors_path=data_dir / "rejected.xlsx",
                         mode=mode, key=key)
    result["seconds"] = time.perf_counter() - t0
    after = usage()
    result["cpu"] = [max(0.0, a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime)
                     for a, b in zip(after, before, strict=True)]  # this process, the helper
    result["helper_mb"] = after[1].ru_maxrss / 1024  # the largest waited-for child's peak
    result["job"] = job
    return result


def storage_floor(db: Database, job: int, data_dir: Path, batch: int = 1000) -> float:
    """Seconds to store what the import stored, with nothing else: its records, key rows,
    activity and ledger rows, read back (JSON pre-serialised, not timed), then written into
    a fresh database of the same schema and tenant through `engine.bulk.insert_rows` (the
    import's own executemany on SQLite, COPY on PostgreSQL), `batch` records per
    committed transaction, as the import commits them."""
    import json
    from itertools import groupby

    from sqlalchemy import JSON, select

    from callboard.engine.bulk import Dumped, insert_rows
    from callboard.engine.tables import activity, import_rows, record_keys, records

    def rows(conn: Any, table: Any, where: Any, by: str) -> dict[int, list[dict]]:
        json_cols = [c.name for c in table.c if isinstance(c.type, JSON)]
        out: dict[int, list[dict]] = {}
        for r in conn.execute(select(table).where(where).order_by(table.c[by])):
            row = dict(r._mapping)
            for c in json_cols:
                if row[c] is not None:
                    row[c] = Dumped(json.dumps(row[c]))
            if table is not records:
                row.pop("id")
            out.setdefault(row[by], []).append(row)
        return out

    with db.engine.connect() as conn:
        recs = rows(conn, records, records.c.tenant_id == db.tenant.id, "id")
        keys = rows(conn, record_keys, record_keys.c.tenant_id == db.tenant.id, "record_id")
        log = rows(conn, activity, activity.c.tenant_id == db.tenant.id, "record_id")
        ledger = rows(conn, import_rows, import_rows.c.job_id == job, "record_id")
    fresh = Database(db.kind, data_dir)
    try:
        ids = sorted(recs)
        t0 = time.perf_counter()
        for _, part in groupby(enumerate(ids), key=lambda x: x[0] // batch):
            chunk = [i for _, i in part]
            with fresh.engine.begin() as tx:
                for table, source in ((records, recs), (record_keys, keys), (activity, log),
                                      (import_rows, ledger)):
                    insert_rows(tx, table, [r for i in chunk for r in source.get(i, ())])
        return time.perf_counter() - t0
    finally:
        fresh.drop()


def export_once(db: Database, data_dir: Path, suffix: str, parallel: bool | None = None
                ) -> tuple[float, int]:
    from callboard.io.exporter import export_records
    from callboard.workflows.hooks import records_service

    svc = records_service(db.engine, db.tenant)
    t0 = time.perf_counter()
    out = export_records(svc, Actor(db.tenant.id, 1, "owner"), "customer",
                         data_dir / f"export{suffix}", parallel=parallel)
    return time.perf_counter() - t0, out["rows"]


def _hwm_mb() -> float | None:
    """This process's peak resident memory from /proc (Linux), which, unlike
    ru_maxrss, does not start from the parent's peak at fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _memory_child(kind: str, path: str, data_dir: str, queue: Any, search: bool) -> None:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base_hwm = _hwm_mb()
    db = Database(kind, Path(data_dir))
    try:
        result = import_once(db, Path(path), Path(data_dir), search=search)
        queue.put({"rows": result["rows"], "created": result["created"],
                   "failed": result["failed"], "seconds": result["seconds"],
                   "helper_mb": result["helper_mb"], "parallel": result["parallel"],
                   "base_mb": base / 1024, "base_hwm": base_hwm, "hwm_mb": _hwm_mb(),
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    except BaseException as e:
        queue.put({"error": repr(e)})
        raise
    finally:
        db.drop()


def memory(kinds: list[str], rows: int, data_dir: Path, search: bool = False) -> None:
    """Import `rows` in a child process per database; its peak memory."""
    big = make_file(data_dir / f"customers-{rows}.xlsx", rows)
    ctx = mp.get_context("spawn")
    for kind in kinds:
        queue = ctx.Queue()
        child = ctx.Process(target=_memory_child, args=(kind, str(big), str(data_dir),
                                                        queue, search))
        child.start()
        out = queue.get()
        child.join()
        if "error" in out:
            print(f"[{kind}] memory run failed: {out['error']}", flush=True)
            continue
        what = "memory (search indexing on)" if search else "memory"
        print(f"[{kind}] {what}: {out['rows']} rows imported in {out['seconds']:.0f} s "
              f"({out['rows'] / out['seconds']:,.0f} rows/s); peak RSS {out['peak_mb']:.0f} MB "
              f"by getrusage (ru_maxrss, {out['base_mb']:.0f} MB at the child's start), "
              f"{out['hwm_mb']:.0f} MB by VmHWM ({out['base_hwm']:.0f} MB at start); "
              + (f"the helper process reading the file: peak RSS {out['helper_mb']:.0f} MB"
                 if out["parallel"] else "read in-process"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--memory-rows", type=int, default=0)
    ap.add_argument("--search", action="store_true",
                    help="with the search indexer listening, as in the app, CLI and worker")
    ap.add_argument("--reindex", action="store_true",
                    help="then rebuild the search index from the records, in one process "
                         "and in two")
    ap.add_argument("--upsert", action="store_true",
                    help="then import the same customers renamed, as an upsert by phone")
    ap.add_argument("--one-indexing-process", action="store_true",
                    help="with --search: no side process writing half of the index (as "
                         "before it existed), to compare")
    ap.add_argument("--memory-only", action="store_true",
                    help="only the --memory-rows run, not the import and export of --rows")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--floor", action="store_true",
                    help="also time writing the imported rows with nothing else")
    args = ap.parse_args()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cb-import-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if args.memory_rows:  # first, while this process is small (a child starts from its peak)
        memory(kinds, args.memory_rows, data_dir, args.search)
    if args.memory_only:
        return
    t0 = time.perf_counter()
    path = make_file(data_dir / f"customers-{args.rows}.xlsx", args.rows)
    print(f"file: {path.name} ({path.stat().st_size / 2**20:.1f} MB), "
          f"ready in {time.perf_counter() - t0:.1f} s", flush=True)
    for kind in kinds:
        db = Database(kind, data_dir)
        try:
            bare, n = bare_read(path)
            fork = False if args.one_indexing_process else None
            result = import_once(db, path, data_dir, search=args.search, fork=fork)
            rate = result["rows"] / result["seconds"]
            print(f"[{kind}] bare calamine read: {bare:.2f} s ({n / bare:,.0f} rows/s)")
            what = "import (search indexing on)" if args.search else "import"
            print(f"[{kind}] {what}: {result['seconds']:.1f} s, {rate:,.0f} rows/s, "
                  f"created {result['created']}, failed {result['failed']}; "
                  f"ratio import/bare read {result['seconds'] / bare:.1f}x", flush=True)
            print(f"[{kind}]   CPU: importing process {result['cpu'][0]:.1f} s, "
                  + ("child processes (the helper reading and validating the file"
                     + (", the side indexing process" if args.search else "")
                     + f") {result['cpu'][1]:.1f} s"
                     if result["parallel"] else "no helper process"), flush=True)
            if args.upsert:
                again = make_file(data_dir / f"customers-{args.rows}-renamed.xlsx",
                                  args.rows, seed=8)  # the same phones, other names
                up = import_once(db, again, data_dir, search=args.search, mode="upsert",
                                 key="phone", fork=fork)
                print(f"[{kind}] upsert by phone of the same customers renamed: "
                      f"{up['seconds']:.1f} s, {up['rows'] / up['seconds']:,.0f} rows/s, "
                      f"updated {up['updated']}, unchanged {up['unchanged']}, failed "
                      f"{up['failed']}; CPU: importing process {up['cpu'][0]:.1f} s, "
                      f"child processes {up['cpu'][1]:.1f} s", flush=True)
            if args.reindex:  # a rebuild of the index from these records, each way
                from callboard.search.indexing import SearchIndexer

                for fork in (False, True):
                    indexer = SearchIndexer(db.engine, data_dir / f"search-{uuid.uuid4().hex[:8]}")
                    indexer.backend.fork = fork
                    t0 = time.perf_counter()
                    docs = indexer.reindex(db.tenant)
                    print(f"[{kind}] search reindex, {'two processes' if fork else 'one process'}"
                          f": {docs} documents in {time.perf_counter() - t0:.1f} s", flush=True)
            if args.floor:
                floor = storage_floor(db, result["job"], data_dir)
                print(f"[{kind}] storage floor (the same rows written with nothing else): "
                      f"{floor:.1f} s = {floor / bare:.1f}x the bare read; the import is "
                      f"{result['seconds'] / floor:.1f}x the floor", flush=True)
            for suffix, parallel, how in ((".xlsx", False, ", one process"),
                                          (".xlsx", True, ", a helper reading the rows"),
                                          (".csv", None, "")):
                secs, rows = export_once(db, data_dir, suffix, parallel)
                print(f"[{kind}] export {suffix}{how}: {rows} rows in {secs:.1f} s "
                      f"({rows / secs:,.0f} rows/s)", flush=True)
        finally:
            db.drop()


if __name__ == "__main__":
    sys.exit(main())
