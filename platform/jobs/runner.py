"""Background jobs: one row in `jobs` each, run by RQ or inline, the same function either way.

`enqueue(settings, tenant_id, user_id, kind, params)` records a job and either puts it on an
RQ queue (when `Settings.redis_url` is set; `callboard worker` runs it) or runs it at once
and waits for it. A web server (`apart=True`) runs a large inline job in a new process of
its own, as a worker would (`jobs.apart`): the job then has two cores (its helper
processes) and the server's threads keep theirs; anything else runs in this process.
With `wait=False` (a client that asked to be answered at once) such a process is left
running and a thread of the server reaps it.

A job kind is a function `fn(ctx: JobContext) -> dict` registered under a name with
`register(kind, "module:function")`; the dotted target travels with the job, so a worker
process needs no registration of its own. Status, progress, result and error
live in the `jobs` table whichever way the job ran.
"""
from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update

from callboard.engine.access import Actor
from callboard.engine.db import connect
from callboard.engine.errors import NotFound, ServiceError, ValidationFailed
from callboard.engine.records import RecordService
from callboard.engine.settings import Settings
from callboard.engine.tables import jobs, members
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.workflows.hooks import records_service

log = logging.getLogger(__name__)
STATUSES = ("queued", "running", "done", "failed")
DEFAULT_QUEUE = "default"
JOB_TIMEOUT = 6 * 3600  # seconds: a million-row import fits with room to spare
APART_FROM = 2000  # rows of work from which a web server runs an inline job apart

_kinds: dict[str, str] = {}
_sizes: dict[str, str] = {}
_reapers: set[threading.Thread] = set()  # threads waiting for jobs' processes


class QueueUnavailable(ServiceError):
    """Redis is configured but cannot take the job (HTTP 503)."""

    status = 503

_engines: dict[str, Engine] = {}


def register(kind: str, target: str, *, size: str | None = None) -> None:
    """Make `kind` runnable: `target` is "package.module:function" taking a JobContext.
    `size`, "module:function" taking (engine, tenant_id, params): a cheap guess at the rows
    a job of this kind will handle, by which a web server runs a large one apart."""
    for name in (target, size or ":"):
        if ":" not in name:
            raise ValueError(f"job target must be 'module:function', not {name!r}")
    _kinds[kind] = target
    if size:
        _sizes[kind] = size


def kinds() -> dict[str, str]:
    """The registered job kinds and their targets."""
    _builtin()
    return dict(_kinds)


def _builtin() -> None:
    importlib.import_module("callboard.jobs.kinds")  # registers the built-in kinds


@dataclass
class JobContext:
    """What a running job gets: its row, tenant, actor, services and a progress reporter."""

    job_id: int
    kind: str
    params: dict[str, Any]
    engine: Engine
    data_dir: Path
    tenant: Tenant
    actor: Actor
    listeners: tuple[Callable[..., None], ...] = ()
    _last: tuple[float, float, str | None] = field(default=(0.0, 0.0, None), repr=False)

    @cached_property
    def records(self) -> RecordService:
        """The tenant's record service (with the platform's hooks)."""
        return records_service(self.engine, self.tenant, listeners=self.listeners)

    @property
    def folder(self) -> Path:
        """Where this job's files go (created on demand)."""
        return job_folder(self.data_dir, self.tenant.id, self.job_id)

    def path(self, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / name

    def progress(self, fraction: float, *, stage: str | None = None,
                 force: bool = False) -> None:
        """Record progress (0..1) and the stage the job is in (None: its main work), at
        most about twice a second unless `force` or the stage changes."""
        fraction = max(0.0, min(1.0, float(fraction)))
        now = time.monotonic()
        last_at, last_value, last_stage = self._last
        if not force and stage == last_stage and now - last_at < 0.5 \
                and fraction - last_value < 0.05:
            return
        self._last = (now, fraction, stage)
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == self.job_id).values(
                progress=fraction, stage=stage))


def job_folder(data_dir: Path, tenant_id: int, job_id: int) -> Path:
    return Path(data_dir) / "jobs" / str(tenant_id) / str(job_id)


def _now() -> datetime:
    return datetime.now(UTC)


