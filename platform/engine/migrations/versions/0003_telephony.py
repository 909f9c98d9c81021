"""Telephony: call sessions, queue entries, provider event ids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_sessions",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=16), server_default="inbound",
                  nullable=False),
        sa.Column("from_number", sa.String(length=64), nullable=True),
        sa.Column("to_number", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ivr_tree", sa.String(length=64), nullable=True),
        sa.Column("ivr_state", Json, nullable=True),
        sa.Column("clock_offset", sa.Float(), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="1", nullable=False),
        sa.Column("enqueued_at", Stamp, nullable=True),
        sa.Column("max_wait", sa.Float(), nullable=True),
        sa.Column("offered_to", sa.Integer(), nullable=True),
        sa.Column("offered_at", Stamp, nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", Stamp, nullable=True),
        sa.Column("ended_at", Stamp, nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("call_record_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_sessions")),
        sa.UniqueConstraint("tenant_id", "call_id", name="uq_call_sessions_tenant_call"),
    )
    op.create_index("ix_call_sessions_waiting", "call_sessions",
                    ["tenant_id", "state", "queue", "priority", "enqueued_at"])
    op.create_index("ix_call_sessions_queue_time", "call_sessions",
                    ["tenant_id", "queue", "enqueued_at"])
    op.create_index("ix_call_sessions_offered", "call_sessions",
                    ["tenant_id", "offered_to", "state"])
    op.create_table(
        "call_events",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("received_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_call_events_tenant_event"),
    )


def downgrade() -> None:
    op.drop_table("call_events")
    op.drop_index("ix_call_sessions_offered", table_name="call_sessions")
    op.drop_index("ix_call_sessions_queue_time", table_name="call_sessions")
    op.drop_index("ix_call_sessions_waiting", table_name="call_sessions")
    op.drop_table("call_sessions")
