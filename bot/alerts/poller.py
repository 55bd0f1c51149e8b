"""One poll cycle: check every watched (group, mark) once, judge every watch, enqueue alerts.

Each distinct target is fetched once per cycle however many channels watch it:
the exact count API for unmarked rules (one call), the member list for marked ones.
Calls run concurrently inside the client's shared rate limiter. Every check is
stored as a sample. Then each watch is judged by the pure rule engine, and its new
state and the messages to send are committed in ONE transaction (the outbox): a
transition is never recorded without its message, nor a message without its
transition. The alert state carries a version column, so two writers racing on the
same watch cannot both commit.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.alerts import rules
from bot.alerts.mapping import apply_state, rule_of, state_columns, state_of, to_dt, to_ts
from bot.alerts.names import GroupNames
from bot.render import alerts as render
from bot.store.models import NO_MARK, AlertState, Outbox, Sample, Watch
from bot.store.models import Target as TargetRow
from bot.tencent.client import TencentClient
from bot.tencent.errors import TencentError

__all__ = ["CycleReport", "Poller", "Target", "alert_view", "fetch_value"]

log = logging.getLogger(__name__)

#: How many recent samples an alert's sparkline shows.
SPARK_SAMPLES = 20

#: Batches fetching at once: the next one's calls queue behind the current one's, so
#: the rate limiter never idles while a batch waits for its last answers.
BATCHES_AHEAD = 2

#: Seconds between two warnings that other replicas poll without a shared rate limit.
UNSHARED_WARNING_EVERY = 3600.0

#: Seconds ``stop`` waits for a running cycle to finish the batches it has claimed.
STOP_TIMEOUT = 15.0

#: pg_advisory_xact_lock key serialising ``sync_targets`` across replicas.
SYNC_LOCK = 0x6F6E6C74  # "onlt"

#: Which outbox kind each notifying reason becomes.
KIND_OF = {
    rules.Reason.FIRST_FIRING: "firing",
    rules.Reason.REPEAT_ELAPSED: "repeat",
    rules.Reason.MUTE_ENDED: "reminder",
    rules.Reason.RESOLVED: "resolved",
    rules.Reason.ERROR: "error",
    rules.Reason.RECOVERED_FROM_ERROR: "recovered",
}
#: Kinds that start a new incident with a top-level message; the rest reply in its thread.
OPENING_KINDS = ("firing", "error")


@dataclass(frozen=True, slots=True)
class Target:
    group_id: str
    mark: int | None


#: A claimed batch: its (target id, target) pairs, its checks being fetched, its time.
_Batch = tuple[list[tuple[int, Target]], Future[dict[Target, tuple[int | None, str | None]]], float]


@dataclass
class CycleReport:
    started_at: float
    duration: float = 0.0
    watches: int = 0
    targets: int = 0
    failed_checks: int = 0
    evaluated: int = 0
    notifications: int = 0
    conflicts: int = 0  # another writer changed a watch's state first
    reasons: dict[str, int] = field(default_factory=dict)


def fetch_value(tencent: TencentClient, target: Target) -> tuple[int | None, str | None]:
    """One check: the exact count (no mark) or the length of the marked list.

    A list Tencent's paging cut short is a lower bound, not a count: a failed check.
    """
    try:
        if target.mark is None:
            return tencent.online_count(target.group_id), None
        result = tencent.online_members(target.group_id, target.mark)
        if result.partial:
            return None, (
                f"Tencent's member list was incomplete ({result.partial.explanation}), so the "
                "members with the mark could not be counted; it is checked again next cycle."
            )
        return len(result.members), None
    except TencentError as error:
        return None, error.sentence


class Poller:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tencent: TencentClient,
        *,
        names: GroupNames,
        clock: Callable[[], float] = time.time,
        interval: float = 60.0,
        owner: str = "local",
        batch: int = 250,
        lease_seconds: float = 60.0,
        workers: int = 32,
        error_after: int = rules.ERROR_AFTER,
    ) -> None:
        self.sessions = sessions
        self.interval = interval
        self.owner = owner
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.tencent = tencent
        self.names = names
        self.clock = clock
        self.error_after = error_after
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll")
        self._fetcher = ThreadPoolExecutor(
            max_workers=BATCHES_AHEAD, thread_name_prefix="poll-batch"
        )
        self._stopping = threading.Event()
        self._cycle = threading.Lock()  # held while a cycle runs
        self._warned_unshared_at: float | None = None

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Claim nothing more, and wait up to ``timeout`` s for a running cycle to finish
        the batches it has claimed; True once no cycle runs. (Leases of a cycle cut short
        run out, and the targets are taken over: nothing is lost either way.)"""
        self._stopping.set()
        if not self._cycle.acquire(timeout=timeout):
            return False
        self._cycle.release()
        return True

    def close(self) -> None:
        self._stopping.set()
        self._fetcher.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- the cycle -------------------------------------------------------------

    def run_cycle(self) -> CycleReport:
        """Check every due target once (claiming it first), and judge its watches.

        Several replicas may run this at once on PostgreSQL: each claims a different
        batch of due targets (``FOR UPDATE SKIP LOCKED``), so the work is shared and
        every target is checked once per interval.
        """
        with self._cycle:
            return self._run_cycle()

    def _run_cycle(self) -> CycleReport:
        started = time.monotonic()
        cycle_start = self.clock()
        report = CycleReport(started_at=cycle_start)
        if self._stopping.is_set():
            return report
        self.sync_targets(due_at=cycle_start)
        # A pipeline: while one batch is judged, the next ones are already being fetched,
        # so the rate limit never idles while the database works or a batch waits for
        # its last answers.
        upcoming: deque[_Batch] = deque()
        claiming = self._top_up(upcoming, started)
        while upcoming:
            claimed, fetching, now = upcoming.popleft()
            checks = fetching.result()
            claiming = claiming and self._top_up(upcoming, started)
            report.targets += len(claimed)
            report.failed_checks += sum(1 for _, error in checks.values() if error)
            watches = self._active_watches({target.group_id for _, target in claimed})
            items = []
            for _, target in claimed:
                value, error = checks[target]
                sample = rules.Sample(at=now, value=value, error=error)
                items.extend((watch_id, sample) for watch_id in watches.get(target, ()))
            report.watches += len(items)
            self.judge_batch(items, now, report)
            self.complete([target_id for target_id, _ in claimed], now)
        if report.targets:
            self._warn_if_budget_unshared()
        report.duration = time.monotonic() - started
        return report

    def _warn_if_budget_unshared(self) -> None:
        """Other replicas poll this database but this one's rate limit is its own (no
        REDIS_URL): together they can exceed Tencent's budget. Said once an hour."""
        if self.tencent.rate_limits.shared:
            return
        now = self.clock()
        last = self._warned_unshared_at
        if last is not None and now - last < UNSHARED_WARNING_EVERY:
            return
        with self.sessions() as session:
            others = session.scalars(
                select(TargetRow.lease_owner)
                .where(TargetRow.lease_owner != self.owner, TargetRow.lease_until > to_dt(now))
                .distinct()
                .limit(5)
            ).all()
        if not others:
            return
        self._warned_unshared_at = now
        log.warning(
            "other replicas poll this database too (%s), but REDIS_URL is not set: each "
            "keeps its own budget of %d calls per second, so together they can exceed "
            "Tencent's and get error 60007. Set the same REDIS_URL on every replica.",
            ", ".join(sorted(others)),
            self.tencent.rate_limits.per_second,
        )

    def _top_up(self, upcoming: deque[_Batch], started: float) -> bool:
        """Claim batches until ``BATCHES_AHEAD`` are fetching; False once none is left."""
        while len(upcoming) < BATCHES_AHEAD:
            batch = self._next_batch(started)
            if batch is None:
                return False
            upcoming.append(batch)
        return True

    def _next_batch(self, started: float) -> _Batch | None:
        """Claim the next batch of due targets and start fetching it.

        Targets that fall due during the run are taken too (so none waits for the next
        tick), but a run stops claiming after one interval, so that it ends, and none
        once the poller is stopping."""
        if time.monotonic() - started >= self.interval or self._stopping.is_set():
            return None
        now = self.clock()
        claimed = self.claim(now)
        if not claimed:
            return None
        targets = [target for _, target in claimed]
        return claimed, self._fetcher.submit(self.check_targets, targets, now), now

    def sync_targets(self, *, due_at: float | None = None) -> None:
        """One target per watched (group, mark): add new ones (due at ``due_at``, default
        now), drop unwatched ones."""
        due = to_dt(self.clock() if due_at is None else due_at)
        with self.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
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

    def claim(self, now: float) -> list[tuple[int, Target]]:
        """Lease up to ``batch`` due targets for this process, in one atomic UPDATE.

        PostgreSQL: the rows are picked with ``FOR UPDATE SKIP LOCKED``, so concurrent
        replicas take different ones. SQLite: one UPDATE statement is atomic.
        """
        now_dt = to_dt(now)
        with self.sessions.begin() as session:
            due = (
                select(TargetRow.id)
                .where(
                    TargetRow.next_due_at <= now_dt,
                    or_(TargetRow.lease_until.is_(None), TargetRow.lease_until < now_dt),
                )
                .order_by(TargetRow.next_due_at, TargetRow.id)
                .limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = session.execute(
                update(TargetRow)
                .where(TargetRow.id.in_(due.scalar_subquery()))
                .values(lease_owner=self.owner, lease_until=to_dt(now + self.lease_seconds))
                .returning(TargetRow.id, TargetRow.group_id, TargetRow.mark_key)
            ).all()
        return [
            (target_id, Target(group_id, None if mark_key == NO_MARK else mark_key))
            for target_id, group_id, mark_key in sorted(rows)
        ]

    def complete(self, target_ids: list[int], claimed_at: float) -> None:
        """Release the leases; each target is next due one interval after this check."""
        with self.sessions.begin() as session:
            session.execute(
                update(TargetRow)
                .where(TargetRow.id.in_(target_ids), TargetRow.lease_owner == self.owner)
                .values(
                    next_due_at=to_dt(claimed_at + self.interval),
                    lease_owner=None,
                    lease_until=None,
                    last_checked_at=to_dt(self.clock()),
                )
            )

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

    def check_targets(
        self, targets: Sequence[Target], now: float
    ) -> dict[Target, tuple[int | None, str | None]]:
        """Fetch every target concurrently; store one sample each."""
        results = dict(
            zip(
                targets,
                self._pool.map(lambda t: fetch_value(self.tencent, t), targets),
                strict=True,
            )
        )
        taken_at = to_dt(now)
        with self.sessions.begin() as session:
            session.add_all(
                Sample(
                    group_id=t.group_id,
                    mark=t.mark,
                    taken_at=taken_at,
                    value=value,
                    error=error[:500] if error else None,
                )
                for t, (value, error) in results.items()
            )
        return results

    def judge_batch(
        self, items: Sequence[tuple[int, rules.Sample]], now: float, report: CycleReport
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
                log.info("watch %s was judged by another writer first; skipped", items[0][0])
                return
            for item in items:
                self.judge_batch([item], now, report)

    def _commit_batch(
        self,
        items: Sequence[tuple[int, rules.Sample]],
        now: float,
        report: CycleReport,
        *,
        names_asked: bool,
    ) -> None:
        samples = dict(items)
        done = CycleReport(started_at=now)
        with self.sessions.begin() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.id.in_(list(samples)), Watch.deleted_at.is_(None))
                .options(selectinload(Watch.state))
            ).all()
            decided = [(w, self._decide(session, w, samples[w.id], now)) for w in watches]
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
        report.evaluated += done.evaluated
        report.notifications += done.notifications
        for reason, count in done.reasons.items():
            report.reasons[reason] = report.reasons.get(reason, 0) + count

    def _decide(
        self, session: Session, watch: Watch, sample: rules.Sample, now: float
    ) -> rules.Decision:
        rule = rule_of(watch)
        history: list[rules.Sample] = []
        if rule.kind == "drop":
            since = to_dt(now - rule.window_seconds)
            rows = session.execute(
                select(Sample.taken_at, Sample.value).where(
                    Sample.group_id == watch.group_id,
                    _mark_is(watch.mark),
                    Sample.taken_at >= since,
                    Sample.taken_at < to_dt(now),
                )
            ).all()
            history = [rules.Sample(at=to_ts(at) or 0.0, value=value) for at, value in rows]
        return rules.evaluate(
            rule,
            state_of(watch.state),
            sample,
            now=now,
            history=history,
            muted_until=to_ts(watch.muted_until),
            error_after=self.error_after,
        )

    def _record(
        self,
        session: Session,
        watch: Watch,
        decision: rules.Decision,
        now: float,
    ) -> int:
        row = watch.state
        if row is None:
            row = AlertState(watch_id=watch.id)
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
            session.add(self._message(session, watch, row, kind, incident, note, now))
            enqueued += 1
            previous_incident = row.incident_id
        return enqueued

    def _message(
        self,
        session: Session,
        watch: Watch,
        state: AlertState,
        kind: str,
        incident: str,
        note: rules.Notification,
        now: float,
    ) -> Outbox:
        opening = None if kind in OPENING_KINDS else _opening(session, incident)
        since = to_ts(opening.created_at) if opening is not None else None
        view = alert_view(
            session,
            watch,
            state,
            self.names,
            incident=incident,
            value=note.value,
            now=now,
            since=since,
        )
        payload = _payload(kind, view, note, state, now)
        key = f"{watch.id}:{incident}:{kind}:{int(now)}"
        payload["metadata"] = render.alert_metadata(incident, watch.id, kind)
        payload["metadata"]["event_payload"]["key"] = key
        return Outbox(
            watch_id=watch.id,
            incident_id=incident,
            kind=kind,
            dedup_key=key,
            channel_id=watch.channel_id,
            parent_id=opening.id if opening is not None else None,
            payload=payload,
            next_attempt_at=to_dt(now),
            created_at=to_dt(now),
        )

    def prune(self, older_than_days: int) -> int:
        """Delete samples older than ``older_than_days``; returns how many."""
        cutoff = to_dt(self.clock() - timedelta(days=older_than_days).total_seconds())
        with self.sessions.begin() as session:
            result = session.execute(delete(Sample).where(Sample.taken_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def alert_view(
    session: Session,
    watch: Watch,
    state: AlertState,
    names: GroupNames,
    *,
    incident: str,
    value: int | None,
    now: float,
    since: float | None = None,
) -> render.AlertView:
    """Everything an alert message shows, read from the store."""
    recent = session.scalars(
        select(Sample.value)
        .where(Sample.group_id == watch.group_id, _mark_is(watch.mark))
        .order_by(Sample.taken_at.desc())
        .limit(SPARK_SAMPLES)
    ).all()
    if since is None:
        since = to_ts(state.firing_since) or to_ts(state.since)
    return render.AlertView(
        watch_id=watch.id,
        group_id=watch.group_id,
        group_name=names.peek(watch.group_id),
        mark=watch.mark,
        rule_text=rule_of(watch).describe(),
        value=value,
        since=since,
        now=now,
        samples=tuple(reversed(recent)),
        acknowledged_by=state.acknowledged_by,
        acknowledged_at=to_ts(state.acknowledged_at),
        muted_until=to_ts(watch.muted_until),
        error=state.last_error,
        incident_id=incident,
    )


def _quiet_row(row: AlertState, state: rules.AlertState, now: float) -> dict[str, Any]:
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
    table = AlertState.__table__
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


def _opening(session: Session, incident: str) -> Outbox | None:
    """The message that opened ``incident`` (a reply's thread), stored or added in this
    session (then written now, so that the reply can point at its id)."""
    for row in session.new:
        if isinstance(row, Outbox) and row.incident_id == incident and row.kind in OPENING_KINDS:
            session.flush()
            return row
    return session.scalar(
        select(Outbox)
        .where(Outbox.incident_id == incident, Outbox.kind.in_(OPENING_KINDS))
        .order_by(Outbox.id)
        .limit(1)
    )


class _NeedsNames(Exception):
    def __init__(self, group_ids: set[str]) -> None:
        super().__init__(sorted(group_ids))
        self.group_ids = group_ids


def _insert_ignoring_duplicates(session: Session) -> Any:
    """INSERT INTO targets ... ON CONFLICT DO NOTHING: two replicas may add the same
    target at once."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(TargetRow).on_conflict_do_nothing()


def _mark_is(mark: int | None) -> Any:
    return Sample.mark.is_(None) if mark is None else Sample.mark == mark


def _payload(
    kind: str,
    view: render.AlertView,
    note: rules.Notification,
    state: AlertState,
    now: float,
) -> dict[str, Any]:
    """What to send: ``text``/``blocks`` of the message, and for closing kinds an
    ``update`` for the original message."""
    if kind == "firing":
        message = render.render_firing(view, reason=note.detail)
        return {"text": message.text, "blocks": message.blocks}
    if kind in ("repeat", "reminder"):
        message = render.render_firing(view, reason=note.detail)
        return {"text": message.text, "blocks": message.blocks, "broadcast": True}
    if kind == "error":
        message = render.render_error_alert(view)
        return {"text": message.text, "blocks": message.blocks}
    fired_for = max(0.0, now - (view.since or now))
    if kind == "resolved":
        reply = render.render_resolved_reply(view, fired_for=fired_for)
        original = render.render_resolved_original(view, fired_for=fired_for, resolved_at=now)
    else:  # recovered
        reply = render.render_recovered_reply(view)
        original = render.render_error_original_recovered(view, recovered_at=now)
    return {
        "text": reply.text,
        "blocks": reply.blocks,
        "update": {"text": original.text, "blocks": original.blocks},
    }
