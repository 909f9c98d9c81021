#!/usr/bin/env python3
"""Record store benchmark: many customers in one tenant, on SQLite and/or PostgreSQL.

What it measures (see benchmarks/README.md for how to run it):

1. a fresh database (SQLite file, or a PostgreSQL schema of its own that is dropped at the
   end), migrated with `schema.upgrade`, and the demo tenant created from `config/` (which
   makes the expression indexes of the `index: true` fields);
2. a bulk load of N realistic customers straight into `records` and `record_keys`
   (executemany on SQLite, COPY on PostgreSQL). This is set-up, not service throughput;
3. list filters on the indexed `district` field (alone, with `customer_type`, and as an
   agent whose visibility adds `owner_id = me OR owner_id IS NULL`): p50/p95 of
   `RecordService.list` (the whole service path, COUNT included) against the same query
   written by hand in SQL on a raw DBAPI cursor, in the same run, plus the service's own
   SQL replayed on a raw cursor (which separates "different SQL" from "Python overhead");
4. create throughput through `RecordService.create` (validation, key rows, activity log,
   one transaction each).

It prints its figures; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform as stdlib_platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from callboard.engine import schema
from callboard.engine.access import Actor
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.queries import filterable_fields, parse_query
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant, TenantStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
PG_URL = os.environ.get("CALLBOARD_BENCH_PG_URL",
                        os.environ.get("CALLBOARD_TEST_PG_URL",
                                       "postgresql://postgres@127.0.0.1:5432/test"))
OWNER_UID = 1
AGENT_UIDS = list(range(10, 30))      # 20 agents, teams a and b
BENCH_AGENT = AGENT_UIDS[0]
UNOWNED_SHARE = 0.4                   # customers nobody owns yet (agents see them all)
BULK_PHONES = 90_000_000              # bulk rows draw +849 + 8 digits below this; creates above
BATCH = 20_000
PER_PAGE = 50

# --- realistic data -------------------------------------------------------------------
FAMILY = [("Nguyễn", 38), ("Trần", 11), ("Lê", 9.5), ("Phạm", 7), ("Hoàng", 4), ("Huỳnh", 4),
          ("Phan", 4.5), ("Vũ", 3), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 1.5),
          ("Hồ", 1.5), ("Ngô", 1.3), ("Dương", 1), ("Lý", 0.5), ("Trương", 1), ("Đinh", 0.6),
          ("Lâm", 0.6), ("Mai", 0.4), ("Tô", 0.3), ("Châu", 0.3), ("Tạ", 0.2), ("Quách", 0.2)]
MIDDLE_M = ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Hoàng", "Gia", "Công", "Ngọc",
            "Xuân", "Tấn", "Trọng", "Anh", "Đình"]
MIDDLE_F = ["Thị", "Ngọc", "Thanh", "Thu", "Kim", "Mỹ", "Phương", "Bảo", "Hồng", "Diệu",
            "Thùy", "Minh", "Khánh"]
GIVEN_M = ["An", "Bình", "Cường", "Dũng", "Duy", "Hải", "Hiếu", "Hùng", "Huy", "Khang",
           "Khoa", "Kiên", "Long", "Lộc", "Minh", "Nam", "Nghĩa", "Phát", "Phúc", "Quân",
           "Quang", "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trung", "Tuấn", "Việt"]
GIVEN_F = ["Anh", "Châu", "Diễm", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương",
           "Huyền", "Lan", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Nhung", "Oanh",
           "Phương", "Quyên", "Tâm", "Thảo", "Thủy", "Trang", "Trâm", "Tuyết", "Vy", "Yến"]
COMPANY_KIND = ["Công ty TNHH", "Công ty Cổ phần", "Doanh nghiệp tư nhân", "Hợp tác xã",
                "Công ty TNHH MTV"]
COMPANY_WORD = ["Thương mại", "Dịch vụ", "Xây dựng", "Sản xuất", "Thực phẩm", "Vận tải",
                "Du lịch", "Kỹ thuật", "Đầu tư", "Bao bì", "Nhựa", "May mặc", "Cà phê"]
COMPANY_NAME = ["Sài Gòn", "Phú Thịnh", "Hưng Phát", "Minh Long", "An Khang", "Tân Tiến",
                "Việt Á", "Đại Dương", "Hoàng Gia", "Thành Công", "Bến Thành", "Gia Định"]
STREETS = ["Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Điện Biên Phủ", "Cách Mạng Tháng Tám",
           "Nguyễn Thị Minh Khai", "Võ Văn Tần", "Lý Thường Kiệt", "Trần Hưng Đạo",
           "Nguyễn Trãi", "Phan Xích Long", "Quang Trung", "Lê Văn Sỹ", "Hoàng Văn Thụ",
           "Âu Cơ", "Lũy Bán Bích", "Kha Vạn Cân", "Phạm Văn Đồng", "Nguyễn Văn Linh"]
SOURCES = [("import", 45), ("call", 25), ("manual", 15), ("web", 5), ("zalo", 5),
           ("chat", 3), ("referral", 2)]
PAYMENTS = [("cash", 30), ("collector", 15), ("bank_transfer", 25), ("auto_debit", 15),
            ("e_wallet", 15)]
PURPOSE_BUSINESS = [("commercial", 60), ("production", 25), ("administrative", 15)]


def replay(cur: Any, statements: list[tuple[str, Any]],
           split: dict[str, list[float]] | None) -> int:
    """Run the service's captured SQL on a raw cursor; returns its COUNT. With `split`,
    each statement's ms go to split["COUNT"] or split["rows"]."""
    total = 0
    for stmt, params in statements:
        t0 = time.perf_counter()
        cur.execute(stmt, params)
        got = cur.fetchall()
        kind = "COUNT" if stmt.lower().startswith("select count(") else "rows"
        if split is not None:
            split[kind].append((time.perf_counter() - t0) * 1000)
        if kind == "COUNT":
            total = got[0][0]
    cur.connection.commit()
    return total


