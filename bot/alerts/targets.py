"""Targets: one row per watched (group, mark), kept in step with the watches, claimed
by one replica at a time for a check, and released one interval on.

A replica claims due targets with a lease (``bot.store.leases.claim_due``), checks
them, then ``complete`` moves each one's ``next_due_at`` on by the interval and
releases it. A replica that dies leaves leases that run out, and another replica
takes those targets over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.checks import Target
from bot.alerts.mapping import to_dt
from bot.alerts.quiet import Quiet
from bot.store.db import is_postgresql
from bot.store.leases import claim_due
from bot.store.models import NO_MARK, TargetRow, Watch

__all__ = [
    "RESYNC_SPREAD",
    "SYNC_LOCK",
    "Checked",
    "Due",
    "Moves",
    "claim",
    "complete",
    "held_by_others",
    "reconsider",
    "record_push",
    "resync_early",
    "sync",
]

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


#: Which due targets a claim takes: any; only those callbacks asked a check for (the
#: push lane, ``Poller.run_pushed``); only those due by their interval or resync (a
#: poll cycle beside a push lane).
Due = Literal["any", "asked", "scheduled"]


def claim(
    sessions: sessionmaker[Session],
    *,
    now: float,
    owner: str,
    lease: float,
    limit: int,
    due: Due = "any",
) -> list[tuple[int, Target]]:
    """Lease up to ``limit`` due targets to ``owner`` for ``lease`` seconds; their
    (target id, target) pairs, by id.

    The order: checks callbacks asked for first (a fall may be under way), the earliest
    asked first; then targets due by ``POLL_INTERVAL``, the longest due first; then the
    resyncs (``resync_due``: push keeps watch on those meanwhile, so a wave of them
    never makes a polled group's check late)."""
    at = to_dt(now)
    asked = TargetRow.push_due_at <= at
    scheduled = TargetRow.next_due_at <= at
    by_schedule = [TargetRow.resync_due, TargetRow.next_due_at, TargetRow.id]
    where, order_by = {
        "any": (
            or_(scheduled, asked),
            [TargetRow.push_due_at.is_(None), TargetRow.push_due_at, *by_schedule],
        ),
        "asked": (asked, [TargetRow.push_due_at, TargetRow.id]),
        "scheduled": (scheduled, by_schedule),
    }[due]
    with sessions.begin() as session:
        rows = claim_due(
            session,
            TargetRow,
            due=[where],
            now=at,
            lease=lease,
            owner=owner,
            limit=limit,
            order_by=order_by,
            # The check answers the callbacks so far: they ask for nothing more, and the
            # estimate starts again from the count this check gets.
            also={"push_due_at": None, "push_delta": 0},
            returning=[TargetRow.id, TargetRow.group_id, TargetRow.mark_key],
        )
    return [
        (target_id, Target(group_id, None if mark_key == NO_MARK else mark_key))
        for target_id, group_id, mark_key in sorted(rows)
    ]


@dataclass(frozen=True, slots=True)
class Checked:
    """A target after its check: the count (None if it failed), and where its watches
    are quiet (None: any move may matter; see ``quiet.quiet_range``)."""

    target_id: int
    value: int | None
    quiet: Quiet | None


#: The share of PUSH_RESYNC_INTERVAL by which a target's resync may come early, by an
#: amount of its own (``resync_early``): the targets a start checked together are not
#: all resynced together again.
RESYNC_SPREAD = 0.25

#: The golden ratio's fraction: successive ids spread evenly over [0, 1).
_GOLDEN = 0.6180339887498949


def resync_early(target_id: int, resync: float) -> float:
    """Seconds before ``resync`` this target's resyncs come: from 0 to ``RESYNC_SPREAD``
    of it, fixed per target (so each keeps its period) and even over successive ids."""
    return RESYNC_SPREAD * resync * ((target_id * _GOLDEN) % 1.0)


def _resync_after(target_id: int, resync: float, interval: float) -> float:
    """Seconds from a claim to this target's resync: never sooner than ``interval``."""
    return max(interval, resync - resync_early(target_id, resync))


def complete(
    sessions: sessionmaker[Session],
    checked: Sequence[Checked],
    *,
    owner: str,
    claimed_at: float,
    interval: float,
    resync: float,
    checked_at: float,
) -> None:
    """Release ``owner``'s leases on these targets. Each is next due ``interval`` after
    ``claimed_at``; or, when its watches are settled and its group sent a callback in
    the last ``resync`` seconds, resynced up to ``resync`` after (``resync_early``;
    push keeps watch in between, and a group silent for longer is polled again). A
    check a callback asked for meanwhile (``push_due_at``) comes first."""
    if not checked:
        return
    table = TargetRow.__table__.c
    due_type = TargetRow.next_due_at.type
    push_fed = table.last_push_at >= to_dt(claimed_at - resync)
    resyncs = and_(bindparam("settled", type_=Boolean), push_fed)
    regular = case(
        (resyncs, bindparam("resync_at", type_=due_type)),
        else_=literal(to_dt(claimed_at + interval), due_type),
    )
    asked_first = and_(table.push_due_at.is_not(None), table.push_due_at < regular)
    with sessions.begin() as session:
        session.execute(
            update(TargetRow.__table__)
            .where(table.id == bindparam("target_id"), table.lease_owner == owner)
            .values(
                next_due_at=case((asked_first, table.push_due_at), else_=regular),
                resync_due=case((and_(resyncs, ~asked_first), True), else_=False),
                lease_owner=None,
                lease_until=None,
                last_checked_at=to_dt(checked_at),
                last_value=bindparam("value"),
                quiet_low=bindparam("low"),
                quiet_high=bindparam("high"),
            ),
            [
                {
                    "target_id": c.target_id,
                    "value": c.value,
                    "low": _stored(c.quiet, "low"),
                    "high": _stored(c.quiet, "high"),
                    "settled": c.quiet is not None and c.quiet.settled,
                    "resync_at": to_dt(claimed_at + _resync_after(c.target_id, resync, interval)),
                }
                for c in checked
            ],
        )


#: A bound the quiet range has not got, as stored (both NULL means: no range at all).
UNBOUNDED = {"low": -(2**62), "high": 2**62}


def _stored(quiet: Quiet | None, side: str) -> int | None:
    if quiet is None:
        return None
    bound = getattr(quiet, side)
    return UNBOUNDED[side] if bound is None else bound


@dataclass(frozen=True, slots=True)
class Moves:
    """What the callbacks of one group said, since the last flush: the net move of its
    audience, when the first came, and when the last came."""

    delta: int
    first_at: float
    last_at: float


def record_push(session: Session, moves: Mapping[str, Moves], *, debounce: float) -> int:
    """Add callbacks to the targets of their groups (unwatched groups: nothing), in the
    caller's transaction; returns how many targets they touched.

    Each target's estimate (``last_value + push_delta``) moves; the group counts as
    push-fed (``last_push_at``). A check is asked for, ``debounce`` seconds after the
    first callback (Tencent's own count catches up by then), when the estimate leaves
    the target's quiet range or falls below zero (moves the last check had counted
    already), or the target has none (a failed check, a ``for`` clock
    running, a mark the callbacks cannot tell), or its check is under way (leased: that
    check may have read the count before this move, and its completion replaces the
    range). One is asked at most once until it runs: a storm of callbacks costs one
    check per debounce.

    A target never checked yet asks for nothing (unless its first check is under way):
    it is due for that check anyway (``sync`` makes it due at once), which answers these
    callbacks; so on a start with thousands of new targets, their callbacks do not
    queue before a known target's fall.
    """
    if not moves:
        return 0
    result = session.execute(
        _push_update(),
        [
            {
                "group": group_id,
                "delta": m.delta,
                "last_at": to_dt(m.last_at),
                "due_at": to_dt(m.first_at + debounce),
            }
            # in one order on every replica: two inboxes lock the same rows without deadlock
            for group_id, m in sorted(moves.items())
        ],
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@cache
def _push_update() -> Any:
    """``record_push``'s UPDATE, built once: the inbox runs it on every write."""
    table = TargetRow.__table__.c
    estimate = table.last_value + table.push_delta + bindparam("delta")
    outside = or_(
        and_(table.quiet_low.is_(None), table.quiet_high.is_(None)),
        table.last_value.is_(None),
        estimate < table.quiet_low,
        estimate > table.quiet_high,
        # an audience below zero cannot be: these callbacks were counted by the last
        # check already (it read Tencent's count after the moves, before their
        # callbacks came), and a rise from here would never look like one
        estimate < 0,
    )
    asks = or_(
        # a check under way may have read the count before this move, and its completion
        # replaces the range this move would be judged against
        table.lease_owner.is_not(None),
        and_(table.last_checked_at.is_not(None), outside),  # never checked: due anyway
    )
    return (
        update(TargetRow.__table__)
        .where(table.group_id == bindparam("group"))
        .values(
            push_delta=table.push_delta + bindparam("delta"),
            last_push_at=bindparam("last_at", type_=TargetRow.last_push_at.type),
            push_due_at=case(
                (table.push_due_at.is_not(None), table.push_due_at),
                (asks, bindparam("due_at", type_=TargetRow.push_due_at.type)),
                else_=null(),
            ),
        )
    )


def reconsider(session: Session, group_id: str, mark: int | None, *, now: float) -> None:
    """A watch of this (group, mark) came or came back: its target is due now, and has no
    quiet range until then (the one it had did not count that watch), in the caller's
    transaction. (A target not made yet is made, due, by the next ``sync``.)"""
    mark_key = NO_MARK if mark is None else mark
    session.execute(
        update(TargetRow)
        .where(
            TargetRow.group_id == group_id,
            TargetRow.mark_key == mark_key,
            TargetRow.next_due_at > to_dt(now),
        )
        .values(next_due_at=to_dt(now), resync_due=False, quiet_low=None, quiet_high=None)
    )


def forget(session: Session, group_id: str, mark: int | None) -> None:
    """A watch of this (group, mark) went: its target goes too if no other watch watches
    it, in the caller's transaction, as the next ``sync`` would drop it; its audience then
    leaves the metrics at once (``bot.store.figures``), on every replica."""
    mark_key = NO_MARK if mark is None else mark
    session.flush()
    session.execute(
        delete(TargetRow).where(
            TargetRow.group_id == group_id,
            TargetRow.mark_key == mark_key,
            ~exists().where(
                Watch.group_id == group_id,
                Watch.mark.is_(None) if mark is None else Watch.mark == mark,
                Watch.deleted_at.is_(None),
                Watch.paused_reason.is_(None),
            ),
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
