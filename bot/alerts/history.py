"""History: what the store knows of one watched (group, mark) over a span of time, for a
chart (bot.render.charts) and the message around it.

- **Samples**: every check of the (group, mark), the count or None for a failed one.
  Samples exist only for watched targets (the poller stores each check), for
  HISTORY_DAYS.
- **Thresholds**: the lines of the watches on that (group, mark), each labelled with its
  watch (``#3 below 100``, and ``#3 recover 120`` where it clears elsewhere). A drop rule
  has no fixed line: it is listed in words only.
- **Firing periods**: from the alerts the outbox recorded, per incident: from its FIRING
  message to its RESOLVED one (or to the ERROR that ended it), and the alert firing now
  (``alert_states.firing_since``), to the end of the chart. An alert that fired and
  resolved entirely while muted sent nothing and left no record: it is not shaded.

Whose watches: a channel's own (``channel_id``), as everywhere else: a watch is shown only
in its channel, so a chart asked for in one channel never shows another's thresholds or
alerts. The samples are the group's, whoever watches it (anyone may ask for its count).
Without a channel (the command line, run by whoever holds the database) every watch on
the (group, mark) counts.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.mapping import rule_of, to_dt, to_ts
from bot.alerts.names import GroupNames
from bot.render.charts import Point, Span, Threshold
from bot.render.history import HistoryView, WatchedRule
from bot.store.models import AlertStateRow, Outbox, OutboxKind, SampleRow, Watch
from bot.store.samples import between, of_target

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "FIRING_LOOKBACK_DAYS",
    "HistoryReader",
    "HistoryUnreadable",
    "firing_spans",
    "read_stored_history",
    "thresholds_of",
]

#: How far before a chart's start an alert may have begun firing and still be shaded.
FIRING_LOOKBACK_DAYS = 7


class HistoryReader:
    """Reads a target's history from the store; the group's name as ``names`` knows it
    (reading asks Tencent nothing: see OnlineHandlers for when the name is asked)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        names: GroupNames | None = None,
        *,
        kept_days: int = 14,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.names = names
        self.kept_days = kept_days
        self.clock = clock

    def read(
        self, group_id: str, mark: int | None, seconds: float, channel_id: str | None
    ) -> HistoryView:
        """The last ``seconds`` of (group_id, mark), with the thresholds and firing periods
        of ``channel_id``'s watches on it (None: every channel's)."""
        end = self.clock()
        return self.read_window(group_id, mark, end - seconds, end, channel_id)

    def read_window(
        self,
        group_id: str,
        mark: int | None,
        start: float,
        end: float,
        channel_id: str | None,
        *,
        watch_id: int | None = None,
    ) -> HistoryView:
        """(group_id, mark) from ``start`` to ``end``, with the thresholds and firing
        periods of ``channel_id``'s watches on it (None: every channel's), or of that one
        watch (``watch_id``: an alert's chart)."""
        with self.sessions() as session:
            since, until = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
            checks = between(session, group_id, mark, since, until)
            points = tuple(map(Point._make, checks))
            latest = None
            if not points:
                latest = to_ts(
                    session.scalar(
                        select(SampleRow.taken_at)
                        .where(of_target(group_id, mark), SampleRow.taken_at < to_dt(start))
                        .order_by(SampleRow.taken_at.desc())
                        .limit(1)
                    )
                )
            watches = self._watches(session, group_id, mark, channel_id)
            if watch_id is not None:
                watches = [w for w in watches if w.id == watch_id]
            spans = self._spans(session, watches, start, end)
        active = [w for w in watches if w.deleted_at is None]
        return HistoryView(
            group_id=group_id,
            mark=mark,
            group_name=self.names.peek(group_id) if self.names is not None else None,
            start=start,
            end=end,
            points=points,
            thresholds=tuple(t for w in active for t in thresholds_of(w)),
            spans=spans,
            rules=tuple(
                WatchedRule(w.id, rule_of(w).describe(), w.paused_reason is not None)
                for w in active
            ),
            latest_before=latest,
            kept_days=self.kept_days,
        )

    def _watches(
        self, session: Session, group_id: str, mark: int | None, channel_id: str | None
    ) -> list[Watch]:
        """The watches on (group, mark), unwatched ones too (their alerts happened)."""
        mark_is = Watch.mark.is_(None) if mark is None else Watch.mark == mark
        query = select(Watch).where(Watch.group_id == group_id, mark_is).order_by(Watch.id)
        if channel_id is not None:
            query = query.where(Watch.channel_id == channel_id)
        return list(session.scalars(query))

    def _spans(
        self, session: Session, watches: list[Watch], start: float, end: float
    ) -> tuple[Span, ...]:
        if not watches:
            return ()
        ids = [w.id for w in watches]
        kinds = [OutboxKind.FIRING, OutboxKind.RESOLVED, OutboxKind.ERROR]
        since = to_dt(start - timedelta(days=FIRING_LOOKBACK_DAYS).total_seconds())
        rows = session.execute(
            select(Outbox.watch_id, Outbox.incident_id, Outbox.kind, Outbox.created_at)
            .where(Outbox.watch_id.in_(ids), Outbox.kind.in_([k.value for k in kinds]))
            .where(Outbox.created_at >= since, Outbox.created_at <= to_dt(end))
            .order_by(Outbox.created_at, Outbox.id)
        ).all()
        states = {
            row.watch_id: row
            for row in session.execute(
                select(
                    AlertStateRow.watch_id,
                    AlertStateRow.status,
                    AlertStateRow.firing_since,
                    AlertStateRow.since,
                ).where(AlertStateRow.watch_id.in_(ids))
            )
        }  # columns, not rows of the ORM: a third of the cost
        events: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
        for watch_id, incident, kind, at in rows:
            events[watch_id].append((incident, kind, at.timestamp()))
        spans: list[Span] = []
        for watch_id in ids:
            state = states.get(watch_id)
            spans.extend(
                firing_spans(
                    events.get(watch_id, []),
                    firing_since=to_ts(state.firing_since)
                    if state is not None and state.status == "firing"
                    else None,
                    settled_at=to_ts(state.since) if state is not None else None,
                )
            )
        shown = [s for s in spans if (s.end is None or s.end > start) and s.start < end]
        return tuple(sorted(shown, key=lambda s: s.start))


