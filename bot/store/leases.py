"""Leases: how replicas share due rows (targets to check, outbox rows to deliver, digests
to write).

A replica claims due rows in ONE atomic ``UPDATE … WHERE id IN (SELECT … LIMIT n)``
that writes its name and the lease's end on them. On PostgreSQL the inner SELECT
takes ``FOR UPDATE SKIP LOCKED``, so replicas claiming at once take different rows;
on SQLite (one process) a single UPDATE statement is atomic as it is. A row whose
lease ran out (its replica died) is due again for anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.store.db import is_postgresql
from bot.store.models import DigestRow, Outbox, TargetRow

__all__ = ["LEASE_COLUMNS", "LeasePolicy", "claim_due"]

#: The (owner, until) columns of each leased table.
LEASE_COLUMNS: Mapping[type[Any], tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]]] = {
    TargetRow: (TargetRow.lease_owner, TargetRow.lease_until),
    Outbox: (Outbox.claimed_by, Outbox.claimed_until),
    DigestRow: (DigestRow.lease_owner, DigestRow.lease_until),
}


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """How long a claim lasts, in seconds: longer than the work it covers (a batch of
    checks; one Slack post with its retries), short enough that a dead replica's work
    is soon taken over. The defaults are the bot's; ``for_interval`` fits them to a
    poll interval."""

    targets: float = 60.0
    outbox: float = 120.0

    @classmethod
    def for_interval(cls, interval: float, override: float | None = None) -> LeasePolicy:
        """Leases for a poll interval: a target's within 10..60 s of it, an outbox row's
        within 30..120 s of two. ``override`` (LEASE_SECONDS, for tests) sets both."""
        if override is not None:
            return cls(targets=override, outbox=override)
        default = cls()
        return cls(
            targets=max(10.0, min(default.targets, interval)),
            outbox=max(30.0, min(default.outbox, 2 * interval)),
        )


def claim_due(
    session: Session,
    table: type[TargetRow] | type[Outbox] | type[DigestRow],
    *,
    due: Sequence[ColumnElement[bool]],
    now: datetime,
    lease: float,
    owner: str,
    limit: int,
    order_by: Sequence[Any],
    also: Mapping[str, Any] | None = None,
    returning: Sequence[Any] | None = None,
) -> list[Row[Any]]:
    """Lease up to ``limit`` rows of ``table`` that are ``due`` and not held (no lease,
    or one that ran out before ``now``) to ``owner`` until ``now + lease``, in one
    atomic UPDATE; ``also`` sets more columns on them. Returns the ``returning``
    columns (default: the ids) of the rows claimed, in no particular order."""
    owner_column, until_column = LEASE_COLUMNS[table]
    free = or_(until_column.is_(None), until_column < now)
    picked = select(table.id).where(*due, free).order_by(*order_by).limit(limit)
    if is_postgresql(session):
        picked = picked.with_for_update(skip_locked=True)
    values = {
        owner_column.key: owner,
        until_column.key: now + timedelta(seconds=lease),
        **(also or {}),
    }
    return list(
        session.execute(
            update(table)
            .where(table.id.in_(picked.scalar_subquery()))
            .values(values)
            .returning(*(returning or (table.id,)))
        ).all()
    )