def _engine(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = connect(url)
    return _engines[url]


# -- enqueue ----------------------------------------------------------------------------
def create_job(engine: Engine, tenant_id: int, user_id: int | None, kind: str,
               params: Mapping[str, Any]) -> int:
    """The job's row (status queued), without running it."""
    target = kinds().get(kind)
    if target is None:
        raise ValidationFailed({"kind": [f"no job kind '{kind}'"]})
    with engine.begin() as conn:
        return conn.execute(insert(jobs).values(
            tenant_id=tenant_id, user_id=user_id, kind=kind, status="queued", progress=0.0,
            params={**params, "_target": target}, created_at=_now()
        ).returning(jobs.c.id)).scalar_one()


def enqueue(settings: Settings, tenant_id: int, user_id: int | None, kind: str,
            params: Mapping[str, Any], *, engine: Engine | None = None,
            queue: str = DEFAULT_QUEUE, listeners: tuple[Callable[..., None], ...] = (),
            apart: bool = False, wait: bool = True) -> int:
    """Record a job and start it: on RQ when `settings.redis_url` is set, else inline
    (then `listeners` hear the record changes it makes, as they would from the API; with
    `apart`, a large job runs in a process of its own, where they do not, and which is
    waited for unless `wait` is false)."""
    engine = engine or _engine(settings.database_url)
    job_id = create_job(engine, tenant_id, user_id, kind, params)
    dispatch(settings, job_id, engine=engine, queue=queue, listeners=listeners, apart=apart,
             wait=wait)
    return job_id


def dispatch(settings: Settings, job_id: int, *, engine: Engine | None = None,
             queue: str = DEFAULT_QUEUE, listeners: tuple[Callable[..., None], ...] = (),
             apart: bool = False, wait: bool = True) -> None:
    """Run a recorded job: put it on RQ, or run it here and now (with `apart`, a large one
    in a new process, waited for unless `wait` is false)."""
    engine = engine or _engine(settings.database_url)
    if settings.redis_url:
        from redis import Redis
        from redis.exceptions import RedisError
        from rq import Queue

        url = engine.url.render_as_string(hide_password=False)
        try:
            Queue(queue, connection=Redis.from_url(settings.redis_url)).enqueue(
                "callboard.jobs.runner.execute", job_id, url, str(settings.data_dir),
                job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=7 * 86400)
        except RedisError as e:
            _finish(engine, job_id, "failed", error="the job queue is not reachable")
            raise QueueUnavailable(f"the job queue (Redis) is not reachable: "
                                   f"{str(e).splitlines()[0][:200]}") from None
    elif apart and work_size(engine, job_id) >= APART_FROM:
        run_apart(engine, settings.data_dir, job_id, wait=wait)
    else:
        run(engine, settings.data_dir, job_id, listeners=listeners)


def work_size(engine: Engine, job_id: int) -> int:
    """The rows job `job_id` will handle, as its kind guesses them (0: no guess)."""
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.kind, jobs.c.tenant_id, jobs.c.params).where(
            jobs.c.id == job_id)).first()
    _builtin()
    target = _sizes.get(row.kind) if row is not None else None
    if target is None:
        return 0
    module, _, name = target.partition(":")
    try:
        return int(getattr(importlib.import_module(module), name)(
            engine, row.tenant_id, dict(row.params or {})))
    except Exception:  # no guess: the job runs here and reports its own errors
        log.exception("guessing the size of job %s failed", job_id)
        return 0


def run_apart(engine: Engine, data_dir: Path, job_id: int, *, wait: bool = True) -> None:
    """Run a recorded job in a new process (`python -m callboard.jobs.apart`), as a worker
    runs it, and wait for it; with `wait` false, return at once and let a thread wait. A
    process that dies leaves its job failed, saying so. A process left running is in a
    session of its own: stopping the server (Ctrl+C) does not stop the job."""
    env = {**os.environ, "CALLBOARD_DATABASE_URL": engine.url.render_as_string(
        hide_password=False), "CALLBOARD_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-m", "callboard.jobs.apart", str(job_id)],
                               env=env, start_new_session=not wait)
    if wait:
        _reap(engine, job_id, process)
        return
    reaper = threading.Thread(target=_reap, args=(engine, job_id, process), daemon=True,
                              name=f"job-{job_id}")
    _reapers.add(reaper)
    reaper.start()


def wait_for_reapers(timeout: float | None = None) -> None:
    """Wait until the processes of the jobs left running have ended (and been reaped)."""
    for reaper in list(_reapers):
        reaper.join(timeout)


def _reap(engine: Engine, job_id: int, process: subprocess.Popen) -> None:
    """Wait for the process running job `job_id`; fail the job if it stopped early."""
    try:
        try:
            code: Any = process.wait(timeout=JOB_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = f"stopped after {JOB_TIMEOUT} s"
        except BaseException:  # the waiting side is interrupted: so is the job, as before
            process.kill()
            process.wait()
            raise
        with engine.connect() as conn:
            status = conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
        if status in ("queued", "running"):
            log.error("the process of job %s stopped (exit code %s)", job_id, code)
            _finish(engine, job_id, "failed",
                    error=f"the job's process stopped (exit code {code}); resume it to go on")
    finally:
        _reapers.discard(threading.current_thread())


def resume(settings: Settings, tenant_id: int, job_id: int, *,
           engine: Engine | None = None, queue: str = DEFAULT_QUEUE,
           listeners: tuple[Callable[..., None], ...] = (), apart: bool = False,
           wait: bool = True) -> None:
    """Run an interrupted or failed job again (an import skips the rows it has done)."""
    engine = engine or _engine(settings.database_url)
    job = get_job(engine, tenant_id, job_id)
    if job["status"] == "done":
        raise ValidationFailed({"job": [f"job {job_id} is done; there is nothing to resume"]})
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(
            status="queued", error=None, finished_at=None))
    dispatch(settings, job_id, engine=engine, queue=queue, listeners=listeners, apart=apart,
             wait=wait)


