"""Figures read from the database for the metrics endpoint (``bot.metrics``): each watched
(group, mark)'s audience, the watches by state, and the outbox's backlog.

Each is one cheap statement, run when Prometheus scrapes (``DatabaseFigures``, a
prometheus_client collector): what the database holds is what every replica shares, so
nothing is kept in step in memory, and a series goes as soon as its watch does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.metrics import PREFIX
from bot.store.models import NO_MARK, AlertStateRow, Outbox, OutboxStatus, TargetRow, Watch

__all__ = [
    "WATCH_STATES",
    "Backlog",
    "DatabaseFigures",
    "audiences",
    "outbox_backlog",
    "watch_states",
]

log = logging.getLogger(__name__)

#: A watch's state as ``/online watches`` shows it: paused (Slack refused its channel)
#: before muted, muted before its rule's state.
WATCH_STATES = ("ok", "pending", "firing", "error", "paused", "muted")


def audiences(session: Session) -> Iterator[tuple[str, int | None, int]]:
    """(group ID, mark or None, online count at the last check) of each target an active
    watch watches (not unwatched, not paused), whose last check got a count."""
    watched = exists().where(
        Watch.group_id == TargetRow.group_id,
        func.coalesce(Watch.mark, NO_MARK) == TargetRow.mark_key,
        Watch.deleted_at.is_(None),
        Watch.paused_reason.is_(None),
    )
    rows = session.execute(
        select(TargetRow.group_id, TargetRow.mark_key, TargetRow.last_value).where(
            TargetRow.last_value.is_not(None), watched
        )
    )
    for group_id, mark_key, value in rows:
        yield group_id, None if mark_key == NO_MARK else mark_key, value


def watch_states(session: Session, now: datetime) -> dict[str, int]:
    """How many active (not unwatched) watches are in each of WATCH_STATES, zeros included."""
    state = case(
        (Watch.paused_reason.is_not(None), "paused"),
        (and_(Watch.muted_until.is_not(None), Watch.muted_until > now), "muted"),
        else_=func.coalesce(AlertStateRow.status, "ok"),
    )
    counted = dict.fromkeys(WATCH_STATES, 0)
    rows = session.execute(
        select(state, func.count())
        .select_from(Watch)
        .outerjoin(AlertStateRow, AlertStateRow.watch_id == Watch.id)
        .where(Watch.deleted_at.is_(None))
        .group_by(state)
    )
    for name, count in rows:
        counted[name] = counted.get(name, 0) + count
    return counted


@dataclass(frozen=True, slots=True)
class Backlog:
    """The outbox's messages not delivered: still to send (``pending``; the oldest one's
    creation time, None when there is none) and given up on (``failed``)."""

    pending: int
    failed: int
    oldest_pending: datetime | None


def outbox_backlog(session: Session) -> Backlog:
    rows = session.execute(
        select(Outbox.status, func.count(), func.min(Outbox.created_at))
        .where(Outbox.status.in_([OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]))
        .group_by(Outbox.status)
    )
    found = {status: (count, oldest) for status, count, oldest in rows}
    pending, oldest = found.get(OutboxStatus.PENDING.value, (0, None))
    failed, _ = found.get(OutboxStatus.FAILED.value, (0, None))
    return Backlog(pending=pending, failed=failed, oldest_pending=oldest)


class DatabaseFigures(Collector):
    """What the database holds, read at scrape time: the audience of each watched
    (group, mark), the watches by state, the outbox's backlog; and whether it could be read
    (``online_bot_database_up``: 0 while it cannot, and the rest is left out)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.time):
        self.sessions = sessions
        self.clock = clock
        self._was_up = True

    def describe(self) -> list[Metric]:
        return [_up(0), *self._families()]

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        try:
            with self.sessions() as session:
                watched = list(audiences(session))
                states = watch_states(session, datetime.fromtimestamp(now, UTC))
                backlog = outbox_backlog(session)
        except SQLAlchemyError as error:
            if self._was_up:
                log.warning(
                    "metrics: the database could not be read (%s); its figures are left out "
                    "until it can",
                    type(error).__name__,
                )
            self._was_up = False
            yield _up(0)
            return
        self._was_up = True
        yield _up(1)
        yield from self._families(watched, states, backlog, now)

    def _families(
        self,
        watched: list[tuple[str, int | None, int]] | None = None,
        states: dict[str, int] | None = None,
        backlog: Backlog | None = None,
        now: float = 0.0,
    ) -> Iterator[Metric]:
        audience = GaugeMetricFamily(
            PREFIX + "watched_online_members",
            "Online members of each watched group (and mark; empty: all members) at its last "
            "check that got a count; only targets a watch watches, and gone with the watch.",
            labels=["group_id", "mark"],
        )
        for group_id, mark, value in watched or ():
            audience.add_metric([group_id, "" if mark is None else str(mark)], value)
        yield audience
        by_state = GaugeMetricFamily(
            PREFIX + "watches",
            "Watches by state: ok, pending, firing, error, paused (Slack refused the "
            "channel), muted.",
            labels=["state"],
        )
        for state, count in (states or {}).items():
            by_state.add_metric([state], count)
        yield by_state
        messages = GaugeMetricFamily(
            PREFIX + "outbox_messages",
            "Alert messages not delivered, by status: pending (to send or retry) and failed "
            "(given up on).",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            PREFIX + "outbox_oldest_pending_age_seconds",
            "Age of the oldest alert message still to send (0 when there is none).",
        )
        if backlog is not None:
            messages.add_metric(["pending"], backlog.pending)
            messages.add_metric(["failed"], backlog.failed)
            since = backlog.oldest_pending
            oldest.add_metric([], 0.0 if since is None else max(0.0, now - since.timestamp()))
        yield messages
        yield oldest


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        PREFIX + "database_up", "Whether the database could be read for this scrape.", value=value
    )
