"""Search commands: search reindex."""
from __future__ import annotations

import click

from callboard.cli.common import _engine, _settings, _store


@click.group()
def search() -> None:
    """Full-text search indexes (knowledge base and records)."""


@search.command("reindex")
@click.argument("slug")
def search_reindex(slug: str) -> None:
    """Rebuild the search index of tenant SLUG from its records."""
    import time

    from callboard.search.reindex import reindex_tenant

    settings = _settings()
    engine = _engine(settings)
    tenant = _store(settings).get(slug)
    started = time.monotonic()
    result = reindex_tenant(engine, tenant, settings.data_dir)
    click.echo(f"reindexed {result['indexed']} records of tenant {slug} "
               f"in {time.monotonic() - started:.1f}s")
