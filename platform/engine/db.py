"""Database connections and the dialect-specific SQL the record store needs.

SQLite is the embedded default and PostgreSQL the production database; the differences
between them (JSON access, expression indexes) are kept in this one module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, literal_column, text
from sqlalchemy.sql.elements import ColumnElement

from .model import Field

NUMERIC_TYPES = ("integer", "decimal", "rating")


def connect(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


_INHERITED: list[Engine] = []  # engines a forked process took over from its parent


def own_engine(engine: Engine) -> Engine:
    """In a forked process: an engine of its own for `engine`'s database. The parent's
    pooled connections are the parent's; the inherited engine is kept (never collected
    here, so never closed from here) and left untouched."""
    _INHERITED.append(engine)
    return connect(engine.url.render_as_string(hide_password=False))


def json_field(dialect: str, field: Field | str, ftype: str = "text",
               column: str = "data") -> ColumnElement[Any]:
    """The SQL value of a field inside the JSON column, written exactly as its index is.

    Field names are checked identifiers, so inlining them is safe, and it lets the planner
    match the expression against the expression index.
    """
    name, ftype = (field.name, field.type) if isinstance(field, Field) else (field, ftype)
    if dialect == "postgresql":
        if ftype in NUMERIC_TYPES:
            # Cast only JSON numbers: the index is shared by every tenant's `entity`, and
            # another tenant may keep text in a field of the same name.
            return literal_column(f"(CASE WHEN jsonb_typeof({column} -> '{name}') = 'number' "
                                  f"THEN ({column} ->> '{name}')::numeric END)")
        return literal_column(f"({column} ->> '{name}')")
    return literal_column(f"json_extract({column}, '$.{name}')")


def index_name(entity: str, field: str) -> str:
    return f"ix_rec_{entity}_{field}"[:63]


def ensure_field_index(engine: Engine, entity: str, field: Field) -> bool:
    """Create the expression index of an `index: true` field if it is missing.

    One index per (entity, field) serves every tenant: it leads with tenant_id and is
    partial on the entity, so it stays small and is shared by bundles that mark the same
    field. Returns True when it was created now.
    """
    dialect = engine.dialect.name
    name = index_name(entity, field.name)
    expr = json_field(dialect, field)
    with engine.begin() as conn:
        if dialect == "postgresql":
            exists = conn.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = :n "
                                       "AND schemaname = current_schema()"),
                                  {"n": name}).first()
        else:
            exists = conn.execute(text(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"),
                {"n": name}).first()
        if exists:
            return False
        conn.execute(text(
            f"CREATE INDEX IF NOT EXISTS {name} ON records (tenant_id, {expr}) "
            f"WHERE entity = '{entity}' AND deleted_at IS NULL"))
        if dialect == "postgresql":
            # PostgreSQL keeps no statistics for the expressions of partial indexes, and
            # without them it misjudges how selective a filter is (measured: 638 ms ->
            # 0.7 ms for two combined filters over 1M customers once these exist).
            conn.execute(text(f"CREATE STATISTICS IF NOT EXISTS st{name[2:]} ON {expr} "
                              "FROM records"))
    return True
