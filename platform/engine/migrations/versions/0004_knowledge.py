"""Knowledge base and search: attachments, favourites, feedback, view counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", Id, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_record", "attachments", ["tenant_id", "record_id"])
    op.create_table(
        "kb_stats",
        sa.Column("article_id", Id, autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hot", sa.Float(), server_default="0", nullable=False),
        sa.Column("viewed_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_kb_stats")),
    )
    op.create_index("ix_kb_stats_hot", "kb_stats", ["tenant_id", "hot"])
    op.create_table(
        "kb_favorites",
        sa.Column("article_id", Id, autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("article_id", "user_id", name=op.f("pk_kb_favorites")),
    )
    op.create_index("ix_kb_favorites_user", "kb_favorites", ["tenant_id", "user_id"])
    op.create_table(
        "kb_feedback",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("article_id", Id, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_feedback")),
        sa.UniqueConstraint("article_id", "user_id", name="uq_kb_feedback_article_user"),
    )
    op.create_table(
        "search_pending",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_pending")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_search_pending_tenant", "search_pending", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_search_pending_tenant", table_name="search_pending")
    op.drop_table("search_pending")
    op.drop_table("kb_feedback")
    op.drop_index("ix_kb_favorites_user", table_name="kb_favorites")
    op.drop_table("kb_favorites")
    op.drop_index("ix_kb_stats_hot", table_name="kb_stats")
    op.drop_table("kb_stats")
    op.drop_index("ix_attachments_record", table_name="attachments")
    op.drop_table("attachments")
