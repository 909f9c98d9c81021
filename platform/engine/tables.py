"""The storage schema: one set of tables for every tenant and every entity.

Records keep their fields in a JSON `data` column; side tables keep what must be looked up
fast (normalised keys, links) and what must be kept (activity, bundles, jobs). Alembic
migrations in `migrations/` create these tables; this module is their single description.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER
Json = JSON().with_variant(JSONB(), "postgresql")
Stamp = DateTime(timezone=True)

tenants = Table(
    "tenants", metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("bundle_version", Integer, nullable=False, server_default="0"),
    Column("bundle_digest", String(64)),
    Column("created_at", Stamp, nullable=False),
)

# Every version of every tenant's bundle: the files as text, so any version can be
# exported again or rolled back to.
bundles = Table(
    "bundles", metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("files", Json, nullable=False),
    Column("note", String(500)),
    Column("created_at", Stamp, nullable=False),
    Column("created_by", Integer),
    UniqueConstraint("tenant_id", "version", name="uq_bundles_tenant_version"),
)

# A login (Flask-AppBuilder's ab_user) as a member of one tenant.
members = Table(
    "members", metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("role", String(20), nullable=False),
    Column("team", String(64)),
    Column("department", String(64)),
    Column("extension", String(32)),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # agent status: ready, paused, offline, busy, wrapup (and since when)
    Column("status", String(16), nullable=False, server_default="offline"),
    Column("status_at", Stamp),
    Column("created_at", Stamp, nullable=False),
    Index("ix_members_tenant_team", "tenant_id", "team"),
    Index("ix_members_tenant_extension", "tenant_id", "extension"),
)

records = Table(
    "records", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("entity", String(64), nullable=False),
    Column("title", String(500), nullable=False, server_default=""),
    Column("owner_id", Integer),
    Column("status", String(64)),
    Column("priority", Integer),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("data", Json, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    Column("created_by", Integer),
    Column("updated_by", Integer),
    Column("deleted_at", Stamp),
    Index("ix_records_list", "tenant_id", "entity", "updated_at"),
    Index("ix_records_owner", "tenant_id", "entity", "owner_id"),
    Index("ix_records_status", "tenant_id", "entity", "status"),
)

# Normalised values of phone, e-mail, unique and lookup fields: screen pop, de-duplication,
# upsert and bulk delete read here. `is_unique` rows are unique per tenant, entity, field.
record_keys = Table(
    "record_keys", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("entity", String(64), nullable=False),
    Column("field", String(64), nullable=False),
    Column("value", String(320), nullable=False),
    Column("record_id", Id, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("is_unique", Boolean, nullable=False, server_default=text("false")),
    Index("ix_record_keys_value", "tenant_id", "value"),
    Index("ix_record_keys_record", "record_id"),
    Index("uq_record_keys_unique", "tenant_id", "entity", "field", "value", unique=True,
          sqlite_where=text("is_unique"), postgresql_where=text("is_unique")),
)

# Link and user fields: from a record's field to another record (or to a user when
# `to_entity` is "user"). Related lists and ticket visibility (assignee, watchers) read here.
record_links = Table(
    "record_links", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("from_id", Id, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("from_entity", String(64), nullable=False),
    Column("field", String(64), nullable=False),
    Column("to_entity", String(64), nullable=False),
    Column("to_id", BigInteger, nullable=False),
    Index("ix_record_links_to", "tenant_id", "to_entity", "to_id", "from_entity"),
    Index("ix_record_links_from", "from_id"),
)

activity = Table(
    "activity", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("record_id", Id, nullable=False),
    Column("entity", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor_id", Integer),
    Column("at", Stamp, nullable=False),
    Column("changes", Json),
    Column("comment", Text),
    Index("ix_activity_record", "record_id", "id"),
)

saved_filters = Table(
    "saved_filters", metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("entity", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("filters", Json, nullable=False),
    Column("shared", Boolean, nullable=False, server_default=text("false")),
    Column("team", String(64)),
    Column("created_at", Stamp, nullable=False),
    Index("ix_saved_filters_owner", "tenant_id", "entity", "user_id"),
)

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("user_id", Integer),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("progress", Float, nullable=False, server_default="0"),
    Column("stage", String(32)),  # what a running job is doing now ("indexing"…), or NULL
    Column("params", Json),
    Column("result", Json),
    Column("error", Text),
    Column("created_at", Stamp, nullable=False),
    Column("started_at", Stamp),
    Column("finished_at", Stamp),
    Index("ix_jobs_tenant", "tenant_id", "id"),
)

# Round-robin assignment: who in a department got the last ticket.
assignment_cursors = Table(
    "assignment_cursors", metadata,
    Column("tenant_id", Integer, primary_key=True, autoincrement=False),
    Column("department", String(64), primary_key=True),
    Column("last_user_id", Integer),
    Column("updated_at", Stamp, nullable=False),
)

# --- telephony (call sessions, queue entries, event ids) ---

# One row per call the platform has heard of: where it is (ivr, queued, offered, answered,
# ended, rejected, routed), its IVR state, its place in a queue (priority, enqueued_at),
# whom it was offered to and who answered; the `call` record is its log.
call_sessions = Table(
    "call_sessions", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("call_id", String(128), nullable=False),
    Column("direction", String(16), nullable=False, server_default="inbound"),
    Column("from_number", String(64)),
    Column("to_number", String(64)),
    Column("state", String(16), nullable=False),
    Column("ivr_tree", String(64)),
    Column("ivr_state", Json),
    # seconds added to the clock for this call's IVR (a simulated call's `at`), else NULL
    Column("clock_offset", Float),
    Column("queue", String(64)),
    Column("priority", Integer, nullable=False, server_default="1"),
    Column("enqueued_at", Stamp),
    Column("max_wait", Float),
    Column("offered_to", Integer),
    Column("offered_at", Stamp),
    Column("agent_id", Integer),
    Column("answered_at", Stamp),
    Column("ended_at", Stamp),
    Column("duration", Integer),
    Column("result", String(16)),
    Column("call_record_id", BigInteger),
    Column("customer_id", BigInteger),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    UniqueConstraint("tenant_id", "call_id", name="uq_call_sessions_tenant_call"),
    Index("ix_call_sessions_waiting", "tenant_id", "state", "queue", "priority",
          "enqueued_at"),
    Index("ix_call_sessions_queue_time", "tenant_id", "queue", "enqueued_at"),
    Index("ix_call_sessions_offered", "tenant_id", "offered_to", "state"),
)

# Provider event ids already handled: a repeated `event_id` is ignored.
call_events = Table(
    "call_events", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("call_id", String(128)),
    Column("kind", String(32), nullable=False),
    Column("received_at", Stamp, nullable=False),
    UniqueConstraint("tenant_id", "event_id", name="uq_call_events_tenant_event"),
)

# --- knowledge base and search (attachments, favourites, feedback) ---

# Files attached to any record; `text` is what was extracted for search.
attachments = Table(
    "attachments", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("entity", String(64), nullable=False),
    Column("record_id", Id, nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(128)),
    Column("size", Integer, nullable=False),
    Column("storage_key", String(255), nullable=False),
    Column("text", Text),
    Column("created_at", Stamp, nullable=False),
    Column("created_by", Integer),
    Index("ix_attachments_record", "tenant_id", "record_id"),
)

# Views of a knowledge-base article: the count, and `hot`, the log of the views decayed
# to a common epoch (ordering by it orders by decayed views).
kb_stats = Table(
    "kb_stats", metadata,
    Column("article_id", Id, primary_key=True, autoincrement=False),
    Column("tenant_id", Integer, nullable=False),
    Column("views", Integer, nullable=False, server_default="0"),
    Column("hot", Float, nullable=False, server_default="0"),
    Column("viewed_at", Stamp),
    Index("ix_kb_stats_hot", "tenant_id", "hot"),
)

kb_favorites = Table(
    "kb_favorites", metadata,
    Column("article_id", Id, primary_key=True, autoincrement=False),
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("tenant_id", Integer, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Index("ix_kb_favorites_user", "tenant_id", "user_id"),
)

# One opinion per user and article (the latest counts).
kb_feedback = Table(
    "kb_feedback", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("article_id", Id, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("comment", Text),
    Column("created_at", Stamp, nullable=False),
    UniqueConstraint("article_id", "user_id", name="uq_kb_feedback_article_user"),
)

# Records whose search document must be rewritten: written after each commit, drained
# by whichever process holds the tenant's index writer, so no change is lost.
search_pending = Table(
    "search_pending", metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("entity", String(64), nullable=False),
    Column("record_id", Id, nullable=False),
    Index("ix_search_pending_tenant", "tenant_id", "id"),
    sqlite_autoincrement=True,  # ids never reused: a note is forgotten by its id
)

# --- imports (row ledger for resume and revert) ---

# One row per data row an import has dealt with, written in the same transaction as the
# records of its batch: a resumed import skips the rows found here (no duplicate, nothing
# lost), and a revert removes what was created and restores `before` of what was updated.
# `action`: create, update, failed (then `error` says why), skipped.
import_rows = Table(
    "import_rows", metadata,
    Column("id", Id, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("row_no", Integer, nullable=False),
    Column("record_id", BigInteger),
    Column("action", String(16), nullable=False),
    Column("before", Json),
    Column("error", Text),
    UniqueConstraint("job_id", "row_no", name="uq_import_rows_job_row"),
)
