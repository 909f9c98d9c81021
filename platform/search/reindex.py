"""Rebuilding a tenant's search index: the function behind `callboard search reindex`
and the jobs package's reindex job."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from callboard.engine.tenancy import Tenant, TenantStore

from .indexing import Progress, install


def reindex_tenant(engine: Engine, tenant: Tenant | int | str, data_dir: Path,
                   progress: Progress | None = None) -> dict[str, int]:
    """Rebuild the index of `tenant` (a Tenant, id or slug) under `data_dir` from its
    records; `progress(done, total)` is called after each batch. Returns {"indexed": N}."""
    if not isinstance(tenant, Tenant):
        tenant = TenantStore(engine).get(tenant)
    indexed = install(engine, data_dir).reindex(tenant, progress)
    return {"indexed": indexed}


def reindex_job(ctx: Any) -> dict[str, int]:
    """The reindex job kind: `ctx` is the jobs package's JobContext (engine, tenant,
    data_dir, progress(fraction)). Register it as "callboard.search.reindex:reindex_job"."""
    return reindex_tenant(ctx.engine, ctx.tenant, ctx.data_dir,
                          progress=lambda done, total: ctx.progress(done / max(total, 1)))
