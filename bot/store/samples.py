"""The samples table: which rows are one (group, mark)'s, their latest values, and
pruning old ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from bot.store.models import SampleRow

__all__ = ["of_target", "prune", "recent"]


def of_target(group_id: str, mark: int | None) -> ColumnElement[bool]:
    """The samples of ``group_id`` with ``mark`` (None: its unmarked count)."""
    mark_is: Any = SampleRow.mark.is_(None) if mark is None else SampleRow.mark == mark
    return (SampleRow.group_id == group_id) & mark_is


def recent(session: Session, group_id: str, mark: int | None, *, limit: int) -> list[int | None]:
    """The values of the target's latest ``limit`` samples, newest first (None: a failed
    check); one index range scan (group_id, mark, taken_at)."""
    return list(
        session.scalars(
            select(SampleRow.value)
            .where(of_target(group_id, mark))
            .order_by(SampleRow.taken_at.desc())
            .limit(limit)
        ).all()
    )


def prune(session: Session, before: datetime) -> int:
    """Delete the samples taken before ``before``; returns how many."""
    result = session.execute(delete(SampleRow).where(SampleRow.taken_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
