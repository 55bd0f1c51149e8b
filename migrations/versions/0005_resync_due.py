"""resync_due: whether a target's next check is a resync (it gives way to polled ones)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:00:00

A push-fed target is next due one PUSH_RESYNC_INTERVAL on, to correct its estimate;
a claim takes the targets due by POLL_INTERVAL before those resyncs, so that a wave
of resyncs never makes a polled group's check late.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resync_due", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_column("resync_due")
