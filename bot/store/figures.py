"""Figures read from the database for the metrics endpoint (``bot.metrics``): each watched
(group, mark)'s audience, the watches by state, and the outbox's backlog.

Each is one cheap statement, run when Prometheus scrapes (``DatabaseFigures``, written
as text by ``bot.metrics.gauge_text``, the audiences' lines by the database): what the
database holds is what every replica shares, so nothing is kept in step in memory, and a
series goes with its target: at once when its last watch is unwatched (``forget``: the next
scrape here reads afresh, the other replicas' next reading drops it), at the poll tick after
its last watch is paused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, and_, case, cast, func, literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.metrics import PREFIX, gauge_text
from bot.store.models import (
    NO_MARK,
    AlertStateRow,
    Outbox,
    OutboxKind,
    OutboxStatus,
    TargetRow,
    Watch,
)

__all__ = [
    "WATCH_STATES",
    "Backlog",
    "DatabaseFigures",
    "audience_lines",
    "outbox_backlog",
    "watch_states",
]

log = logging.getLogger(__name__)

#: The audience gauge (labels group_id, mark).
AUDIENCE = PREFIX + "watched_online_members"

#: A watch's state as ``/online watches`` shows it: paused (Slack refused its channel)
#: before muted, muted before its rule's state.
WATCH_STATES = ("ok", "pending", "firing", "error", "paused", "muted")


def audience_lines(session: Session, name: str) -> str:
    """The audience gauge's sample lines, ``name{group_id="...",mark="..."} N`` (mark empty
    for none), one per target whose last check got a count, in the text format, written by
    the database itself: 5,000 rows never become Python objects (a third of the cost on
    SQLite, a tenth of the CPU on PostgreSQL).

    Targets are the watched (group, mark)s: ``bot.alerts.targets.forget`` drops one as its
    last watch is unwatched, ``bot.alerts.targets.sync`` as it is paused, at every poll tick
    (every 5 s; every second with push), so its series goes then. (Asking the watches for
    each target here would cost three times as much.)

    A group ID is printable ASCII (``bot.tencent.validation``): of what the format escapes in
    a label value, it can hold a backslash or a double quote, not a line feed."""
    group = func.replace(func.replace(TargetRow.group_id, "\\", "\\\\"), '"', '\\"')
    mark = case((TargetRow.mark_key == NO_MARK, ""), else_=cast(TargetRow.mark_key, String))
    line = (
        literal(name + '{group_id="')
        + group
        + '",mark="'
        + mark
        + '"} '
        + cast(TargetRow.last_value, String)
        + "\n"
    )
    query = select(func.aggregate_strings(line, "")).where(TargetRow.last_value.is_not(None))
    return session.connection().execute(query).scalar() or ""


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
    creation time, None when there is none) and given up on (``failed``). Alert charts
    (optional, and given up on after a few attempts) are not counted."""

    pending: int
    failed: int
    oldest_pending: datetime | None


def outbox_backlog(session: Session) -> Backlog:
    rows = session.execute(
        select(Outbox.status, func.count(), func.min(Outbox.created_at))
        .where(Outbox.status.in_([OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]))
        .where(Outbox.kind != OutboxKind.CHART)
        .group_by(Outbox.status)
    )
    found = {status: (count, oldest) for status, count, oldest in rows}
    pending, oldest = found.get(OutboxStatus.PENDING.value, (0, None))
    failed, _ = found.get(OutboxStatus.FAILED.value, (0, None))
    return Backlog(pending=pending, failed=failed, oldest_pending=oldest)


#: Seconds between two readings of the database while Prometheus scrapes.
READ_EVERY = 5.0
#: Seconds without a scrape after which the readings stop, until the next scrape.
IDLE_AFTER = 120.0