# -- run --------------------------------------------------------------------------------
def execute(job_id: int, database_url: str, data_dir: str) -> dict[str, Any] | None:
    """The RQ entry point: run job `job_id` of the database at `database_url`."""
    engine = _engine(database_url)
    try:  # a worker's writes reach the search index as the web app's do
        from callboard.search.indexing import install
    except ImportError:
        pass
    else:
        install(engine, Path(data_dir))
    return run(engine, Path(data_dir), job_id)


def run(engine: Engine, data_dir: Path, job_id: int, *,
        listeners: tuple[Callable[..., None], ...] = ()) -> dict[str, Any] | None:
    """Run one recorded job to its end; its row tells how it went."""
    with engine.begin() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            log.warning("job %s does not exist", job_id)
            return None
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(
            status="running", started_at=_now(), error=None))
    try:
        tenant = TenantStore(engine).get(row.tenant_id)
        ctx = JobContext(job_id, row.kind, dict(row.params or {}), engine, Path(data_dir),
                         tenant, _actor(engine, row.tenant_id, row.user_id),
                         listeners=listeners)
        target = (row.params or {}).get("_target") or kinds().get(row.kind)
        if not target:
            raise ValidationFailed({"kind": [f"no job kind '{row.kind}'"]})
        module, _, name = target.partition(":")
        result = getattr(importlib.import_module(module), name)(ctx)
    except ServiceError as e:
        _finish(engine, job_id, "failed", error=e.message or type(e).__name__)
        return None
    except Exception as e:  # a bug: recorded for the user, logged with its traceback
        log.exception("job %s (%s) failed", job_id, row.kind)
        _finish(engine, job_id, "failed", error=f"internal error ({type(e).__name__})")
        return None
    _finish(engine, job_id, "done", result=result or {})
    return result


def _finish(engine: Engine, job_id: int, status: str, *, result: dict | None = None,
            error: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "finished_at": _now(), "error": error,
                              "stage": None}
    if status == "done":
        values.update(progress=1.0, result=result)
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def _actor(engine: Engine, tenant_id: int, user_id: int | None) -> Actor:
    """The job's user as an actor; a job without a user (the command line) acts as the
    tenant's owner: it sees the whole tenant and is validated like any user."""
    if user_id is None:
        return Actor(tenant_id, None, "owner")
    with engine.connect() as conn:
        m = conn.execute(select(members).where(members.c.user_id == user_id,
                                               members.c.tenant_id == tenant_id)).first()
    if m is None or not m.active:
        raise NotFound("the user of this job no longer belongs to the tenant")
    return Actor(tenant_id, user_id, m.role, m.team, m.department, m.email)


# -- read -------------------------------------------------------------------------------
def get_job(engine: Engine, tenant_id: int, job_id: int) -> dict[str, Any]:
    """A job of this tenant (NotFound for another tenant's)."""
    if not isinstance(job_id, int) or not 0 < job_id < 2**31:  # the column's range
        raise NotFound(f"no job {job_id}")
    with engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id,
                                              jobs.c.tenant_id == tenant_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return job_dict(row)


def visible_job(engine: Engine, actor: Actor, job_id: int) -> dict[str, Any]:
    """A job the actor may see: its own; a supervisor's team's; any of its tenant's for
    an owner or admin. Another's is a 404, as a record is."""
    job = get_job(engine, actor.tenant_id, job_id)
    if job["user_id"] == actor.user_id or actor.sees_all:
        return job
    if actor.role == "supervisor" and actor.team and job["user_id"] is not None:
        with engine.connect() as conn:
            team = conn.execute(select(members.c.team).where(
                members.c.user_id == job["user_id"],
                members.c.tenant_id == actor.tenant_id)).scalar()
        if team == actor.team:
            return job
    raise NotFound(f"no job {job_id}")


def job_dict(row: Any) -> dict[str, Any]:
    params = {k: v for k, v in (row.params or {}).items() if not k.startswith("_")}
    return {"id": row.id, "kind": row.kind, "status": row.status,
            "progress": round(float(row.progress or 0), 4), "stage": row.stage,
            "result": row.result or {},
            "error": row.error, "params": params, "user_id": row.user_id,
            "tenant_id": row.tenant_id, "created_at": _iso(row.created_at),
            "started_at": _iso(row.started_at), "finished_at": _iso(row.finished_at)}


def job_file(data_dir: Path, job: Mapping[str, Any], name: str | None = None) -> Path:
    """A result file of a finished job: `name`, or its main file (export, rejected rows)."""
    files = list(job["result"].get("files") or [])
    if name is None:
        name = files[0] if files else None
    if not name or name not in files:
        raise NotFound("this job has no such file" if name else "this job has no file")
    path = job_folder(data_dir, job["tenant_id"], job["id"]) / name
    if not path.is_file():
        raise NotFound("the file is gone")
    return path


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
