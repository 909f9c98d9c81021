#!/usr/bin/env python3
"""Ticket views benchmark: the `overdue` view over many tickets in one tenant.

What it measures, per database (SQLite file and/or a PostgreSQL schema of its own):

1. a fresh database migrated with `schema.upgrade`, the demo tenant from `config/` (which
   makes the expression indexes of the ticket's `index: true` fields, `due_at` included),
   an owner, four supervisors and 40 agents in the four departments;
2. a bulk load of N tickets straight into `records` and `record_links` (the assignee and
   watcher rows that ticket visibility and the views read), shaped as the service stores
   them: the four ticket types of the bundle, their own fields, statuses from their own
   workflows, departments, assignees, SLA dates. Mix (seed 20260101): ~70 % closed,
   ~20 % open within their due date, ~10 % open and overdue; 20 % of the open ones still
   in the initial state; ~85 % created (and so owned) by an agent, the rest by the
   platform or a supervisor (owned by nobody, which every agent sees). No due date lies
   within an hour of now, so the overdue set does not change while the queries run.
   This is set-up (executemany on SQLite, COPY on PostgreSQL, indexes dropped for the
   load and built again as bench_records.py does), not a throughput figure;
3. the `overdue` view, `--queries` measured calls after 5 warm-up rounds, for the owner,
   for an agent (visibility adds owner = me, nobody's, creator = me, or an assignee or
   watcher link to me) and for a supervisor (the same for the team): each call timed as
   - **service**: exactly what `GET /api/v1/tickets?view=overdue` runs:
     `RecordService.list(actor, "ticket", parse_query({"view": "overdue", "per_page": "50"},
     …, extra=("view",)), extra=view_conditions("overdue", actor, model, dialect))`,
     its COUNT and its page of 50 rows (newest update first) turned into dicts;
   - **hand**: the same query written by hand in SQL (a page of 50 and a COUNT) on a raw
     DBAPI cursor of the same engine;
   - **replay** (every `--replay-every`-th call): the service's own SQL replayed raw,
     split into its page query and its COUNT.
   Service and hand run interleaved in random order, and must count the same tickets.

It prints its figures (and the plans); nothing is asserted. Run from the repository root:

    python benchmarks/bench_tickets.py --db both --rows 200000
    python benchmarks/bench_tickets.py --db sqlite --rows 20000 --queries 50   # quick check

Options: --db sqlite|postgresql|both, --rows N (default 200 000), --queries N (default 200
per scenario), --seed, --replay-every K (0: off), --data-dir DIR (SQLite file), --keep.
PostgreSQL is reached as in bench_records.py (CALLBOARD_BENCH_PG_URL, CALLBOARD_TEST_PG_URL).
"""
from __future__ import annotations

import argparse
import json
import os
import platform as stdlib_platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_records import (  # the sibling script's helpers, reused as they are
    CONFIG,
    Capture,
    explain,
    fresh_database,
    log,
    pct,
    raw_cursor,
    replay,
    summary,
    weighted,
    write_batch,
)

from callboard.engine import schema
from callboard.engine.access import Actor
from callboard.engine.bundle import BundleSource
from callboard.engine.model import TicketType
from callboard.engine.queries import filterable_fields, parse_query
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.engine.values import format_datetime
from callboard.workflows.calendar import add_sla
from callboard.workflows.hooks import records_service
from callboard.workflows.views import view_conditions

BATCH = 20_000
PER_PAGE = 50
OWNER_UID = 1
# department -> (supervisor uid, agent uids): 40 agents, one supervisor and team each
DEPARTMENTS: dict[str, tuple[int, list[int]]] = {
    "support": (2, list(range(10, 26))),       # 16 agents: they take the calls
    "billing": (3, list(range(26, 36))),       # 10
    "technical": (4, list(range(36, 42))),     # 6
    "field_ops": (5, list(range(42, 50))),     # 8
}
BENCH_AGENT = 12                               # a support agent with a typical load
BENCH_SUPERVISOR = 3                           # billing's supervisor
TWO_YEARS = 2 * 365 * 86400
MARGIN = timedelta(hours=1)                    # no due date this close to now

