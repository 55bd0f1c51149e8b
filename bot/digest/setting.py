"""A channel's digest setting, read from the store as ``/online digest`` and
``/online watches`` show it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.digest.schedule import DigestTime
from bot.render.digest import DigestSetting
from bot.store.models import DigestRow

__all__ = ["read_setting"]


def read_setting(session: Session, channel_id: str | None) -> DigestSetting | None:
    """The channel's digest as ``/online digest`` and ``/online watches`` show it."""
    row = session.scalar(select(DigestRow).where(DigestRow.channel_id == channel_id))
    if row is None:
        return None
    return DigestSetting(
        at_text=DigestTime(row.hour, row.minute).text,
        zone=row.zone,
        next_due_at=row.next_due_at.timestamp(),
        created_by=row.created_by,
        last_error=row.last_error,
    )
