"""Agent status on members, and round-robin assignment cursors per department.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16),
                                      server_default="offline", nullable=False))
        batch_op.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "assignment_cursors",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "department", name=op.f("pk_assignment_cursors")),
    )


def downgrade() -> None:
    op.drop_table("assignment_cursors")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("status_at")
        batch_op.drop_column("status")
