"""The search index during bulk operations: an import, or the revert of one, notes its
records batch by batch and indexes them once at the end (one index commit, not one per
batch); a search or a single write meanwhile takes on only the newest part of the
backlog; notes left by a process that died are drained later, none lost."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine
from whoosh import index

from callboard.engine.access import Actor
from callboard.engine.db import connect
from callboard.engine.deferral import deferring
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant
from callboard.io.importer import import_file
from callboard.io.ledger import revert
from callboard.jobs.runner import create_job
from callboard.search.indexing import OPPORTUNISTIC, SearchIndexer, install
from callboard.search.kb import search_records
from callboard.workflows.hooks import records_service


@pytest.fixture
def svc(engine: Engine, water: Tenant, people: dict[str, Actor]) -> RecordService:
    return records_service(engine, water)


@pytest.fixture
def indexer(engine: Engine, tmp_path: Path) -> SearchIndexer:
    return install(engine, tmp_path / "data")


def customers(path: Path, rows: int, first: int = 0) -> Path:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(["name", "phone", "email"])
    for i in range(first, first + rows):
        ws.append([f"Khách Số{i}", f"09{i:08d}", f"kh{i}@example.vn"])
    wb.save(path)
    return path


def commits(indexer: SearchIndexer, tenant: Tenant) -> int:
    """How many times the tenant's record index has been committed."""
    return index.open_dir(str(indexer.backend.path(tenant.id) / "records")).latest_generation()


def ids(indexer: SearchIndexer, svc: RecordService, actor: Actor, text: str) -> list[int]:
    return [i["id"] for i in search_records(indexer, svc, actor, text)["items"]]


def test_an_import_is_indexed_once_at_its_end(svc: RecordService, indexer: SearchIndexer,
                                              people: dict[str, Actor], water: Tenant,
                                              tmp_path: Path) -> None:
    owner = people["owner"]
    first = svc.create(owner, "customer", {"name": "Khách đầu tiên", "phone": "0911000000"})
    assert ids(indexer, svc, owner, "dau tien") == [first["id"]]
    before = commits(indexer, water)
    job = create_job(svc.engine, water.id, 1, "import", {"entity": "customer"})
    result = import_file(svc, owner, "customer", customers(tmp_path / "c.xlsx", 1200),
                         job_id=job, batch_size=300, parallel=False)
    assert result["created"] == 1200
    assert commits(indexer, water) == before + 1      # not one commit per batch of 300
    assert indexer.pending(water.id) == 0
    for i in (0, 299, 300, 1199):
        assert len(ids(indexer, svc, owner, f"09{i:08d}")) == 1, i
        assert len(ids(indexer, svc, owner, f"kh{i}@example.vn")) == 1, i

    # documents added as new are replaced, not doubled, when their record changes
    [rid] = ids(indexer, svc, owner, "0900000300")
    svc.update(owner, "customer", rid, {"name": "Khách Đổi Tên"})
    assert ids(indexer, svc, owner, "0900000300") == [rid]
    assert ids(indexer, svc, owner, "doi ten") == [rid]
    assert ids(indexer, svc, owner, "so300") == []

    before = commits(indexer, water)
    revert(svc, owner, job, "customer")               # a bulk operation too
    assert commits(indexer, water) == before + 1
    assert ids(indexer, svc, owner, "so1199") == []
    assert ids(indexer, svc, owner, "dau tien") == [first["id"]]


def test_a_search_during_a_bulk_operation_takes_on_only_the_newest_notes(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor],
        water: Tenant) -> None:
    owner = people["owner"]
    made = OPPORTUNISTIC + 50
    with deferring():
        created = [svc.create(owner, "customer", {"name": f"Hàng loạt {i}"})["id"]
                   for i in range(made)]
        assert indexer.pending(water.id) == made      # noted, not yet indexed
        assert ids(indexer, svc, owner, f"hang loat {made - 1}") == [created[-1]]
        assert indexer.pending(water.id) == made - OPPORTUNISTIC
        unindexed = indexer.backend.search(water.id, "hang loat 0", entities=["customer"])
        assert unindexed.hits == []                   # the oldest wait their turn
    assert indexer.pending(water.id) == 0             # the end of the block drains the rest
    assert ids(indexer, svc, owner, "hang loat 0") == [created[0]]