TYPES = [("complaint", 40), ("inquiry", 35), ("leak_report", 15), ("suggestion", 10)]
PRIORITIES = [("low", 15), ("normal", 60), ("high", 20), ("urgent", 5)]
SUBJECTS = {
    "complaint": ["Nước đục, có mùi clo", "Mất nước từ sáng", "Nước yếu vào giờ cao điểm",
                  "Hóa đơn tháng này tăng bất thường", "Đồng hồ nước chạy khi không dùng",
                  "Nhân viên ghi chỉ số không đến", "Ống nước trước nhà bị xì"],
    "inquiry": ["Hỏi giá nước sinh hoạt 2026", "Lịch cúp nước khu vực",
                "Thủ tục gắn mới đồng hồ", "Sang tên hợp đồng", "Kênh thanh toán qua ví điện tử",
                "Tra cứu chỉ số tháng trước"],
    "leak_report": ["Bể ống cái ngoài đường", "Rò rỉ tại đồng hồ", "Nước chảy tràn mặt đường",
                    "Xì ống nhánh trước nhà"],
    "suggestion": ["Góp ý ứng dụng Zalo OA", "Khen nhân viên tổ sửa chữa",
                   "Đề nghị nhắn tin trước khi cúp nước", "Góp ý hóa đơn điện tử"],
}
STREETS = ["Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Điện Biên Phủ", "Cách Mạng Tháng Tám",
           "Võ Văn Tần", "Lý Thường Kiệt", "Trần Hưng Đạo", "Nguyễn Trãi", "Phan Xích Long"]


