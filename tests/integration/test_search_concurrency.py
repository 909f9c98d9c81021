"""Several processes, each with several threads, write records at once (as web servers
and job workers do): the tenant's index ends with exactly the live records, none lost,
none duplicated, and opens cleanly."""
from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from whoosh import index

from callboard.engine.access import system_actor
from callboard.engine.db import connect
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.search.backend import Document, IndexBusy
from callboard.search.indexing import install
from callboard.search.whoosh_backend import WhooshBackend
from callboard.workflows.hooks import records_service

PROCESSES, THREADS, EACH = 3, 2, 8


def _writer(url: str, data_dir: str, slug: str, proc: int) -> None:
    """One process: its own engine and indexer, THREADS threads creating and deleting."""
    engine = connect(url)
    tenant = TenantStore(engine).get(slug)
    install(engine, Path(data_dir))
    svc = records_service(engine, tenant)
    actor = system_actor(tenant.id)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for i in range(EACH):
                rec = svc.create(actor, "customer", {"name": f"Khách kh{proc}x{thread}x{i}"})
                if i % 4 == 3:  # every fourth is deleted again
                    svc.delete(actor, "customer", rec["id"])
                elif i % 4 == 2:
                    svc.update(actor, "customer", rec["id"],
                               {"name": f"Khách kh{proc}x{thread}x{i} renamed"})
        except BaseException as e:  # reported to the parent through the exit code
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    if errors:
        raise errors[0]


def test_concurrent_writers_lose_and_corrupt_nothing(db_url: str, engine: Engine,
                                                     water: Tenant, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    indexer = install(engine, data_dir)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(db_url, str(data_dir), water.slug, p))
             for p in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    expected = {f"kh{p}x{t}x{i}" for p in range(PROCESSES) for t in range(THREADS)
                for i in range(EACH) if i % 4 != 3}
    svc = records_service(engine, water)
    live = svc.list(system_actor(water.id), "customer").items
    assert {r["name"].split()[1] for r in live} == expected

    # every live record is in the index exactly once, the deleted ones are gone
    assert indexer.drain(water.id, wait=30.0)
    assert indexer.pending(water.id) == 0
    ix = index.open_dir(str(data_dir / "search" / f"tenant-{water.id}" / "records"))
    with ix.searcher() as s:
        keys = [fields["key"] for fields in s.all_stored_fields()]
        titles = {fields["title"].split()[1] for fields in s.all_stored_fields()}
        assert s.doc_count() == len(live)
    assert sorted(keys) == sorted(f"customer:{r['id']}" for r in live)
    assert titles == expected
    renamed = indexer.backend.search(water.id, "renamed", entities=["customer"], limit=100)
    assert renamed.total == PROCESSES * THREADS * (EACH // 4)
    ix.close()


def _hold_writer(root: str, ready: multiprocessing.synchronize.Event,
                 release: multiprocessing.synchronize.Event) -> None:
    backend = WhooshBackend(Path(root))
    with backend.writing(1, timeout=5.0) as batch:
        batch.add(Document("customer", 1, "held"))
        ready.set()
        release.wait(30)


def test_one_writer_per_tenant_across_processes(tmp_path: Path) -> None:
    """While another process holds a tenant's writer, a writer elsewhere waits, then
    gives up with IndexBusy; another tenant's index is free; once released, it writes."""
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_writer, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        backend = WhooshBackend(tmp_path)
        started = time.monotonic()
        with pytest.raises(IndexBusy), backend.writing(1, timeout=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        backend.index(2, [Document("customer", 2, "other tenant")])   # not blocked
        release.set()
        holder.join(30)
        assert holder.exitcode == 0
        backend.index(1, [Document("customer", 3, "after")])
        assert backend.count(1) == 2 and backend.count(2) == 1
    finally:
        release.set()
        holder.join(30)