def thresholds_of(watch: Watch) -> list[Threshold]:
    """A below/above watch's line, and its recover line where that differs; none for a
    drop (its line moves with the audience)."""
    rule = rule_of(watch)
    if rule.kind == "drop" or rule.threshold is None:
        return []
    lines = [Threshold(f"#{watch.id} {rule.kind} {rule.threshold:,}", rule.threshold, rule.kind)]
    if rule.recover is not None and rule.recover != rule.threshold:
        lines.append(Threshold(f"#{watch.id} recover {rule.recover:,}", rule.recover, "recover"))
    return lines


def firing_spans(
    events: Iterable[tuple[str, str, float]],
    *,
    firing_since: float | None,
    settled_at: float | None,
) -> list[Span]:
    """When one watch's alert was firing, from its outbox events in time order
    (``(incident, kind, at)``: firing, resolved, error), and its state now: firing since
    ``firing_since`` (None: not firing), its status last changed at ``settled_at``.

    An incident fires from its FIRING message until its RESOLVED one, the ERROR that
    ended it, or the next FIRING; one still open at the end is the alert firing now
    (open-ended), or else one that resolved without a message (while muted), which ends
    when the state last changed.
    """
    spans: list[Span] = []
    open_incident: str | None = None
    open_at = 0.0
    for incident, kind, at in events:
        if kind == OutboxKind.FIRING:
            if open_incident is not None:
                spans.append(Span(open_at, at))
            open_incident, open_at = incident, at
        elif open_incident is not None and (
            kind == OutboxKind.ERROR or (kind == OutboxKind.RESOLVED and incident == open_incident)
        ):
            spans.append(Span(open_at, at))
            open_incident = None
    current = Span(firing_since) if firing_since is not None else None
    if open_incident is not None:
        if current is not None and abs(current.start - open_at) < 1:
            current = Span(open_at)  # the open incident is the alert firing now
        else:
            ended = settled_at if settled_at is not None and settled_at > open_at else open_at
            spans.append(Span(open_at, ended))
    if current is not None:
        spans.append(current)
    return spans


class HistoryUnreadable(Exception):
    """The database at a URL holds no history to read: no SQLite file there yet, or not the
    bot's tables; the message says so and what to do."""


def read_stored_history(
    settings: Settings, group_id: str, mark: int | None, seconds: int
) -> HistoryView:
    """The history in the bot's database (DATABASE_URL), every channel's watches (the
    command line's ``online-bot history``); read only: no migration, and a SQLite file that
    is not there is not created. Raises HistoryUnreadable, or DatabaseUnusable when the
    database cannot be opened."""
    url = settings.database
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import make_engine, safe_url, session_factory

    parsed = make_url(url)
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file and not Path(sqlite_file).is_file():
        raise HistoryUnreadable(
            f"No database at {sqlite_file} yet: the bot has recorded nothing there (it "
            "records samples of watched groups while it runs). Set DATABASE_URL to the "
            "bot's database."
        )
    engine = make_engine(url)
    try:
        reader = HistoryReader(session_factory(engine), kept_days=settings.history_days)
        return reader.read(group_id, mark, seconds, channel_id=None)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise HistoryUnreadable(
            f"Error: cannot read the samples in {safe_url(url)} ({reason}): is it the bot's "
            "database, migrated (online-bot db upgrade)?"
        ) from None
    finally:
        engine.dispose()