def _import_then_die(url: str, data_dir: str, tenant_id: int, path: str) -> None:
    """In a forked child: import with the indexer installed, then die before the bulk
    operation's end, as a killed worker would."""
    engine = connect(url)
    try:
        from callboard.engine.tenancy import TenantStore

        install(engine, Path(data_dir))
        tenant = TenantStore(engine).get(tenant_id)
        svc = records_service(engine, tenant)
        with deferring():
            import_file(svc, Actor(tenant_id, 1, "owner", email="owner@water.test"),
                        "customer", Path(path), batch_size=100, parallel=False)
            os._exit(0)
    finally:
        os._exit(1)


def test_notes_of_a_process_that_died_are_drained_later(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor],
        water: Tenant, db_url: str, tmp_path: Path) -> None:
    owner = people["owner"]
    path = customers(tmp_path / "c.xlsx", 300, first=5000)
    child = multiprocessing.get_context("fork").Process(
        target=_import_then_die, args=(db_url, str(indexer.data_dir), water.id, str(path)))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert indexer.pending(water.id) == 300           # the records are in, their notes kept
    assert len(ids(indexer, svc, owner, "0900005299")) == 1   # a search takes the newest
    assert indexer.pending(water.id) == 300 - OPPORTUNISTIC
    assert indexer.drain(water.id)                    # the next bulk drain, or a reindex
    assert indexer.pending(water.id) == 0
    assert len(ids(indexer, svc, owner, "0900005000")) == 1


def test_a_single_write_does_not_pay_for_a_backlog(svc: RecordService,
                                                   indexer: SearchIndexer,
                                                   people: dict[str, Actor],
                                                   water: Tenant) -> None:
    owner = people["owner"]
    backlog = 2 * OPPORTUNISTIC + 10
    with deferring():  # a backlog of notes, as a died import leaves
        for i in range(backlog):
            svc.create(owner, "customer", {"name": f"Tồn đọng {i}"})
        # a write outside the bulk operation (another request) indexes itself at once
        # and takes on a bounded part of the backlog
        token: dict[str, Any] = {}

        def elsewhere() -> None:
            token["id"] = svc.create(owner, "customer", {"name": "Cuộc gọi mới"})["id"]

        import contextvars

        contextvars.Context().run(elsewhere)
        assert indexer.pending(water.id) == backlog + 1 - OPPORTUNISTIC
        hits = [i["id"] for i in search_records(indexer, svc, owner, "cuoc goi moi")["items"]]
        assert hits == [token["id"]]


def _recorder() -> tuple[list[tuple[float, str | None]], Any]:
    seen: list[tuple[float, str | None]] = []

    def progress(fraction: float, *, stage: str | None = None) -> None:
        seen.append((fraction, stage))
    return seen, progress


def test_progress_leaves_room_for_the_indexing(svc: RecordService, indexer: SearchIndexer,
                                                people: dict[str, Actor], water: Tenant,
                                                tmp_path: Path) -> None:
    """A job does not read 100 % while its records are still being indexed: the rows
    fill the first half of the bar, the indexing (stage "indexing") the rest."""
    seen, progress = _recorder()
    import_file(svc, people["owner"], "customer", customers(tmp_path / "c.xlsx", 900),
                batch_size=300, parallel=False, progress=progress)
    rows = [f for f, stage in seen if stage is None]
    indexing = [f for f, stage in seen if stage == "indexing"]
    assert rows and max(rows) <= 0.5
    assert {stage for _, stage in seen} == {None, "indexing"}
    assert seen.index((indexing[0], "indexing")) > seen.index((rows[-1], None))
    assert indexing[0] == 0.5 and indexing[-1] == 1.0 and indexing == sorted(indexing)
    assert len(indexing) >= 3   # it moves while the documents are written, not only at the end
    assert indexer.pending(water.id) == 0


