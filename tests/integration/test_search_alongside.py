"""A bulk drain of the search index split over two processes: the parent and a forked side
process each write half of the documents as a segment of their own, committed together in
one index commit. The older documents of keys the index already holds, and documents of
records that are gone, are deleted by the parent (the writer lock's holder); a side
process that dies costs time, never a document."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine
from whoosh import index

from callboard.engine.access import Actor
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant
from callboard.io.importer import import_file
from callboard.io.ledger import revert
from callboard.jobs.runner import create_job
from callboard.search.indexing import ALONGSIDE_FROM, SearchIndexer, install
from callboard.search.kb import search_records
from callboard.workflows.hooks import records_service

ROWS = ALONGSIDE_FROM + 400

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="a side process is forked only on Linux")


@pytest.fixture
def svc(engine: Engine, water: Tenant, people: dict[str, Actor]) -> RecordService:
    return records_service(engine, water)


@pytest.fixture
def indexer(engine: Engine, tmp_path: Path) -> SearchIndexer:
    indexer = install(engine, tmp_path / "data")
    # split even if a thread another test left behind makes this process look unsafe to
    # fork (the threads of this suite hold no lock the side process takes)
    indexer.backend.fork = True
    return indexer


def customers(path: Path, rows: int, first: int = 0, name: str = "Khách") -> Path:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(["name", "phone"])
    for i in range(first, first + rows):
        ws.append([f"{name} Số{i}", f"09{i:08d}"])
    wb.save(path)
    return path


def segments(indexer: SearchIndexer, tenant: Tenant) -> list[int]:
    """The document count of each segment of the tenant's record index, deletions included."""
    ix = index.open_dir(str(indexer.backend.path(tenant.id) / "records"))
    return [s.doc_count_all() for s in ix._segments()]


def live_docs(indexer: SearchIndexer, tenant: Tenant) -> int:
    ix = index.open_dir(str(indexer.backend.path(tenant.id) / "records"))
    with ix.reader() as reader:
        return reader.doc_count()


def ids(indexer: SearchIndexer, svc: RecordService, actor: Actor, text: str) -> list[int]:
    return [i["id"] for i in search_records(indexer, svc, actor, text)["items"]]


def import_rows(svc: RecordService, actor: Actor, path: Path, **kw: object) -> dict:
    job = create_job(svc.engine, svc.tenant.id, 1, "import", {"entity": "customer"})
    return import_file(svc, actor, "customer", path, job_id=job, parallel=False, **kw)


def test_a_large_drain_is_written_by_two_processes_in_one_commit(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor],
        water: Tenant, tmp_path: Path) -> None:
    owner = people["owner"]
    svc.create(owner, "customer", {"name": "Khách đầu tiên"})
    before = segments(indexer, water)
    result = import_rows(svc, owner, customers(tmp_path / "c.xlsx", ROWS))
    assert result["created"] == ROWS and indexer.pending(water.id) == 0
    new = segments(indexer, water)[len(before):]
    assert sorted(new) == [ROWS // 2, ROWS // 2]      # a segment per process
    assert live_docs(indexer, water) == ROWS + 1
    for i in (0, ROWS // 2 - 1, ROWS // 2, ROWS - 1):  # from both halves
        assert len(ids(indexer, svc, owner, f"09{i:08d}")) == 1, i
        assert len(ids(indexer, svc, owner, f"so{i}")) == 1, i


def test_documents_the_index_holds_are_replaced_not_doubled(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor],
        water: Tenant, tmp_path: Path) -> None:
    owner = people["owner"]
    import_rows(svc, owner, customers(tmp_path / "a.xlsx", ROWS))
    assert live_docs(indexer, water) == ROWS
    # an upsert by phone: the first ROWS rows update (their documents are in the index,
    # in both halves of the next drain), 600 more are new
    result = import_rows(svc, owner, customers(tmp_path / "b.xlsx", ROWS + 600, name="Đổi"),
                         mode="upsert", key="phone")
    assert (result["updated"], result["created"]) == (ROWS, 600)
    assert segments(indexer, water)[-2:] == [(ROWS + 600) // 2] * 2   # both halves apart
    assert live_docs(indexer, water) == ROWS + 600   # replaced, not doubled
    for i in (0, ROWS - 1, ROWS + 599):
        [rid] = ids(indexer, svc, owner, f"09{i:08d}")
        assert ids(indexer, svc, owner, f"doi so{i}") == [rid]
        assert ids(indexer, svc, owner, f"khach so{i}") == []


def test_deletions_are_left_to_the_parent(svc: RecordService, indexer: SearchIndexer,
                                   people: dict[str, Actor], water: Tenant,
                                   tmp_path: Path) -> None:
    owner = people["owner"]
    job = create_job(svc.engine, water.id, 1, "import", {"entity": "customer"})
    import_file(svc, owner, "customer", customers(tmp_path / "c.xlsx", ROWS), job_id=job,
                parallel=False)
    assert live_docs(indexer, water) == ROWS
    assert revert(svc, owner, job, "customer")["removed"] == ROWS
    assert indexer.pending(water.id) == 0
    assert live_docs(indexer, water) == 0
    assert ids(indexer, svc, owner, f"09{ROWS - 1:08d}") == []


def test_a_side_process_that_dies_loses_no_document(
        svc: RecordService, indexer: SearchIndexer, people: dict[str, Actor],
        water: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    owner = people["owner"]
    parent = os.getpid()
    write_all = SearchIndexer._write_all

    def die_in_the_side_process(self: SearchIndexer, *args: object, **kw: object) -> None:
        if os.getpid() != parent:
            os._exit(9)                                # killed half-way, as by the OOM killer
        write_all(self, *args, **kw)

    monkeypatch.setattr(SearchIndexer, "_write_all", die_in_the_side_process)
    with caplog.at_level(logging.WARNING, logger="callboard.search.whoosh_alongside"):
        result = import_rows(svc, owner, customers(tmp_path / "c.xlsx", ROWS))
    assert result["created"] == ROWS and indexer.pending(water.id) == 0
    assert "exit code 9" in caplog.text
    assert live_docs(indexer, water) == ROWS           # the parent wrote the side's half
    assert segments(indexer, water) == [ROWS // 2, ROWS // 2]
    assert len(ids(indexer, svc, owner, f"09{ROWS - 1:08d}")) == 1


def test_a_rebuild_is_split_too(svc: RecordService, indexer: SearchIndexer,
                                people: dict[str, Actor], water: Tenant,
                                tmp_path: Path) -> None:
    owner = people["owner"]
    import_rows(svc, owner, customers(tmp_path / "c.xlsx", ROWS))
    svc.update(owner, "customer", ids(indexer, svc, owner, "0900000000")[0],
               {"name": "Khách Đầu"})
    seen: list[tuple[int, int]] = []
    assert indexer.reindex(water, lambda done, total: seen.append((done, total))) == ROWS
    assert segments(indexer, water) == [ROWS // 2, ROWS // 2]   # the old ones dropped
    assert live_docs(indexer, water) == ROWS
    assert seen[-1] == (ROWS, ROWS) and seen == sorted(seen)
    assert len(ids(indexer, svc, owner, "khach dau")) == 1
    assert len(ids(indexer, svc, owner, f"09{ROWS - 1:08d}")) == 1
