"""Judging: new values -> the rule engine -> transitions -> outbox rows, exactly once.

``Judge.judge(observations, now)`` is the one way a value enters judging, whoever
observed it: the poll cycle, Tencent's push callback, a test. Each observation is a
value (or the error instead) for one (group, mark) at one time; every active watch
on that (group, mark) is judged by the pure rule engine (``bot.alerts.rules``), and
its new state and the messages to send are committed in ONE transaction (the
outbox): a transition is never recorded without its message, nor a message without
its transition. The alert state carries a version column, so two writers judging
the same watch at once cannot both commit: the second one's judgement is dropped
(counted in ``JudgeReport.conflicts``), and its message never exists.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.alerts import rules
from bot.alerts.checks import Target
from bot.alerts.mapping import apply_state, rule_of, state_columns, state_of, to_dt, to_ts
from bot.alerts.messages import chart_row, outbox_row
from bot.alerts.names import GroupNames
from bot.alerts.quiet import Quiet, quiet_range
from bot.store.models import (
    CHARTED_KINDS,
    OPENING_KINDS,
    AlertStateRow,
    Outbox,
    OutboxKind,
    SampleRow,
    Watch,
)
from bot.store.samples import of_target

__all__ = ["KIND_OF", "Judge", "JudgeReport", "Observation"]

log = logging.getLogger(__name__)

#: Which outbox kind each notifying reason becomes.
KIND_OF = {
    rules.Reason.FIRST_FIRING: OutboxKind.FIRING,
    rules.Reason.REPEAT_ELAPSED: OutboxKind.REPEAT,
    rules.Reason.MUTE_ENDED: OutboxKind.REMINDER,
    rules.Reason.RESOLVED: OutboxKind.RESOLVED,
    rules.Reason.ERROR: OutboxKind.ERROR,
    rules.Reason.RECOVERED_FROM_ERROR: OutboxKind.RECOVERED,
}


@dataclass(frozen=True, slots=True)
class Observation:
    """A new value for (group, mark) at ``observed_at``: the count, or the error instead."""

    group_id: str
    mark: int | None
    value: int | None
    error: str | None
    observed_at: float

    @property
    def target(self) -> Target:
        return Target(self.group_id, self.mark)


@dataclass
class JudgeReport:
    watches: int = 0  # watches an observation was for
    evaluated: int = 0
    notifications: int = 0
    conflicts: int = 0  # another writer changed a watch's state first
    reasons: dict[str, int] = field(default_factory=dict)
    #: Where each target's watches, as judged, are quiet (quiet_range): None when
    #: any value may matter. A target whose watches were not all judged here is absent.
    quiet: dict[Target, Quiet | None] = field(default_factory=dict)

    def add(self, other: JudgeReport) -> None:
        self.watches += other.watches
        self.evaluated += other.evaluated
        self.notifications += other.notifications
        self.conflicts += other.conflicts
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count
        for target, quiet in other.quiet.items():
            self.quiet[target] = _both(self.quiet[target], quiet) if target in self.quiet else quiet


def _both(a: Quiet | None, b: Quiet | None) -> Quiet | None:
    return None if a is None or b is None else a & b


class Judge:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        names: GroupNames,
        *,
        error_after: int = rules.ERROR_AFTER,
    ) -> None:
        self.sessions = sessions
        self.names = names
        self.error_after = error_after

    def record(self, observations: Iterable[Observation]) -> None:
        """Store observations as samples (the history drop rules and sparklines read), in
        one transaction."""
        with self.sessions.begin() as session:
            session.add_all(
                SampleRow(
                    group_id=o.group_id,
                    mark=o.mark,
                    taken_at=to_dt(o.observed_at),
                    value=o.value,
                    error=o.error[:500] if o.error else None,
                )
                for o in observations
            )

    def judge(
        self, observations: Sequence[Observation], now: float, *, recorded: bool = False
    ) -> JudgeReport:
        """Judge every active watch on each observation's (group, mark), at ``now``;
        commit new states with their outbox rows. The observations are stored as samples
        first, unless they already are (``recorded``: the poll stores them as it fetches).

        Two calls with the same observation, at once or one after the other, on any
        replica, enqueue each alert once."""
        report = JudgeReport()
        if not observations:
            return report
        if not recorded:
            self.record(observations)
        watches = self._active_watches({o.group_id for o in observations})
        items: list[tuple[int, rules.Sample]] = []
        for o in observations:
            sample = rules.Sample(at=o.observed_at, value=o.value, error=o.error)
            items.extend((watch_id, sample) for watch_id in watches.get(o.target, ()))
        report.watches = len(items)
        self.judge_batch(items, now, report)
        return report

    def _active_watches(self, group_ids: set[str]) -> dict[Target, list[int]]:
        with self.sessions() as session:
            rows = session.execute(
                select(Watch.id, Watch.group_id, Watch.mark).where(
                    Watch.group_id.in_(group_ids),
                    Watch.deleted_at.is_(None),
                    Watch.paused_reason.is_(None),
                )
            ).all()
        by_target: dict[Target, list[int]] = defaultdict(list)
        for watch_id, group_id, mark in rows:
            by_target[Target(group_id, mark)].append(watch_id)
        return by_target

    def judge_batch(
        self, items: Sequence[tuple[int, rules.Sample]], now: float, report: JudgeReport
    ) -> None:
        """Evaluate watches and commit their new states with their outbox rows, in one
        transaction: all of them, or (if another writer changed one first) each on its own.

        Alerts show group names, which may have to be asked of Tencent: that is done
        before the transaction (50 names a call), never while holding it.
        """
        if not items:
            return
        try:
            self._commit_batch(items, now, report, names_asked=False)
        except _NeedsNames as missing:
            self.names.prefetch(missing.group_ids)
            self._commit_batch(items, now, report, names_asked=True)
        except StaleDataError:
            if len(items) == 1:
                report.conflicts += 1
                log.info(
                    "watch %s was judged by another writer first; skipped",
                    items[0][0],
                    extra={"watch_id": items[0][0]},
                )
                self._unsure(items[0][0], report)
                return
            for item in items:
                self.judge_batch([item], now, report)

    def _unsure(self, watch_id: int, report: JudgeReport) -> None:
        """A watch judged elsewhere: where its target is quiet is not known here."""
        with self.sessions() as session:
            watch = session.get(Watch, watch_id)
        if watch is not None:
            report.add(JudgeReport(quiet={Target(watch.group_id, watch.mark): None}))

    def _commit_batch(
        self,
        items: Sequence[tuple[int, rules.Sample]],
        now: float,
        report: JudgeReport,
        *,
        names_asked: bool,
    ) -> None:
        samples = dict(items)
        done = JudgeReport()
        with self.sessions.begin() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.id.in_(list(samples)), Watch.deleted_at.is_(None))
                .options(selectinload(Watch.state))
            ).all()
            judged = [(w, *self._decide(session, w, samples[w.id], now)) for w in watches]
            decided = [(w, decision) for w, decision, _ in judged]
            unnamed = {
                w.group_id
                for w, decision in decided
                if decision.notifications and not self.names.known(w.group_id)
            }
            if unnamed and not names_asked:
                raise _NeedsNames(unnamed)  # rolls back: nothing was written yet
            # Most watches send nothing: their new states go in one executemany. The rest
            # (new states, alerts) go through the ORM, without autoflush: the messages'
            # reads (recent samples, an incident's opening) need none of these changes.
            quiet: list[dict[str, Any]] = []
            with session.no_autoflush:
                for watch, decision in decided:
                    done.evaluated += 1
                    reason = decision.reason.value
                    done.reasons[reason] = done.reasons.get(reason, 0) + 1
                    if watch.state is not None and not decision.notifications:
                        quiet.append(_quiet_row(watch.state, decision.state, now))
                    else:
                        done.notifications += self._record(session, watch, decision, now)
            if quiet:
                _write_states(session, quiet)
            for watch, _, watch_quiet in judged:
                target = Target(watch.group_id, watch.mark)
                # a mark's count cannot be estimated from callbacks (they carry no marks)
                mine = watch_quiet if watch.mark is None else None
                done.quiet[target] = (
                    _both(done.quiet[target], mine) if target in done.quiet else mine
                )
        report.add(done)

    def _decide(
        self, session: Session, watch: Watch, sample: rules.Sample, now: float
    ) -> tuple[rules.Decision, Quiet | None]:
        """The rule engine's decision for ``watch`` on ``sample``, and where the watch is
        quiet afterwards."""
        rule = rule_of(watch)
        history: list[rules.Sample] = []
        if rule.kind == "drop":
            since = to_dt(now - rule.window_seconds)
            rows = session.execute(
                select(SampleRow.taken_at, SampleRow.value).where(
                    of_target(watch.group_id, watch.mark),
                    SampleRow.taken_at >= since,
                    SampleRow.taken_at < to_dt(now),
                )
            ).all()
            history = [rules.Sample(at=to_ts(at) or 0.0, value=value) for at, value in rows]
        decision = rules.evaluate(
            rule,
            state_of(watch.state),
            sample,
            now=now,
            history=history,
            muted_until=to_ts(watch.muted_until),
            error_after=self.error_after,
        )
        value = None if sample.failed else sample.value
        return decision, quiet_range(rule, decision.state, value=value, history=history)

    def _record(
        self,
        session: Session,
        watch: Watch,
        decision: rules.Decision,
        now: float,
    ) -> int:
        row = watch.state
        if row is None:
            row = AlertStateRow(watch_id=watch.id)
            session.add(row)
            watch.state = row
        previous_incident = row.incident_id
        apply_state(row, decision.state)
        row.last_checked_at = to_dt(now)
        enqueued = 0
        for note in decision.notifications:
            kind = KIND_OF[note.reason]
            if kind in OPENING_KINDS:
                row.incident_id = str(uuid.uuid4())
                row.acknowledged_by = row.acknowledged_at = None
                row.alert_channel = row.alert_ts = None
                incident = row.incident_id
            else:
                incident = previous_incident or row.incident_id or str(uuid.uuid4())
            message = self._message(session, watch, row, kind, incident, note, now)
            session.add(message)
            if kind in CHARTED_KINDS:
                session.flush()  # the chart's row points at its message's
                session.add(chart_row(session, watch, message, now=now))
            enqueued += 1
            previous_incident = row.incident_id
        return enqueued

    def _message(
        self,
        session: Session,
        watch: Watch,
        state: AlertStateRow,
        kind: OutboxKind,
        incident: str,
        note: rules.Notification,
        now: float,
    ) -> Outbox:
        return outbox_row(
            session, watch, state, self.names, kind=kind, incident=incident, note=note, now=now
        )


def _quiet_row(row: AlertStateRow, state: rules.AlertState, now: float) -> dict[str, Any]:
    """Parameters of ``_write_states`` for one watch that sends nothing."""
    return {
        "judged_id": row.watch_id,
        "judged_version": row.version,
        "last_checked_at": to_dt(now),
        **state_columns(state),
    }


def _write_states(session: Session, rows: list[dict[str, Any]]) -> None:
    """New alert states in one executemany, each only if its version is still the one
    judged; else StaleDataError, as the ORM raises for one row (versioned rows are never
    batched by the ORM: one UPDATE each, a round trip per watch)."""
    table = AlertStateRow.__table__
    result = session.execute(
        update(table)
        .where(
            table.c.watch_id == bindparam("judged_id"),
            table.c.version == bindparam("judged_version"),
        )
        .values(version=table.c.version + 1),
        rows,
    )
    if result.rowcount != len(rows):  # type: ignore[attr-defined]
        raise StaleDataError(
            f"{len(rows) - result.rowcount} of {len(rows)} alert states "  # type: ignore[attr-defined]
            "were changed by another writer first"
        )


class _NeedsNames(Exception):
    def __init__(self, group_ids: set[str]) -> None:
        super().__init__(sorted(group_ids))
        self.group_ids = group_ids