def weighted(pairs: list[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    values, weights = zip(*pairs, strict=True)
    total = 0.0
    cum = []
    for w in weights:
        total += w
        cum.append(total)
    return list(values), cum


class Generator:
    """Customers of the demo water utility, reproducible from a seed."""

    def __init__(self, tenant: Tenant, seed: int):
        self.rng = random.Random(seed)
        ent = tenant.model.entities["customer"]
        fields = ent.field_map
        districts = list(fields["district"].option_values)
        order = districts[:]
        self.rng.shuffle(order)
        # Zipf-like skew: the biggest district has ~10x the customers of the smallest.
        self.district_weights = {d: 1 / (k + 1) ** 0.8 for k, d in enumerate(order)}
        self.districts = weighted(list(self.district_weights.items()))
        types = list(fields["customer_type"].option_values)
        self.types = weighted([(t, 88 if t == "residential" else 12) for t in types])
        self.family = weighted(FAMILY)
        self.sources = weighted(SOURCES)
        self.payments = weighted(PAYMENTS)
        self.purposes = weighted(PURPOSE_BUSINESS)
        self.priorities = weighted([(1, 70), (2, 12), (3, 10), (4, 5), (5, 3)])
        self.owners = weighted([(None, UNOWNED_SHARE)] +
                                [(u, (1 - UNOWNED_SHARE) / len(AGENT_UIDS)) for u in AGENT_UIDS])

    def pick(self, table: tuple[list[Any], list[float]]) -> Any:
        values, cum = table
        return self.rng.choices(values, cum_weights=cum)[0]

    def person(self) -> str:
        female = self.rng.random() < 0.5
        middle = MIDDLE_F if female else MIDDLE_M
        given = GIVEN_F if female else GIVEN_M
        return f"{self.pick(self.family)} {self.rng.choice(middle)} {self.rng.choice(given)}"

    def company(self) -> str:
        r = self.rng
        return f"{r.choice(COMPANY_KIND)} {r.choice(COMPANY_WORD)} {r.choice(COMPANY_NAME)}"

    def values(self, n: int, phone: str) -> dict[str, Any]:
        """Field values for customer number `n` (as a user or an import would enter them)."""
        r = self.rng
        ctype = self.pick(self.types)
        district = self.pick(self.districts)
        business = ctype == "business"
        data: dict[str, Any] = {
            "name": self.company() if business else self.person(),
            "phone": phone,
            "account_no": f"{10_000_000_000 + n}",
            "meter_no": f"WM{n:09d}",
            "customer_type": ctype,
            "usage_purpose": self.pick(self.purposes) if business else "domestic",
            "district": district,
            "address": f"{r.randint(1, 999)} {r.choice(STREETS)}",
            "ward": f"Phường {r.randint(1, 15)}",
            "priority": self.pick(self.priorities),
            "source": self.pick(self.sources),
            "payment_method": self.pick(self.payments),
        }
        if business:
            data["tax_code"] = f"{r.randint(0, 10**10 - 1):010d}"
        else:
            data["household_members"] = r.randint(1, 8)
        if r.random() < 0.3:
            data["contract_no"] = f"HD-{n:08d}"
        return data


# --- timing helpers --------------------------------------------------------------------
def pct(samples: list[float], p: float) -> float:
    """The p-th percentile (nearest rank on the sorted samples), in the samples' unit."""
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def summary(samples_ms: list[float]) -> str:
    return (f"p50 {pct(samples_ms, 50):8.2f} ms   p95 {pct(samples_ms, 95):8.2f} ms   "
            f"mean {statistics.fmean(samples_ms):8.2f} ms")


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --- databases -------------------------------------------------------------------------
@contextmanager
def fresh_database(kind: str, data_dir: str | None, keep: bool) -> Iterator[Engine]:
    if kind == "sqlite":
        own = data_dir is None
        folder = Path(data_dir or tempfile.mkdtemp(prefix="callboard-bench-"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"
        log(f"database: SQLite {sqlite_version()} file {path}")
        engine = connect(f"sqlite:///{path}")
        try:
            yield engine
        finally:
            engine.dispose()
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                if own:
                    shutil.rmtree(folder, ignore_errors=True)
        return
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        conn.execute(text(f"CREATE SCHEMA {name}"))
    sep = "&" if "?" in PG_URL else "?"
    log(f"database: PostgreSQL {version} at {PG_URL}, schema {name}")
    engine = connect(f"{PG_URL}{sep}options=-csearch_path%3D{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        if keep:
            log(f"kept schema {name}")
        else:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


@contextmanager
def raw_cursor(engine: Engine) -> Iterator[Any]:
    """A DBAPI cursor on a pooled connection of the same engine (same driver, same pragmas)."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        yield cur
        cur.close()
        conn.commit()
    finally:
        conn.close()


def setup_tenant(engine: Engine) -> tuple[Tenant, RecordService]:
    t0 = time.perf_counter()
    schema.upgrade(engine)
    store = TenantStore(engine)
    tenant = store.create("bench", None, BundleSource.from_dir(CONFIG))
    store.add_member(tenant.id, OWNER_UID, "owner@bench.test", "owner")
    for uid in AGENT_UIDS:
        store.add_member(tenant.id, uid, f"agent{uid}@bench.test", "agent",
                         team="a" if uid % 2 == 0 else "b", extension=str(100 + uid))
    log(f"schema.upgrade + TenantStore.create (expression indexes): "
        f"{time.perf_counter() - t0:.1f} s")
    return tenant, RecordService(engine, tenant)


# --- bulk load -------------------------------------------------------------------------
def bulk_rows(tenant: Tenant, gen: Generator, count: int, first_id: int,
              ) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Batches of (records rows, record_keys rows), shaped as the service would store them."""
    rng = gen.rng
    phones = rng.sample(range(BULK_PHONES), count)
    now = datetime.now(UTC)
    three_years = 3 * 365 * 86400
    recs: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    for i in range(count):
        rid = first_id + i
        data = gen.values(rid, f"+849{phones[i]:08d}")
        updated = now - timedelta(seconds=rng.random() * three_years)
        created = updated - timedelta(seconds=rng.random() * three_years * 0.5)
        owner = gen.pick(gen.owners)
        recs.append((rid, tenant.id, "customer", data["name"], owner, None, data["priority"],
                     1, json.dumps(data), created, updated, OWNER_UID, OWNER_UID, None))
        keys.append((tenant.id, "customer", "phone", data["phone"], rid, True))
        keys.append((tenant.id, "customer", "account_no", data["account_no"], rid, True))
        keys.append((tenant.id, "customer", "meter_no", data["meter_no"].lower(), rid, True))
        if len(recs) >= BATCH:
            yield recs, keys
            recs, keys = [], []
    if recs:
        yield recs, keys


REC_COLS = ("id, tenant_id, entity, title, owner_id, status, priority, version, data, "
            "created_at, updated_at, created_by, updated_by, deleted_at")
KEY_COLS = "tenant_id, entity, field, value, record_id, is_unique"


def _sqlite_stamp(dt: datetime) -> str:
    # SQLAlchemy's SQLite DateTime storage format (naive UTC text with microseconds).
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def write_batch(cur: Any, sqlite: bool, recs: list[tuple], side: str, side_cols: str,
                side_rows: list[tuple]) -> None:
    """One batch of `records` rows and rows of a side table, in one transaction:
    executemany on SQLite, COPY on PostgreSQL."""
    if sqlite:
        cur.execute("BEGIN")
        cur.executemany(f"INSERT INTO records ({REC_COLS}) VALUES ({', '.join('?' * 14)})",
                        [(*r[:9], _sqlite_stamp(r[9]), _sqlite_stamp(r[10]), *r[11:])
                         for r in recs])
        marks = ",".join("?" * len(side_cols.split(",")))
        cur.executemany(f"INSERT INTO {side} ({side_cols}) VALUES ({marks})", side_rows)
        cur.execute("COMMIT")
        return
    with cur.copy(f"COPY records ({REC_COLS}) FROM STDIN") as cp:
        for r in recs:
            cp.write_row(r)
    with cur.copy(f"COPY {side} ({side_cols}) FROM STDIN") as cp:
        for row in side_rows:
            cp.write_row(row)
    cur.connection.commit()


def table_indexes(engine: Engine) -> dict[str, str]:
    """Name -> CREATE INDEX statement of the secondary indexes of records and record_keys."""
    sql = ("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
           "AND tablename IN ('records', 'record_keys') AND indexname NOT LIKE 'pk\\_%'"
           if engine.dialect.name == "postgresql" else
           "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
           "AND tbl_name IN ('records', 'record_keys') AND sql IS NOT NULL")
    with raw_cursor(engine) as cur:
        cur.execute(sql)
        return dict(sorted(cur.fetchall()))


def bulk_load(engine: Engine, tenant: Tenant, gen: Generator, count: int) -> None:
    # Building an index once is far cheaper than maintaining it row by row, so the
    # secondary indexes are dropped for the load and made again afterwards: the expression
    # indexes by the engine's own TenantStore.ensure_indexes, the others (Alembic's) from
    # the DDL the catalog held for them. The result is checked to be the same set.
    before = table_indexes(engine)
    with raw_cursor(engine) as cur:
        for name in before:
            cur.execute(f"DROP INDEX {name}")
    t0 = time.perf_counter()
    gen_s = 0.0
    sqlite = engine.dialect.name == "sqlite"
    with raw_cursor(engine) as cur:
        # The generated rows are consistent by construction: skip the per-row foreign-key
        # checks for this connection only (restored below, before it goes back to the pool).
        cur.execute("PRAGMA foreign_keys=OFF" if sqlite else
                    "SET session_replication_role = replica")
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM records")
        first_id = cur.fetchone()[0] + 1
        batches = bulk_rows(tenant, gen, count, first_id)
        done = 0
        while True:
            g0 = time.perf_counter()
            batch = next(batches, None)
            gen_s += time.perf_counter() - g0
            if batch is None:
                break
            recs, keys = batch
            write_batch(cur, sqlite, recs, "record_keys", KEY_COLS, keys)
            done += len(recs)
            if done % 200_000 < BATCH or done == count:
                el = time.perf_counter() - t0
                log(f"  loaded {done:>9,} rows  {el:6.1f} s  ({done / el:,.0f} rows/s)")
        if not sqlite:
            for table in ("records", "record_keys"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT MAX(id) FROM {table}))")
            cur.connection.commit()
        cur.execute("PRAGMA foreign_keys=ON" if sqlite else
                    "SET session_replication_role = DEFAULT")
    el = time.perf_counter() - t0
    log(f"bulk load: {count:,} customers (+{3 * count:,} key rows) in {el:.1f} s = "
        f"{count / el:,.0f} rows/s (of which {gen_s:.1f} s generating rows in Python)")
    t0 = time.perf_counter()
    with raw_cursor(engine) as cur:
        if not sqlite:
            cur.execute("SET maintenance_work_mem = '256MB'")
        for name, ddl in before.items():
            if not name.startswith("ix_rec_"):
                cur.execute(ddl)
        if not sqlite:
            cur.execute("RESET maintenance_work_mem")
    t1 = time.perf_counter()
    TenantStore(engine).ensure_indexes(tenant.model)
    after = table_indexes(engine)
    if after != before:
        raise SystemExit(f"indexes differ after the load: {sorted(before)} -> {sorted(after)}")
    n_expr = sum(name.startswith("ix_rec_") for name in after)
    log(f"indexes rebuilt: {len(after) - n_expr} table indexes in {t1 - t0:.1f} s, "
        f"{n_expr} expression indexes by TenantStore.ensure_indexes in "
        f"{time.perf_counter() - t1:.1f} s")
    t0 = time.perf_counter()
    if engine.dialect.name == "postgresql":
        conn = engine.raw_connection()
        try:
            conn.driver_connection.autocommit = True
            with conn.driver_connection.cursor() as c2:
                c2.execute("VACUUM (ANALYZE) records")
                c2.execute("VACUUM (ANALYZE) record_keys")
            conn.driver_connection.autocommit = False
        finally:
            conn.close()
        what = "VACUUM (ANALYZE)"
    else:
        with raw_cursor(engine) as cur:
            cur.execute("ANALYZE")
        what = "ANALYZE"
    log(f"{what}: {time.perf_counter() - t0:.1f} s")
    if engine.dialect.name == "postgresql":
        size_sql = ("SELECT pg_size_pretty(pg_total_relation_size('records')), "
                    "pg_size_pretty(pg_relation_size('records'))")
    else:
        size_sql = ("SELECT printf('%.0f MB (whole file)', page_count * page_size / 1048576.0),"
                    " '' FROM pragma_page_count(), pragma_page_size()")
    with raw_cursor(engine) as cur:
        cur.execute(size_sql)
        total, heap = cur.fetchone()
    log(f"records size: {total}" + (f" (heap {heap})" if heap else ""))


# --- filter benchmark ------------------------------------------------------------------
class Capture:
    """Records the SQL statements the engine sends while it is on."""

    def __init__(self, engine: Engine):
        self.on = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._hear)

    def _hear(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        if self.on:
            self.statements.append((statement, parameters))

    @contextmanager
    def __call__(self) -> Iterator[list[tuple[str, Any]]]:
        self.statements = []
        self.on = True
        try:
            yield self.statements
        finally:
            self.on = False


def hand_sql(dialect: str, filters: dict[str, str], agent: bool) -> tuple[str, str, Callable]:
    """The list query as a developer would write it, and a function making its params."""
    if dialect == "postgresql":
        ph = "%s"
        expr = "(data ->> '{}')"
    else:
        ph = "?"
        expr = "json_extract(data, '$.{}')"
    where = [f"tenant_id = {ph}", "entity = 'customer'", "deleted_at IS NULL"]
    where += [f"{expr.format(name)} = {ph}" for name in filters]
    if agent:
        where.append(f"(owner_id = {ph} OR owner_id IS NULL)")
    cond = " AND ".join(where)
    rows = (f"SELECT * FROM records WHERE {cond} "
            f"ORDER BY updated_at DESC, id DESC LIMIT {PER_PAGE}")
    count = f"SELECT COUNT(*) FROM records WHERE {cond}"

    def params(tenant_id: int, values: dict[str, str]) -> tuple[Any, ...]:
        return (tenant_id, *[values[n] for n in filters],
                *((BENCH_AGENT,) if agent else ()))

    return rows, count, params


def explain(engine: Engine, statements: list[tuple[str, Any]], label: str) -> None:
    pg = engine.dialect.name == "postgresql"
    with raw_cursor(engine) as cur:
        for stmt, params in statements:
            kind = "COUNT" if "count(" in stmt.lower() else "rows"
            log(f"  -- {label}, {kind} query: "
                f"{' '.join(stmt.split())[:400]}")
            log(f"     params: {params}")
            prefix = ("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " if pg
                      else "EXPLAIN QUERY PLAN ")
            cur.execute(prefix + stmt, params)
            for row in cur.fetchall():
                log("     | " + (row[0] if pg else f"{row[3]}"))


def filter_bench(engine: Engine, tenant: Tenant, svc: RecordService, gen: Generator,
                 queries: int, seed: int, replay_every: int) -> dict[str, dict[str, Any]]:
    dialect = engine.dialect.name
    ent = tenant.model.entities["customer"]
    fields = filterable_fields(tenant.model, ent)
    owner = Actor(tenant.id, OWNER_UID, "owner", email="owner@bench.test")
    agent = Actor(tenant.id, BENCH_AGENT, "agent", team="a", email=f"agent{BENCH_AGENT}@bench.test")
    districts = list(ent.field_map["district"].option_values)
    types = list(ent.field_map["customer_type"].option_values)
    rng = random.Random(seed + 1)
    capture = Capture(engine)
    scenarios = [
        ("district", owner, ["district"]),
        ("customer_type+district", owner, ["customer_type", "district"]),
        ("district, agent", agent, ["district"]),
    ]
    results: dict[str, dict[str, Any]] = {}
    for label, actor, names in scenarios:
        is_agent = actor.role == "agent"
        rows_sql, count_sql, hand_params = hand_sql(dialect, dict.fromkeys(names), is_agent)

        def values() -> dict[str, str]:
            # Values drawn uniformly, so rare and common districts are both measured.
            return {"district": rng.choice(districts), "customer_type": rng.choice(types)}

        def run_service(v: dict[str, str], actor: Actor = actor,
                        names: list[str] = names) -> int:
            params = {n: v[n] for n in names}
            params["per_page"] = str(PER_PAGE)
            page = svc.list(actor, "customer", parse_query(params, fields))
            return page.total

        def run_hand(cur: Any, v: dict[str, str], rows_sql: str = rows_sql,
                     count_sql: str = count_sql, hand_params: Callable = hand_params) -> int:
            p = hand_params(tenant.id, v)
            cur.execute(rows_sql, p)
            cur.fetchall()
            cur.execute(count_sql, p)
            total = cur.fetchone()[0]
            cur.connection.commit()
            return total

        split: dict[str, list[float]] = {"COUNT": [], "rows": []}

        def run_replay(cur: Any, statements: list[tuple[str, Any]], keep: bool,
                       split: dict[str, list[float]] = split) -> int:
            return replay(cur, statements, split if keep else None)

        # The service's SQL for one value: shown with its plan, replayed raw below.
        sample = values()
        sample["district"] = max(districts, key=gen.district_weights.__getitem__)
        with capture() as stmts:
            run_service(sample)
        log(f"\n[{label}] plan of the service's SQL (largest district {sample['district']}):")
        explain(engine, stmts, label)
        with raw_cursor(engine) as cur:
            rows_plan = ("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "
                         if dialect == "postgresql" else "EXPLAIN QUERY PLAN ")
            cur.execute(rows_plan + rows_sql, hand_params(tenant.id, sample))
            log("  -- hand-written rows query plan:")
            for row in cur.fetchall():
                log("     | " + (row[0] if dialect == "postgresql" else f"{row[3]}"))

        samples: dict[str, list[float]] = {"service": [], "hand": [], "replay": []}
        totals: list[int] = []
        with raw_cursor(engine) as cur:
            for i in range(queries + 5):          # 5 warm-up rounds, not counted
                v = values()
                with capture() as stmts:
                    t0 = time.perf_counter()
                    total = run_service(v)
                    t_service = time.perf_counter() - t0
                order = ["hand", "replay"] if replay_every and i % replay_every == 0 else ["hand"]
                rng.shuffle(order)
                timing: dict[str, float] = {}
                for path in order:
                    t0 = time.perf_counter()
                    got = (run_hand(cur, v) if path == "hand" else
                           run_replay(cur, list(stmts), keep=i >= 5))
                    timing[path] = time.perf_counter() - t0
                    if got != total:
                        raise SystemExit(f"{label}: {path} counted {got}, service {total}")
                if i >= 5:
                    samples["service"].append(t_service * 1000)
                    samples["hand"].append(timing["hand"] * 1000)
                    if "replay" in timing:
                        samples["replay"].append(timing["replay"] * 1000)
                    totals.append(total)
        ratio50 = pct(samples["service"], 50) / pct(samples["hand"], 50)
        ratio95 = pct(samples["service"], 95) / pct(samples["hand"], 95)
        log(f"[{label}] {queries} queries (load average {os.getloadavg()[0]:.1f}), "
            f"matching rows per query {min(totals):,}..{max(totals):,} "
            f"(median {int(statistics.median(totals)):,})")
        log(f"  service  RecordService.list     {summary(samples['service'])}")
        log(f"  hand     hand-written SQL (raw)  {summary(samples['hand'])}")
        if samples["replay"]:
            log(f"  replay   service SQL (raw)       {summary(samples['replay'])}"
                f"   ({len(samples['replay'])} samples)")
            log(f"    of which its rows query  p50 {pct(split['rows'], 50):8.2f} ms  "
                f"p95 {pct(split['rows'], 95):8.2f} ms;  its COUNT  "
                f"p50 {pct(split['COUNT'], 50):8.2f} ms  p95 {pct(split['COUNT'], 95):8.2f} ms")
        log(f"  ratio service/hand: p50 {ratio50:.2f}x  p95 {ratio95:.2f}x  "
            f"(goal <= 2x: {'met' if max(ratio50, ratio95) <= 2 else 'NOT met'})")
        results[label] = {k: (pct(s, 50), pct(s, 95)) for k, s in samples.items() if s}
        results[label]["ratio"] = (ratio50, ratio95)
    return results


# --- create benchmark ------------------------------------------------------------------
def create_bench(engine: Engine, tenant: Tenant, svc: RecordService, gen: Generator,
                 count: int, first_n: int) -> None:
    agent = Actor(tenant.id, BENCH_AGENT, "agent", team="a", email=f"agent{BENCH_AGENT}@bench.test")
    inputs = []
    for i in range(count):
        # Entered the way an agent types it: a local mobile number, normalised by the service.
        vals = gen.values(first_n + i, f"09{(BULK_PHONES + i) % 10**8:08d}")
        inputs.append(vals)
    lat: list[float] = []
    t_start = time.perf_counter()
    for vals in inputs:
        t0 = time.perf_counter()
        svc.create(agent, "customer", vals)
        lat.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - t_start
    with raw_cursor(engine) as cur:
        cur.execute("SELECT COUNT(*) FROM activity WHERE action = 'create'")
        logged = cur.fetchone()[0]
    log(f"\n[create] {count:,} RecordService.create as an agent (validation, 3 key rows, "
        f"activity row, one transaction each)")
    log(f"  {count / elapsed:,.0f} creates/s   {summary(lat)}   "
        f"({logged:,} activity rows written)")


# --- main ------------------------------------------------------------------------------
def run(kind: str, args: argparse.Namespace) -> None:
    log(f"\n==== {kind}: {args.rows:,} customers, {args.queries} queries per scenario, "
        f"{args.create:,} creates ====")
    t_all = time.perf_counter()
    with fresh_database(kind, args.data_dir, args.keep) as engine:
        tenant, svc = setup_tenant(engine)
        gen = Generator(tenant, args.seed)
        if args.rows:
            bulk_load(engine, tenant, gen, args.rows)
        t0 = time.perf_counter()
        filter_bench(engine, tenant, svc, gen, args.queries, args.seed, args.replay_every)
        log(f"filter benchmark: {time.perf_counter() - t0:.1f} s")
        if args.create:
            create_bench(engine, tenant, svc, gen, args.create, args.rows + 1)
    log(f"\n==== {kind} done in {time.perf_counter() - t_all:.1f} s ====")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--rows", type=int, default=1_000_000, help="customers to bulk-load")
    ap.add_argument("--queries", type=int, default=200, help="measured queries per scenario")
    ap.add_argument("--create", type=int, default=5000, help="creates through the service")
    ap.add_argument("--data-dir", help="folder for the SQLite file (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--replay-every", type=int, default=4, metavar="K",
                    help="also replay the service's SQL on a raw cursor every K-th query "
                         "(0: never)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args(argv)
    log(f"bench_records  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
        f"python {stdlib_platform.python_version()}  {os.cpu_count()} CPUs  "
        f"{stdlib_platform.platform()}")
    log("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(kind, args)


if __name__ == "__main__":
    main()
