"""The migrations build exactly the schema the code declares, on both databases."""
from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from callboard.engine import schema
from callboard.engine.tables import metadata


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Flask-AppBuilder's tables (ab_*) are declared by it, not in our metadata."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return not str(getattr(table, "name", name) or "").startswith("ab_")


def test_migrated_schema_matches_the_declared_tables(engine: Engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": _ours})
        assert compare_metadata(ctx, metadata) == []


def test_the_job_stage_migration_goes_down_and_up(engine: Engine):
    def columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("jobs")}

    assert "stage" in columns()
    schema.downgrade(engine, "0005")
    assert "stage" not in columns()
    schema.upgrade(engine)
    assert "stage" in columns()