class TicketGenerator:
    """Tickets of the demo water utility, reproducible from a seed."""

    def __init__(self, tenant: Tenant, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.model = tenant.model
        self.now = now
        self.types = weighted(TYPES)
        self.priorities = weighted(PRIORITIES)
        self.departments = list(DEPARTMENTS)

    def pick(self, table: tuple[list[Any], list[float]]) -> Any:
        values, cum = table
        return self.rng.choices(values, cum_weights=cum)[0]

    def _fields(self, tt: TicketType) -> dict[str, Any]:
        """The type's own fields: a value for the required ones, defaults, some others."""
        r = self.rng
        out: dict[str, Any] = {}
        for f in tt.fields:
            if f.options and (f.required or f.default is not None or r.random() < 0.5):
                out[f.name] = r.choice(f.option_values)
            elif f.default is not None:
                out[f.name] = f.default
        if "location" in tt.field_map:
            out["location"] = f"{r.randint(1, 500)} {r.choice(STREETS)}"
        return out

    def ticket(self, rid: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the stored data, the row's columns) of ticket `rid`."""
        r = self.rng
        kind = self.pick(self.types)
        tt = self.model.ticket_types[kind]
        wf = tt.workflow
        finals = [s for s, st in wf.states.items() if st.final]
        opens = [s for s, st in wf.states.items() if not st.final and s != wf.initial]
        roll = r.random()
        resolve = tt.sla.resolve if tt.sla and tt.sla.resolve else 3 * 86400
        respond = tt.sla.respond if tt.sla and tt.sla.respond else 4 * 3600
        schedule = self.model.settings.schedules.get(tt.sla.schedule if tt.sla else "")
        tz = self.model.settings.timezone
        if roll < 0.70:                                   # closed, over the past two years
            state = r.choice(finals)
            created = self.now - timedelta(seconds=30 * 86400 + r.random() * TWO_YEARS)
        elif roll < 0.90:                                 # open, due later
            state = wf.initial if r.random() < 0.2 else r.choice(opens)
            created = self.now - timedelta(seconds=r.random() * 2 * 86400)
        else:                                             # open and overdue
            state = wf.initial if r.random() < 0.2 else r.choice(opens)
            created = self.now - timedelta(seconds=(resolve * 1.4 if resolve < 86400 * 7
                                                    else resolve) + r.random() * 60 * 86400)
        due = add_sla(created, resolve, schedule, tz)
        if roll >= 0.90:
            due = min(due, self.now - MARGIN - timedelta(seconds=r.random() * 86400))
        elif roll >= 0.70:
            due = max(due, self.now + MARGIN + timedelta(seconds=r.random() * 3600))
        department = tt.department or "support"
        if r.random() < 0.3:
            department = r.choice(self.departments)
        supervisor, agents = DEPARTMENTS[department]
        assignee = r.choice(agents) if state in finals or r.random() < 0.9 else None
        # who wrote it: a support agent (owner), or the platform / a supervisor (nobody's)
        if r.random() < 0.85:
            creator: int | None = r.choice(DEPARTMENTS["support"][1])
            owner: int | None = creator
        else:
            creator = r.choice([None, supervisor])
            owner = None
        data: dict[str, Any] = {
            "type": kind, "subject": r.choice(SUBJECTS[kind]),
            "description": f"Khách hàng gọi tổng đài lúc {created:%H:%M}, mã KH "
                           f"{r.randint(10**10, 10**11 - 1)}.",
            "status": state, "department": department,
            "priority": self.pick(self.priorities),
            "respond_by": format_datetime(add_sla(created, respond, schedule, tz)),
            "due_at": format_datetime(due),
            **self._fields(tt),
        }
        if assignee is not None:
            data["assignee"] = assignee
        updated = created
        if state != wf.initial:
            data["responded_at"] = format_datetime(created + timedelta(
                seconds=r.random() * respond))
            updated = created + timedelta(seconds=r.random() * 86400)
        if state in finals or state == "resolved":
            done = created + timedelta(seconds=r.random() * resolve * 1.2)
            data["resolved_at"] = format_datetime(done)
            updated = max(updated, done)
        watchers = []
        if r.random() < 0.05:
            watchers = [r.choice([supervisor, *DEPARTMENTS["support"][1]])]
            data["watchers"] = watchers
        updated = min(updated, self.now - MARGIN)
        return data, {"title": data["subject"], "owner": owner, "status": state,
                      "created": created, "updated": updated, "creator": creator,
                      "assignee": assignee, "watchers": watchers}


# --- set-up ------------------------------------------------------------------------------
def setup_tenant(engine: Engine) -> tuple[Tenant, RecordService, dict[str, Actor]]:
    t0 = time.perf_counter()
    schema.upgrade(engine)
    store = TenantStore(engine)
    tenant = store.create("bench", None, BundleSource.from_dir(CONFIG))
    store.add_member(tenant.id, OWNER_UID, "owner@bench.test", "owner")
    actors = {"owner": Actor(tenant.id, OWNER_UID, "owner", email="owner@bench.test")}
    for dep, (sup, agents) in DEPARTMENTS.items():
        store.add_member(tenant.id, sup, f"sup{sup}@bench.test", "supervisor", team=dep,
                         department=dep)
        for uid in agents:
            store.add_member(tenant.id, uid, f"agent{uid}@bench.test", "agent", team=dep,
                             department=dep, extension=str(100 + uid))
        if sup == BENCH_SUPERVISOR:
            actors["supervisor"] = Actor(tenant.id, sup, "supervisor", team=dep,
                                         department=dep, email=f"sup{sup}@bench.test")
        if BENCH_AGENT in agents:
            actors["agent"] = Actor(tenant.id, BENCH_AGENT, "agent", team=dep,
                                    department=dep, email=f"agent{BENCH_AGENT}@bench.test")
    log(f"schema.upgrade + TenantStore.create (expression indexes): "
        f"{time.perf_counter() - t0:.1f} s")
    return tenant, records_service(engine, tenant), actors


LINK_COLS = "tenant_id, from_id, from_entity, field, to_entity, to_id"


def secondary_indexes(engine: Engine) -> dict[str, str]:
    """Name -> CREATE INDEX of the secondary indexes of records and record_links."""
    sql = ("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
           "AND tablename IN ('records', 'record_links') AND indexname NOT LIKE 'pk\\_%'"
           if engine.dialect.name == "postgresql" else
           "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
           "AND tbl_name IN ('records', 'record_links') AND sql IS NOT NULL")
    with raw_cursor(engine) as cur:
        cur.execute(sql)
        return dict(sorted(cur.fetchall()))


def batches(tenant: Tenant, gen: TicketGenerator, count: int, first_id: int
            ) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    recs: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    for i in range(count):
        rid = first_id + i
        data, row = gen.ticket(rid)
        recs.append((rid, tenant.id, "ticket", row["title"], row["owner"], row["status"], None,
                     1, json.dumps(data, ensure_ascii=False), row["created"], row["updated"],
                     row["creator"], row["creator"], None))
        if row["assignee"] is not None:
            links.append((tenant.id, rid, "ticket", "assignee", "user", row["assignee"]))
        for w in row["watchers"]:
            links.append((tenant.id, rid, "ticket", "watchers", "user", w))
        if len(recs) >= BATCH:
            yield recs, links
            recs, links = [], []
    if recs:
        yield recs, links


def bulk_load(engine: Engine, tenant: Tenant, gen: TicketGenerator, count: int) -> None:
    """As bench_records.bulk_load: indexes dropped, rows copied in, indexes rebuilt (the
    expression ones by TenantStore.ensure_indexes), statistics gathered."""
    before = secondary_indexes(engine)
    with raw_cursor(engine) as cur:
        for name in before:
            cur.execute(f"DROP INDEX {name}")
    sqlite = engine.dialect.name == "sqlite"
    t0 = time.perf_counter()
    n_links = 0
    with raw_cursor(engine) as cur:
        cur.execute("PRAGMA foreign_keys=OFF" if sqlite else
                    "SET session_replication_role = replica")
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM records")
        first_id = cur.fetchone()[0] + 1
        done = 0
        for recs, links in batches(tenant, gen, count, first_id):
            write_batch(cur, sqlite, recs, "record_links", LINK_COLS, links)
            done += len(recs)
            n_links += len(links)
            if done % 100_000 < BATCH or done == count:
                el = time.perf_counter() - t0
                log(f"  loaded {done:>9,} tickets  {el:6.1f} s  ({done / el:,.0f} rows/s)")
        if not sqlite:
            for table in ("records", "record_links"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
            cur.connection.commit()
        cur.execute("PRAGMA foreign_keys=ON" if sqlite else
                    "SET session_replication_role = DEFAULT")
    log(f"bulk load: {count:,} tickets (+{n_links:,} link rows) in "
        f"{time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    with raw_cursor(engine) as cur:
        for name, ddl in before.items():
            if not name.startswith("ix_rec_"):
                cur.execute(ddl)
    TenantStore(engine).ensure_indexes(tenant.model)
    after = secondary_indexes(engine)
    if after != before:
        raise SystemExit(f"indexes differ after the load: {sorted(before)} -> {sorted(after)}")
    log(f"indexes rebuilt ({len(after)}): {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    if sqlite:
        with raw_cursor(engine) as cur:
            cur.execute("ANALYZE")
    else:
        conn = engine.raw_connection()
        try:
            conn.driver_connection.autocommit = True
            with conn.driver_connection.cursor() as c2:
                c2.execute("VACUUM (ANALYZE) records")
                c2.execute("VACUUM (ANALYZE) record_links")
            conn.driver_connection.autocommit = False
        finally:
            conn.close()
    log(f"{'ANALYZE' if sqlite else 'VACUUM (ANALYZE)'}: {time.perf_counter() - t0:.1f} s")


def describe(engine: Engine) -> dict[str, Any]:
    """The mix of statuses actually loaded."""
    with raw_cursor(engine) as cur:
        cur.execute("SELECT status, COUNT(*) FROM records WHERE entity = 'ticket' "
                    "GROUP BY status ORDER BY 2 DESC")
        statuses = cur.fetchall()
    total = sum(n for _, n in statuses)
    log("statuses: " + ", ".join(f"{s} {n:,} ({n / total:.0%})" for s, n in statuses))
    return {"total": total, "statuses": dict(statuses)}


# --- the overdue view ----------------------------------------------------------------------
def hand_sql(dialect: str, finals: list[str], who: str) -> tuple[str, str, Callable]:
    """The overdue list as a developer would write it, and its parameters."""
    ph = "%s" if dialect == "postgresql" else "?"
    due = "(data ->> 'due_at')" if dialect == "postgresql" else "json_extract(data, '$.due_at')"
    not_final = ", ".join(f"'{s}'" for s in finals)
    where = [f"tenant_id = {ph}", "entity = 'ticket'", "deleted_at IS NULL",
             f"status NOT IN ({not_final})", f"{due} < {ph}"]
    people = ""
    if who == "agent":
        people = (f"(owner_id = {ph} OR owner_id IS NULL OR created_by = {ph} OR EXISTS ("
                  f"SELECT 1 FROM record_links l WHERE l.from_id = records.id "
                  f"AND l.to_entity = 'user' AND l.field IN ('assignee', 'watchers') "
                  f"AND l.to_id = {ph}))")
    elif who == "supervisor":
        team = (f"SELECT user_id FROM members WHERE tenant_id = {ph} AND team = {ph}")
        people = (f"(owner_id IS NULL OR owner_id IN ({team}) OR created_by IN ({team}) "
                  f"OR EXISTS (SELECT 1 FROM record_links l WHERE l.from_id = records.id "
                  f"AND l.to_entity = 'user' AND l.field IN ('assignee', 'watchers') "
                  f"AND l.to_id IN ({team})))")
    if people:
        where.append(people)
    cond = " AND ".join(where)
    rows = (f"SELECT * FROM records WHERE {cond} "
            f"ORDER BY updated_at DESC, id DESC LIMIT {PER_PAGE}")
    count = f"SELECT COUNT(*) FROM records WHERE {cond}"

    def params(actor: Actor, now: str) -> tuple[Any, ...]:
        base: tuple[Any, ...] = (actor.tenant_id, now)
        if who == "agent":
            return (*base, actor.user_id, actor.user_id, actor.user_id)
        if who == "supervisor":
            return (*base, *((actor.tenant_id, actor.team) * 3))
        return base

    return rows, count, params


def overdue_bench(engine: Engine, tenant: Tenant, svc: RecordService,
                  actors: dict[str, Actor], queries: int, seed: int, replay_every: int
                  ) -> dict[str, dict[str, tuple[float, float]]]:
    dialect = engine.dialect.name
    model = tenant.model
    fields = filterable_fields(model, model.entities["ticket"])
    finals = sorted({s.name for tt in model.ticket_types.values()
                     for s in tt.workflow.states.values() if s.final})
    rng = random.Random(seed + 7)
    capture = Capture(engine)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    for who in ("owner", "agent", "supervisor"):
        actor = actors[who]
        rows_sql, count_sql, hand_params = hand_sql(dialect, finals, who)

        def run_service(actor: Actor = actor) -> int:
            query = parse_query({"view": "overdue", "per_page": str(PER_PAGE)}, fields,
                                extra=("view",))
            page = svc.list(actor, "ticket", query,
                            extra=view_conditions("overdue", actor, model, dialect))
            return page.total

        def run_hand(cur: Any, actor: Actor = actor, rows_sql: str = rows_sql,
                     count_sql: str = count_sql, hand_params: Callable = hand_params) -> int:
            p = hand_params(actor, format_datetime(datetime.now(UTC)))
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

        with capture() as stmts:
            run_service()
        log(f"\n[overdue, {who}] plan of the service's SQL:")
        explain(engine, stmts, f"overdue, {who}")
        with raw_cursor(engine) as cur:
            prefix = ("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "
                      if dialect == "postgresql" else "EXPLAIN QUERY PLAN ")
            for kind, sql in (("rows", rows_sql), ("COUNT", count_sql)):
                cur.execute(prefix + sql, hand_params(actor, format_datetime(
                    datetime.now(UTC))))
                log(f"  -- hand-written {kind} query plan:")
                for row in cur.fetchall():
                    log("     | " + (row[0] if dialect == "postgresql" else f"{row[3]}"))

        samples: dict[str, list[float]] = {"service": [], "hand": [], "replay": []}
        totals: set[int] = set()
        with raw_cursor(engine) as cur:
            for i in range(queries + 5):                  # 5 warm-up rounds, not counted
                with capture() as stmts:
                    t0 = time.perf_counter()
                    total = run_service()
                    t_service = time.perf_counter() - t0
                order = ["hand", "replay"] if replay_every and i % replay_every == 0 else [
                    "hand"]
                rng.shuffle(order)
                timing: dict[str, float] = {}
                for path in order:
                    t0 = time.perf_counter()
                    got = run_hand(cur) if path == "hand" else run_replay(
                        cur, list(stmts), keep=i >= 5)
                    timing[path] = time.perf_counter() - t0
                    if got != total:
                        raise SystemExit(f"overdue, {who}: {path} counted {got}, "
                                         f"service {total}")
                totals.add(total)
                if i >= 5:
                    samples["service"].append(t_service * 1000)
                    samples["hand"].append(timing["hand"] * 1000)
                    if "replay" in timing:
                        samples["replay"].append(timing["replay"] * 1000)
        r50 = pct(samples["service"], 50) / pct(samples["hand"], 50)
        r95 = pct(samples["service"], 95) / pct(samples["hand"], 95)
        log(f"[overdue, {who}] {queries} calls (load average {os.getloadavg()[0]:.1f}), "
            f"overdue tickets visible: {', '.join(f'{t:,}' for t in sorted(totals))}")
        log(f"  service  RecordService.list + view   {summary(samples['service'])}")
        log(f"  hand     hand-written SQL (raw)      {summary(samples['hand'])}")
        if samples["replay"]:
            log(f"  replay   service SQL (raw)           {summary(samples['replay'])}   "
                f"({len(samples['replay'])} samples)")
            log(f"    of which its page query  p50 {pct(split['rows'], 50):8.2f} ms  "
                f"p95 {pct(split['rows'], 95):8.2f} ms;  its COUNT  "
                f"p50 {pct(split['COUNT'], 50):8.2f} ms  p95 {pct(split['COUNT'], 95):8.2f} ms")
        log(f"  ratio service/hand: p50 {r50:.2f}x  p95 {r95:.2f}x")
        results[who] = {k: (pct(s, 50), pct(s, 95)) for k, s in samples.items() if s}
        results[who]["ratio"] = (r50, r95)
        results[who]["visible"] = (float(min(totals)), float(max(totals)))
        if split["rows"]:
            results[who]["replay_rows"] = (pct(split["rows"], 50), pct(split["rows"], 95))
            results[who]["replay_count"] = (pct(split["COUNT"], 50), pct(split["COUNT"], 95))
    return results


# --- main --------------------------------------------------------------------------------
def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    log(f"\n==== {kind}: {args.rows:,} tickets, {args.queries} calls per scenario ====")
    t_all = time.perf_counter()
    with fresh_database(kind, args.data_dir, args.keep) as engine:
        tenant, svc, actors = setup_tenant(engine)
        gen = TicketGenerator(tenant, args.seed, datetime.now(UTC))
        bulk_load(engine, tenant, gen, args.rows)
        mix = describe(engine)
        t0 = time.perf_counter()
        results = overdue_bench(engine, tenant, svc, actors, args.queries, args.seed,
                                args.replay_every)
        log(f"overdue benchmark: {time.perf_counter() - t0:.1f} s")
    log(f"\n==== {kind} done in {time.perf_counter() - t_all:.1f} s ====")
    return {"results": results, "mix": mix}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--rows", type=int, default=200_000, help="tickets to bulk-load")
    ap.add_argument("--queries", type=int, default=200, help="measured calls per scenario")
    ap.add_argument("--data-dir", help="folder for the SQLite file (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--replay-every", type=int, default=4, metavar="K",
                    help="also replay the service's SQL raw every K-th call (0: never)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args(argv)
    log(f"bench_tickets  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
        f"python {stdlib_platform.python_version()}  {os.cpu_count()} CPUs  "
        f"{stdlib_platform.platform()}")
    log("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    runs = {kind: run(kind, args)
            for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db])}
    log("\n==== summary: the overdue view, p50 / p95 in ms ====")
    log("| who | database | overdue visible | service | hand-written SQL | ratio |")
    log("|---|---|---|---|---|---|")
    for who in ("owner", "agent", "supervisor"):
        for kind, out in runs.items():
            r = out["results"][who]
            log(f"| {who} | {kind} | {int(r['visible'][0]):,} | "
                f"{r['service'][0]:.1f} / {r['service'][1]:.1f} | "
                f"{r['hand'][0]:.1f} / {r['hand'][1]:.1f} | "
                f"{r['ratio'][0]:.2f}× / {r['ratio'][1]:.2f}× |")
    for kind, out in runs.items():
        statuses = Counter(out["mix"]["statuses"])
        log(f"{kind}: {out['mix']['total']:,} tickets; " + ", ".join(
            f"{s} {n:,}" for s, n in statuses.most_common()))


if __name__ == "__main__":
    main()
