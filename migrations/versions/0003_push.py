"""push: what Tencent's member-state callbacks tell about each target

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 01:00:00

The estimate (``last_value`` + ``push_delta``), the band within which no watch of
the target changes state (``quiet_low``..``quiet_high``), the last callback, and
the debounced check a callback asked for (``push_due_at``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_value", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("push_delta", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("quiet_low", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("quiet_high", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("push_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_targets_push_due_at", ["push_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_index("ix_targets_push_due_at")
        batch_op.drop_column("push_due_at")
        batch_op.drop_column("last_push_at")
        batch_op.drop_column("quiet_high")
        batch_op.drop_column("quiet_low")
        batch_op.drop_column("push_delta")
        batch_op.drop_column("last_value")
