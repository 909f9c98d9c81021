"""Shared fixtures: a real database (SQLite file and PostgreSQL), tenants, members.

Tests that take `engine` run once on SQLite and once on PostgreSQL. When PostgreSQL (or
Redis, or Chromium) is not reachable those runs skip with the reason, unless
CALLBOARD_REQUIRE_SERVICES=1 (CI sets it), which turns the skip into a failure.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from callboard.engine import schema
from callboard.engine.access import Actor
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.tenancy import Tenant, TenantStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
PG_URL = os.environ.get("CALLBOARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE = os.environ.get("CALLBOARD_REQUIRE_SERVICES") == "1"


def need(reason: str) -> None:
    """Skip for want of a service, or fail when CI requires every service."""
    if REQUIRE:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux: read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pg_admin() -> Engine | None:
    try:
        eng = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        return eng
    except Exception:
        return None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    admin = _pg_admin()
    if admin is None:
        need(f"PostgreSQL is not reachable at {PG_URL}")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database."""
    eng = connect(db_url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> TenantStore:
    return TenantStore(engine)


@pytest.fixture
def water(store: TenantStore) -> Tenant:
    """The demo water utility tenant, from config/."""
    return store.create("water", None, BundleSource.from_dir(CONFIG))


@pytest.fixture
def people(store: TenantStore, water: Tenant) -> dict[str, Actor]:
    """Members of every role in the water tenant: team a (agent, agent2, supervisor) and
    team b (agent_b), plus owner and admin."""
    spec = [(1, "owner", None), (2, "admin", None), (3, "supervisor", "a"), (4, "agent", "a"),
            (5, "agent", "a"), (6, "agent", "b")]
    names = ["owner", "admin", "supervisor", "agent", "agent2", "agent_b"]
    out = {}
    for (uid, role, team), name in zip(spec, names, strict=True):
        store.add_member(water.id, uid, f"{name}@water.test", role, team=team,
                         extension=str(100 + uid))
        out[name] = Actor(water.id, uid, role, team=team, email=f"{name}@water.test")
    return out
