#!/usr/bin/env python3
"""Telephony benchmark: screen pop with many customers, and a burst of simulated calls.

What it measures, per database (see benchmarks/README.md and RESULTS.md):

1. a fresh database and the real Flask app on it (`create_app`), the demo tenant from
   `config/` (with the business schedule opened round the clock and wrap-ups of 1 s, so
   the run does not depend on the hour), an owner, a supervisor and 20 agents (real
   logins), then N customers bulk-loaded with `bench_records.bulk_load`;
2. screen pop: `GET /api/v1/screen-pop?number=` as an agent for numbers of customers the
   agent may see (in every written form: `0…`, `+84…`, spaced) and for unknown numbers,
   against `GET /api/v1/agents/me/status` (authenticated, two indexed lookups) in the same
   run, interleaved; p50/p95 of each and their ratio. Both go through the whole app
   (JWT, routing, JSON) in-process, without a network;
3. calls: C concurrent simulated callers through `POST /api/v1/telephony/sim/events`
   (one thread each, at most 32 requests in the app at once as under `callboard serve`'s
   32 server threads; half of them first-time callers, some VIP, 10 % hanging up while they
   wait, 10 % of the events sent twice with the same `event_id`), answered by the 20 agents
   (one thread each, hearing their screen pops on the app's event stream, talking
   0.2–1.0 s); the app's own ticker thread
   releases wrap-ups. Checked at the end: every event answered 200 (none lost), every call
   in the log with a final result, no agent ever holding two calls, no call answered by two
   agents, duplicates ignored.

It prints its figures; nothing is asserted.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform as stdlib_platform
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


from bench_records import (
    CONFIG,
    Generator,
    bulk_load,
    fresh_database,
    log,
    pct,
)
from sqlalchemy import select

from callboard.engine import schema
from callboard.engine.bundle import BundleSource
from callboard.engine.settings import Settings
from callboard.engine.tables import call_events, call_sessions, record_keys, records
from callboard.web.api.telephony import stop_ticker
from callboard.web.app import create_app
from callboard.web.users import create_user

PASSWORD = "bench-password-1"
API = "/api/v1"
AGENTS = 20
SERVER_THREADS = 32   # `callboard serve` runs waitress with 32 threads


def bench_bundle() -> BundleSource:
    """config/ with the hotline open round the clock and short wrap-ups."""
    files = dict(BundleSource.from_dir(CONFIG).files)
    text = files["tenant.yaml"]
    start = text.index("  business:\n")
    end = text.index("    holidays:", start)
    text = text[:start] + '  business:\n    mon-sun: "00:00-24:00"\n' + text[end:]
    for sec in ("15s", "10s", "30s"):
        text = text.replace(f"wrapup: {sec}", "wrapup: 1s")
    files["tenant.yaml"] = text
    return BundleSource(files)


def url_of(engine: Any) -> str:
    return engine.url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://", 1)


class App:
    def __init__(self, engine: Any, data_dir: Path):
        schema.upgrade(engine)
        settings = Settings(data_dir=data_dir, database_url=url_of(engine), redis_url=None,
                            secret_key="bench-secret-key-of-32-characters!!")
        self.app = create_app(settings, TESTING=True, CALLBOARD_TICKER=True,
                              FAB_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
        store = self.app.extensions["callboard"].store
        self.tenant = store.create("bench", None, bench_bundle())
        self.users: dict[str, tuple[int, str]] = {}
        for name, role in (("owner", "owner"), ("supervisor", "supervisor")):
            uid = create_user(self.app, "bench", f"{name}@bench.test", PASSWORD, role,
                              extension="100" if role == "supervisor" else None)
            self.users[name] = (uid, "100")
        for n in range(AGENTS):
            ext = str(200 + n)
            uid = create_user(self.app, "bench", f"agent{n}@bench.test", PASSWORD, "agent",
                              team="a", extension=ext)
            self.users[f"agent{n}"] = (uid, ext)
        self.tokens: dict[str, dict[str, str]] = {}

    def headers(self, name: str) -> dict[str, str]:
        if name not in self.tokens:
            r = self.app.test_client().post(f"{API}/security/login", json={
                "username": f"{name}@bench.test", "password": PASSWORD, "provider": "db"})
            self.tokens[name] = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
        return self.tokens[name]


# --- screen pop --------------------------------------------------------------------------
def screen_pop_bench(bench: App, engine: Any, queries: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    with engine.connect() as conn:  # numbers of customers nobody owns: every agent sees them
        phones = list(conn.execute(
            select(record_keys.c.value).join(records, records.c.id == record_keys.c.record_id)
            .where(record_keys.c.field == "phone", records.c.owner_id.is_(None),
                   records.c.id % 997 == 0).limit(5000)).scalars())
    client = bench.app.test_client()
    h = bench.headers("agent0")

    def forms(e164: str) -> str:
        local = "0" + e164[3:]
        return rng.choice([e164, local, f"{local[:4]} {local[4:7]} {local[7:]}"])

    pops, trivial, known = [], [], 0
    for i in range(queries + 20):
        number = forms(rng.choice(phones)) if rng.random() < 0.8 else \
            f"09{rng.randrange(10**8):08d}"
        t0 = time.perf_counter()
        r = client.get(f"{API}/screen-pop", query_string={"number": number}, headers=h)
        t1 = time.perf_counter()
        assert r.status_code == 200, r.get_data(as_text=True)
        r2 = client.get(f"{API}/agents/me/status", headers=h)
        t2 = time.perf_counter()
        assert r2.status_code == 200
        if i >= 20:  # warm-up
            pops.append((t1 - t0) * 1000)
            trivial.append((t2 - t1) * 1000)
            known += r.get_json()["known"]
    out = {"pop_p50": pct(pops, 50), "pop_p95": pct(pops, 95),
           "trivial_p50": pct(trivial, 50), "trivial_p95": pct(trivial, 95),
           "known_share": known / len(pops), "queries": len(pops)}
    out["ratio_p50"] = out["pop_p50"] / out["trivial_p50"]
    out["ratio_p95"] = out["pop_p95"] / out["trivial_p95"]
    log(f"screen pop     p50 {out['pop_p50']:7.2f} ms  p95 {out['pop_p95']:7.2f} ms  "
        f"({out['known_share']:.0%} known callers, {len(pops)} queries)")
    log(f"trivial (me)   p50 {out['trivial_p50']:7.2f} ms  p95 {out['trivial_p95']:7.2f} ms")
    log(f"ratio          p50 {out['ratio_p50']:.2f}x  p95 {out['ratio_p95']:.2f}x")
    return out


# --- concurrent calls --------------------------------------------------------------------
class CallRun:
    def __init__(self, bench: App, engine: Any, calls: int, seed: int):
        self.bench, self.engine, self.calls = bench, engine, calls
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.posted = 0
        self.duplicates_sent = 0
        self.duplicates_seen = 0
        self.double_holds = 0
        self.stop = threading.Event()
        self.event_ids: set[str] = set()
        # In-process requests, but no more at once than the server has threads.
        self.server = threading.BoundedSemaphore(SERVER_THREADS)

    def post(self, client: Any, headers: dict[str, str], event: dict[str, Any],
             again: bool = False) -> dict[str, Any]:
        t0 = time.perf_counter()
        with self.server:
            r = client.post(f"{API}/telephony/sim/events", json=event, headers=headers)
        dt = (time.perf_counter() - t0) * 1000
        body = r.get_json(silent=True) or {}
        with self.lock:
            self.latencies.append(dt)
            self.posted += 1
            self.event_ids.add(event["event_id"])
            if r.status_code != 200:
                self.failures.append(f"{event['event']} {event['call_id']}: "
                                     f"{r.status_code} {body}")
            if body.get("duplicate"):
                self.duplicates_seen += 1
        if again:
            with self.lock:
                self.duplicates_sent += 1
            self.post(client, headers, event)
        return body

    def caller(self, n: int, known: list[str]) -> None:
        rng = random.Random(n)
        client = self.bench.app.test_client()
        h = self.bench.headers("supervisor")
        call_id = f"bench-{n}"
        number = rng.choice(known) if n % 2 else f"+8493{n:07d}"
        dup = rng.random() < 0.1
        body = self.post(client, h, {"event": "call.incoming", "call_id": call_id,
                                     "from": number, "to": "19001234",
                                     "event_id": f"{call_id}-in"}, dup)
        if body.get("actions") and body["actions"][-1]["type"] == "menu":
            self.post(client, h, {"event": "call.digits", "call_id": call_id,
                                  "digits": rng.choice("12"), "event_id": f"{call_id}-d"},
                      rng.random() < 0.1)
        if rng.random() < 0.1:  # hangs up while waiting (or just as it is answered)
            time.sleep(rng.uniform(0.5, 3.0))
            self.post(client, h, {"event": "call.ended", "call_id": call_id,
                                  "cause": "caller hung up", "event_id": f"{call_id}-hup"})

    def agent(self, n: int) -> None:
        """An agent's browser: it hears `screen_pop` over the app's event stream (the SSE
        broker, as `GET /agents/me/events` serves it), answers, talks, hangs up; when the
        platform paused it (an offer it was too slow for), it goes ready again."""
        rng = random.Random(1000 + n)
        name = f"agent{n}"
        uid, ext = self.bench.users[name]
        client = self.bench.app.test_client()
        h = self.bench.headers(name)
        broker = self.bench.app.extensions["callboard_events"]
        stream = broker.stream(uid, keepalive=0.5)
        next(stream)  # subscribed
        with self.server:
            client.post(f"{API}/agents/me/status", json={"status": "ready"}, headers=h)
        talking = False
        for frame in stream:
            if self.stop.is_set():
                break
            if not frame.startswith("event: screen_pop"):
                if frame.startswith(": keepalive"):
                    with self.server:
                        me = client.get(f"{API}/agents/me/status", headers=h).get_json()
                    if me.get("status") == "paused":
                        with self.server:
                            client.post(f"{API}/agents/me/status", json={"status": "ready"},
                                        headers=h)
                continue
            if talking:
                with self.lock:
                    self.double_holds += 1
            call_id = json.loads(frame.split("data: ", 1)[1])["call"]["call_id"]
            talking = True
            body = self.post(client, h, {"event": "call.answered", "call_id": call_id,
                                         "agent": ext, "event_id": f"{call_id}-ans-{ext}"},
                             rng.random() < 0.1)
            talk = rng.uniform(0.2, 1.0)
            time.sleep(talk)
            if not body.get("ignored"):
                self.post(client, h, {"event": "call.ended", "call_id": call_id,
                                      "duration": round(talk * 60), "event_id":
                                      f"{call_id}-end", "cause": "normal"},
                          rng.random() < 0.1)
            talking = False
        stream.close()

    def run(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            known = list(conn.execute(select(record_keys.c.value).where(
                record_keys.c.field == "phone").limit(2000)).scalars())
        self.bench.headers("supervisor")
        for n in range(AGENTS):
            self.bench.headers(f"agent{n}")
        agents = [threading.Thread(target=self.agent, args=(n,)) for n in range(AGENTS)]
        for t in agents:
            t.start()
        t0 = time.perf_counter()
        callers = [threading.Thread(target=self.caller, args=(n, known))
                   for n in range(self.calls)]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
        t_events = time.perf_counter() - t0
        deadline = time.monotonic() + 600
        open_calls = -1
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                open_calls = conn.execute(select(call_sessions.c.call_id).where(
                    call_sessions.c.state != "ended")).all()
            if not open_calls:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        self.stop.set()
        for t in agents:
            t.join()
        return self.check(elapsed, t_events, len(open_calls or []))

    def check(self, elapsed: float, t_events: float, still_open: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            sessions = conn.execute(select(call_sessions)).all()
            logged = conn.execute(select(records.c.data).where(
                records.c.entity == "call")).scalars().all()
            stored_ids = set(conn.execute(select(call_events.c.event_id)).scalars())
        by_result: dict[str, int] = {}
        for d in logged:
            by_result[d.get("result") or "-"] = by_result.get(d.get("result") or "-", 0) + 1
        overlaps = 0
        per_agent: dict[int, list[tuple[datetime, datetime]]] = {}
        for s in sessions:
            if s.agent_id and s.answered_at and s.ended_at:
                per_agent.setdefault(s.agent_id, []).append((s.answered_at, s.ended_at))
        for spans in per_agent.values():
            spans.sort()
            overlaps += sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
        waits = [(s.answered_at - s.enqueued_at).total_seconds() for s in sessions
                 if s.answered_at and s.enqueued_at]
        out = {
            "calls": self.calls, "sessions": len(sessions), "logged": len(logged),
            "results": by_result, "events_posted": self.posted,
            "failures": len(self.failures), "lost_event_ids": len(self.event_ids - stored_ids),
            "duplicates_sent": self.duplicates_sent, "duplicates_ignored": self.duplicates_seen,
            "double_holds_seen": self.double_holds, "overlapping_answers": overlaps,
            "still_open": still_open, "elapsed_s": elapsed, "events_phase_s": t_events,
            "event_p50": pct(self.latencies, 50), "event_p95": pct(self.latencies, 95),
            "wait_p50": pct(waits, 50) if waits else None,
            "wait_p95": pct(waits, 95) if waits else None,
        }
        log(f"calls: {self.calls} callers, {len(sessions)} sessions, {len(logged)} call "
            f"records, results {by_result}")
        log(f"events: {self.posted} posted ({self.duplicates_sent} sent twice, "
            f"{self.duplicates_seen} answered as duplicates), {len(self.failures)} failed, "
            f"{out['lost_event_ids']} event ids missing from the database")
        log(f"event latency  p50 {out['event_p50']:7.1f} ms  p95 {out['event_p95']:7.1f} ms")
        if waits:
            log(f"queue wait     p50 {out['wait_p50']:7.1f} s   p95 {out['wait_p95']:7.1f} s")
        log(f"double offers: screen pops reaching an agent during its call "
            f"{self.double_holds}, overlapping answered calls per agent {overlaps}; "
            f"calls not ended {still_open}")
        log(f"all calls done in {elapsed:.1f} s (callers' events sent in {t_events:.1f} s)")
        for f in self.failures[:5]:
            log(f"  failure: {f}")
        return out


def run(kind: str, args: argparse.Namespace) -> None:
    log(f"\n==== {kind}: {args.rows:,} customers, {args.queries} screen pops, "
        f"{args.calls} concurrent calls ====")
    t_all = time.perf_counter()
    with fresh_database(kind, args.data_dir, False) as engine, \
            tempfile.TemporaryDirectory(prefix="callboard-bench-app-") as data_dir:
        bench = App(engine, Path(data_dir))
        if args.rows:
            bulk_load(engine, bench.tenant, Generator(bench.tenant, args.seed), args.rows)
        screen_pop_bench(bench, engine, args.queries, args.seed)
        if args.calls:
            CallRun(bench, engine, args.calls, args.seed).run()
        stop_ticker(bench.app)
        bench.app.extensions["callboard"].engine.dispose()
    log(f"==== {kind} done in {time.perf_counter() - t_all:.1f} s ====")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--rows", type=int, default=1_000_000, help="customers to bulk-load")
    ap.add_argument("--queries", type=int, default=300, help="measured screen pops")
    ap.add_argument("--calls", type=int, default=200, help="concurrent simulated calls")
    ap.add_argument("--data-dir", help="folder for the SQLite file (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=20260101)
    args = ap.parse_args(argv)
    log(f"bench_telephony  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
        f"python {stdlib_platform.python_version()}  {os.cpu_count()} CPUs  "
        f"{stdlib_platform.platform()}")
    log("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(kind, args)


if __name__ == "__main__":
    main()