def test_progress_without_follow_up_work_fills_the_bar(engine: Engine, water: Tenant,
                                                       people: dict[str, Actor],
                                                       tmp_path: Path) -> None:
    svc = records_service(engine, water)   # no search indexer on this database
    seen, progress = _recorder()
    import_file(svc, people["owner"], "customer", customers(tmp_path / "c.xlsx", 600),
                batch_size=300, parallel=False, progress=progress)
    assert [f for f, _ in seen] == [0.5, 1.0]
    assert {stage for _, stage in seen} == {None}


def _write_then_die(url: str, data_dir: str, tenant_id: int) -> None:
    """In a forked child: create a customer with the indexer installed and die as soon as
    the write has committed, before any listener ran."""
    engine = connect(url)
    try:
        from callboard.engine.records import on_change
        from callboard.engine.tenancy import TenantStore

        install(engine, Path(data_dir))
        on_change(lambda change: os._exit(0), engine=engine)  # runs before the indexer's
        tenant = TenantStore(engine).get(tenant_id)
        records_service(engine, tenant).create(
            Actor(tenant_id, 1, "owner", email="owner@water.test"), "customer",
            {"name": "Khách Vừa Ghi", "phone": "0977000111"})
    finally:
        os._exit(1)


def test_a_write_whose_process_dies_after_the_commit_is_still_indexed(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor],
        water: Tenant, db_url: str) -> None:
    """The note is written in the record's own transaction, not after it."""
    child = multiprocessing.get_context("fork").Process(
        target=_write_then_die, args=(db_url, str(indexer.data_dir), water.id))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert indexer.pending(water.id) == 1
    found = ids(indexer, svc, people["owner"], "0977000111")   # a search drains it
    assert len(found) == 1 and indexer.pending(water.id) == 0


def test_a_write_that_rolls_back_leaves_no_note(svc: RecordService, indexer: SearchIndexer,
                                                people: dict[str, Actor], water: Tenant
                                                ) -> None:
    with pytest.raises(RuntimeError), svc.transaction() as tx:
        svc.create(people["owner"], "customer", {"name": "Không Lưu", "phone": "0977000222"},
                   conn=tx)
        raise RuntimeError("the caller gives up")
    assert indexer.pending(water.id) == 0
    assert ids(indexer, svc, people["owner"], "0977000222") == []


def test_a_single_write_never_merges_a_bulk_operations_segments(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor], water: Tenant,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven bulk commits of 20 documents (scaled down from 10,000, with the size a light
    commit may merge scaled down too): Whoosh's MERGE_SMALL would rewrite all seven in the
    next commit, a single write's included; only a bulk commit does."""
    from callboard.search import whoosh_backend
    from callboard.search.backend import Document

    monkeypatch.setattr(whoosh_backend, "LIGHT_BELOW", 10)
    n = 10_000_000
    for _ in range(7):
        with indexer.backend.writing(water.id) as batch:
            batch.bulk = True
            for _ in range(20):
                n += 1
                batch.add(Document("customer", n, title=f"Khách {n}"))

    def sizes() -> list[int]:
        ix = index.open_dir(str(indexer.backend.path(water.id) / "records"))
        return [s.doc_count_all() for s in ix._segments()]

    assert sizes() == [20] * 7
    made = svc.create(people["owner"], "customer", {"name": "Khách lẻ"})
    assert sizes() == [20] * 7 + [1]                 # the single write's commit: light
    assert ids(indexer, svc, people["owner"], "khach le") == [made["id"]]
    with indexer.backend.writing(water.id) as batch:
        batch.bulk = True
        batch.add(Document("customer", n + 1, title="Khách cuối"))
    assert len(sizes()) < 8                          # a bulk commit merges them
