"""Targets: one row per watched (group, mark), kept in step with the watches, claimed
by one replica at a time for a check, and released one interval on.

A replica claims due targets with a lease (``bot.store.leases.claim_due``), checks
them, then ``complete`` moves each one's ``next_due_at`` on by the interval and
releases it. A replica that dies leaves leases that run out, and another replica
takes those targets over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.checks import Target
from bot.alerts.mapping import to_dt
from bot.store.db import is_postgresql
from bot.store.leases import claim_due
from bot.store.models import NO_MARK, TargetRow, Watch

__all__ = ["SYNC_LOCK", "claim", "complete", "held_by_others", "sync"]

#: pg_advisory_xact_lock key serialising ``sync`` across replicas.
SYNC_LOCK = 0x6F6E6C74  # "onlt"


def sync(sessions: sessionmaker[Session], *, due_at: float) -> None:
    """One target per watched (group, mark): add new ones (due at ``due_at``), drop
    unwatched ones. Paused and deleted watches watch nothing."""
    due = to_dt(due_at)
    with sessions.begin() as session:
        if is_postgresql(session):
            # One replica at a time (until this transaction ends): replicas starting
            # together would otherwise insert the same new targets and deadlock.
            session.execute(text(f"SELECT pg_advisory_xact_lock({SYNC_LOCK})"))
        # In the database: no row of either table comes to Python.
        mark_key = func.coalesce(Watch.mark, NO_MARK)
        watched = select(Watch.group_id, mark_key).where(
            Watch.deleted_at.is_(None), Watch.paused_reason.is_(None)
        )
        session.execute(
            _insert_ignoring_duplicates(session).from_select(
                ["group_id", "mark_key", "next_due_at"],
                watched.add_columns(literal(due, TargetRow.next_due_at.type))
                .where(
                    ~exists().where(
                        TargetRow.group_id == Watch.group_id, TargetRow.mark_key == mark_key
                    )
                )
                .distinct(),
            )
        )
        session.execute(
            delete(TargetRow).where(
                ~exists(
                    watched.where(
                        Watch.group_id == TargetRow.group_id, mark_key == TargetRow.mark_key
                    )
                )
            )
        )


def claim(
    sessions: sessionmaker[Session], *, now: float, owner: str, lease: float, limit: int
) -> list[tuple[int, Target]]:
    """Lease up to ``limit`` due targets (the longest due first) to ``owner`` for
    ``lease`` seconds; their (target id, target) pairs, by id."""
    with sessions.begin() as session:
        rows = claim_due(
            session,
            TargetRow,
            due=[TargetRow.next_due_at <= to_dt(now)],
            now=to_dt(now),
            lease=lease,
            owner=owner,
            limit=limit,
            order_by=[TargetRow.next_due_at, TargetRow.id],
            returning=[TargetRow.id, TargetRow.group_id, TargetRow.mark_key],
        )
    return [
        (target_id, Target(group_id, None if mark_key == NO_MARK else mark_key))
        for target_id, group_id, mark_key in sorted(rows)
    ]


def complete(
    sessions: sessionmaker[Session],
    target_ids: Sequence[int],
    *,
    owner: str,
    next_due: float,
    checked_at: float,
) -> None:
    """Release ``owner``'s leases on these targets; each is next due at ``next_due``."""
    with sessions.begin() as session:
        session.execute(
            update(TargetRow)
            .where(TargetRow.id.in_(target_ids), TargetRow.lease_owner == owner)
            .values(
                next_due_at=to_dt(next_due),
                lease_owner=None,
                lease_until=None,
                last_checked_at=to_dt(checked_at),
            )
        )


def held_by_others(
    sessions: sessionmaker[Session], *, owner: str, now: float, limit: int = 5
) -> list[str]:
    """Up to ``limit`` other replicas holding live leases on targets now."""
    with sessions() as session:
        return list(
            session.scalars(
                select(TargetRow.lease_owner)
                .where(TargetRow.lease_owner != owner, TargetRow.lease_until > to_dt(now))
                .distinct()
                .limit(limit)
            ).all()
        )


def _insert_ignoring_duplicates(session: Session) -> Any:
    """INSERT INTO targets ... ON CONFLICT DO NOTHING: two replicas may add the same
    target at once."""
    dialect = postgresql if is_postgresql(session) else sqlite
    return dialect.insert(TargetRow).on_conflict_do_nothing()