class DatabaseFigures:
    """What the database holds, as text for GET /metrics (``Metrics.watch_database``): the
    audience of each watched (group, mark), the watches by state, the outbox's backlog; and
    whether it could be read (``online_bot_database_up``: 0 while it cannot, and the rest is
    left out).

    A scrape does not wait on the database: from the first one, a thread reads it every
    ``every`` seconds, and a scrape is answered with the last reading (at most ``every``
    seconds old); when nobody has scraped for ``idle_after`` seconds the thread ends, and
    the next scrape reads at once. (Reading 5,000 audiences takes 10 to 20 ms of a busy
    2-CPU machine: on every scrape, that made one in a hundred take over 100 ms.)
    ``every`` 0: every scrape reads (tests)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], float] = time.time,
        *,
        every: float = READ_EVERY,
        idle_after: float = IDLE_AFTER,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.every = every
        self.idle_after = idle_after
        self._was_up = True
        self._lock = threading.Lock()
        self._reading: tuple[float, str] | None = None  # (monotonic time, text)
        self._forgotten = 0  # readings begun before the last forget() are not kept
        self._scraped_at = 0.0
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()

    def __call__(self) -> str:
        """A scrape: the last reading if it is fresh, else a reading now."""
        now = time.monotonic()
        with self._lock:
            self._scraped_at = now
            reading = self._reading
            if self.every > 0 and self._reader is None and not self._closed.is_set():
                self._reader = threading.Thread(target=self._read_on, name="figures", daemon=True)
                self._reader.start()
        if reading is not None and now - reading[0] < 2 * self.every:  # (the reader may lag)
            return reading[1]
        return self.read()

    def forget(self) -> None:
        """What was read is out of date (a watch was removed here): the next scrape reads
        afresh, and a reading under way when this is called is not kept."""
        with self._lock:
            self._forgotten += 1
            self._reading = None

    @property
    def reading(self) -> bool:
        """Whether the thread that reads every ``every`` seconds runs (someone scrapes)."""
        return self._reader is not None

    def close(self) -> None:
        """Stop reading (the bot is closing its database)."""
        self._closed.set()
        reader = self._reader
        if reader is not None:
            reader.join(timeout=10)

    def _read_on(self) -> None:
        while not self._closed.wait(self.every):
            with self._lock:
                if time.monotonic() - self._scraped_at > self.idle_after:
                    self._reader = None
                    return
            self.read()

    def read(self) -> str:
        """Read the database now; the text, kept as the last reading (unless ``forget``
        was called meanwhile)."""
        with self._lock:
            forgotten = self._forgotten
        text = self._text()
        with self._lock:
            if forgotten == self._forgotten:
                self._reading = (time.monotonic(), text)
        return text

    def _text(self) -> str:
        now = self.clock()
        try:
            with self.sessions() as session:
                watched = audience_lines(session, AUDIENCE)
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
            return _up(0)
        self._was_up = True
        oldest = backlog.oldest_pending
        age = 0.0 if oldest is None else max(0.0, now - oldest.timestamp())
        return "".join(
            [
                _up(1),
                gauge_text(
                    AUDIENCE,
                    "Online members of each watched group (and mark; empty: all members) at "
                    "its last check that got a count; gone when its last watch is unwatched, "
                    "or at the poll tick after it is paused.",
                    ("group_id", "mark"),
                    [],
                ),
                watched,
                gauge_text(
                    PREFIX + "watches",
                    "Watches by state: ok, pending, firing, error, paused (Slack refused the "
                    "channel), muted.",
                    ("state",),
                    [((state,), count) for state, count in states.items()],
                ),
                gauge_text(
                    PREFIX + "outbox_messages",
                    "Alert messages not delivered, by status: pending (to send or retry) and "
                    "failed (given up on).",
                    ("status",),
                    [(("pending",), backlog.pending), (("failed",), backlog.failed)],
                ),
                gauge_text(
                    PREFIX + "outbox_oldest_pending_age_seconds",
                    "Age of the oldest alert message still to send (0 when there is none).",
                    (),
                    [((), age)],
                ),
            ]
        )


def _up(value: int) -> str:
    return gauge_text(
        PREFIX + "database_up",
        "Whether the database could be read for this scrape.",
        (),
        [((), value)],
    )
