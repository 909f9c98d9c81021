"""An import killed half-way (a real `callboard worker` process, SIGKILLed) and run again
creates no duplicate and loses no row, on SQLite and PostgreSQL, through real Redis/RQ."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, func, select

from callboard.engine.access import Actor
from callboard.engine.settings import Settings
from callboard.engine.tables import import_rows, jobs, records
from callboard.engine.tenancy import Tenant
from callboard.jobs.runner import create_job, dispatch, get_job, resume
from tests.conftest import children, need

REDIS_URL = os.environ.get("CALLBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROWS, BATCH = 3000, 100


@pytest.fixture
def redis_conn():
    from redis import Redis

    conn = Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except Exception:
        need(f"Redis is not reachable at {REDIS_URL}")
    return conn


def _file(path: Path) -> Path:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("customers")
    ws.append(["name", "phone", "account_no"])
    for i in range(ROWS):
        ws.append([f"Khách {i}", f"09{i:08d}", f"{20_000_000_000 + i}"])
    wb.save(path)
    return path


def _count(engine: Engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_killed_worker_then_resume_no_duplicate_nothing_lost(
        engine: Engine, water: Tenant, people: dict[str, Actor], tmp_path: Path,
        redis_conn) -> None:
    queue = f"test-{uuid.uuid4().hex[:10]}"
    settings = Settings(tmp_path / "data", str(engine.url.render_as_string(
        hide_password=False)), REDIS_URL, "test")
    path = _file(tmp_path / "big.xlsx")
    job = create_job(engine, water.id, people["owner"].user_id, "import", {
        "entity": "customer", "path": str(path), "name": path.name, "batch_size": BATCH})
    dispatch(settings, job, engine=engine, queue=queue)
    assert get_job(engine, water.id, job)["status"] == "queued"
    env = {**os.environ, "CALLBOARD_REDIS_URL": REDIS_URL,
           "CALLBOARD_DATA_DIR": str(tmp_path / "data"),
           "CALLBOARD_DATABASE_URL": settings.database_url}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from callboard.cli import main; main()", "worker",
         "--queue", queue, "--burst"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while _count(engine, import_rows, import_rows.c.job_id == job) < 5 * BATCH:
            assert worker.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.02)
        # RQ's work horse runs in a session of its own: kill it and the worker, mid-import.
        for pid in [*children(worker.pid), worker.pid]:
            os.kill(pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            for pid in [*children(worker.pid), worker.pid]:
                os.kill(pid, signal.SIGKILL)
            worker.wait(10)
    done = _count(engine, import_rows, import_rows.c.job_id == job)
    live = _count(engine, records, records.c.entity == "customer",
                  records.c.deleted_at.is_(None))
    assert 0 < done < ROWS, "the import was not interrupted half-way"
    assert live == done and done % BATCH == 0  # whole batches, each with its ledger rows
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.status).where(jobs.c.id == job)).scalar_one() \
            == "running"

    resume(settings, water.id, job, engine=engine, queue=queue)
    again = subprocess.run(  # RQ's forking worker again: its work horse forks the helper
        [sys.executable, "-c", "from callboard.cli import main; main()", "worker",
         "--queue", queue, "--burst"], env=env, timeout=180, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    finished = get_job(engine, water.id, job)
    assert finished["status"] == "done", finished
    assert finished["result"]["parallel"] is True
    assert (finished["result"]["created"], finished["result"]["failed"]) == (ROWS, 0)
    assert _count(engine, records, records.c.entity == "customer",
                  records.c.deleted_at.is_(None)) == ROWS
    assert _count(engine, import_rows, import_rows.c.job_id == job) == ROWS
    with engine.connect() as conn:
        phones = conn.execute(select(func.count(func.distinct(records.c.title)))
                              .where(records.c.entity == "customer")).scalar_one()
    assert phones == ROWS  # every name once: no row twice, none lost
