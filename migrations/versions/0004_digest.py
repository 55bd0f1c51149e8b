"""digest: each channel's daily digest (its local time and zone, when it is next due)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:00:00

One row per channel; ``next_due_at`` (UTC) is claimed with a lease like a target, and
``last_sent_for`` (the local date of the last digest written) keeps it to one a day.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sent_for", sa.Date(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_digests_channel_id")),
    )
    op.create_index("ix_digests_next_due_at", "digests", ["next_due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_digests_next_due_at", table_name="digests")
    op.drop_table("digests")
