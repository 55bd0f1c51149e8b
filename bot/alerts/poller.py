"""The poll cycle: the pipeline that moves every due target through the stages.

targets (``bot.alerts.targets``: claim due ones with a lease) -> checks
(``bot.alerts.checks``: fetch each once, however many channels watch it) -> judging
(``bot.alerts.judging``: rules, transitions, outbox rows, exactly once) -> targets
again (``complete``: next due one interval on). Messages are composed in
``bot.alerts.messages``; the deliverer sends them.

Calls run concurrently inside the client's shared rate limiter, and batches overlap:
while one batch is judged the next ones are already being fetched. With push, the
checks callbacks ask for have a lane of their own (``run_pushed``: small batches on
a pool of their own), so none waits behind a cycle's batches; and ``wrote_outbox``
is told after each batch that wrote alert messages, so they go out at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import rules, targets
from bot.alerts.checks import Target, fetch_value
from bot.alerts.judging import Judge, JudgeReport, Observation
from bot.alerts.mapping import to_dt
from bot.alerts.names import GroupNames
from bot.logs import log_context
from bot.metrics import Metrics
from bot.store import samples
from bot.store.leases import LeasePolicy
from bot.tencent.client import TencentClient

__all__ = ["CycleReport", "Poller"]

log = logging.getLogger(__name__)

#: Batches fetching at once: the next one's calls queue behind the current one's, so
#: the rate limiter never idles while a batch waits for its last answers.
BATCHES_AHEAD = 2

#: Seconds between two warnings that other replicas poll without a shared rate limit.
UNSHARED_WARNING_EVERY = 3600.0

#: Seconds ``stop`` waits for a running cycle to finish the batches it has claimed.
STOP_TIMEOUT = 15.0

#: Checks callbacks asked for, claimed at a time by ``run_pushed``: few, so that a fall's
#: alert is written while the next ones are fetched.
PUSH_BATCH = 25

#: Threads fetching them, beside the cycle's ``workers``.
PUSH_WORKERS = 8

#: A claimed batch: its (target id, target) pairs, its checks being fetched, its time.
_Batch = tuple[list[tuple[int, Target]], Future[list[Observation]], float]


@dataclass(kw_only=True)
class CycleReport(JudgeReport):
    """What one poll cycle did: the judging's figures, and the cycle's own."""

    started_at: float
    duration: float = 0.0
    targets: int = 0
    failed_checks: int = 0


class Poller:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tencent: TencentClient,
        *,
        names: GroupNames,
        clock: Callable[[], float] = time.time,
        interval: float = 60.0,
        resync: float = 600.0,
        owner: str = "local",
        batch: int = 250,
        lease_seconds: float = LeasePolicy().targets,
        workers: int = 32,
        error_after: int = rules.ERROR_AFTER,
        judge: Judge | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.interval = interval
        self.resync = max(resync, interval)
        self.owner = owner
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.tencent = tencent
        self.names = names
        self.clock = clock
        self.judge = judge or Judge(sessions, names, error_after=error_after)
        self.metrics = metrics if metrics is not None else Metrics()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll")
        self._fetcher = ThreadPoolExecutor(
            max_workers=BATCHES_AHEAD, thread_name_prefix="poll-batch"
        )
        self._push_pool = ThreadPoolExecutor(max_workers=PUSH_WORKERS, thread_name_prefix="push")
        self._stopping = threading.Event()
        self._cycle = threading.Lock()  # held while a cycle runs
        self._pushed = threading.Lock()  # held while run_pushed runs
        self._warned_unshared_at: float | None = None

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Claim nothing more, and wait up to ``timeout`` s for a running cycle (and push
        lane) to finish the batches it has claimed; True once neither runs. (Leases of a
        cycle cut short run out, and the targets are taken over: nothing is lost.)"""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for running in (self._cycle, self._pushed):
            if not running.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                return False
            running.release()
        return True

    def close(self) -> None:
        self._stopping.set()
        self._fetcher.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._push_pool.shutdown(wait=True, cancel_futures=True)

    # -- the cycle -------------------------------------------------------------

    def run_cycle(
        self, *, asked: bool = True, wrote_outbox: Callable[[], None] | None = None
    ) -> CycleReport:
        """Check every due target once (claiming it first), and judge its watches;
        ``asked``: the checks callbacks asked for too (False where ``run_pushed`` runs
        them); ``wrote_outbox`` is called after each batch that wrote alert messages.

        Several replicas may run this at once on PostgreSQL: each claims a different
        batch of due targets (``FOR UPDATE SKIP LOCKED``), so the work is shared and
        every target is checked once per interval.
        """
        with self._cycle:
            try:
                report = self._run_cycle("any" if asked else "scheduled", wrote_outbox)
            except Exception:
                self.metrics.poll_cycle_failures.inc()
                raise
        self._count(report)
        return report

    def _count(self, report: CycleReport) -> None:
        metrics = self.metrics
        if report.targets:
            metrics.poll_cycle_seconds.observe(report.duration)
            metrics.poll_targets_checked.labels("ok").inc(report.targets - report.failed_checks)
            metrics.poll_targets_checked.labels("failed").inc(report.failed_checks)
        metrics.poll_cycle_last_completed.set(self.clock())

    def _run_cycle(self, due: targets.Due, wrote_outbox: Callable[[], None] | None) -> CycleReport:
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
        claiming = self._top_up(upcoming, started, due)
        while upcoming:
            claimed, fetching, now = upcoming.popleft()
            observations = fetching.result()
            claiming = claiming and self._top_up(upcoming, started, due)
            self._conclude(claimed, observations, now, report, wrote_outbox)
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
        others = targets.held_by_others(self.sessions, owner=self.owner, now=now)
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

    def _top_up(self, upcoming: deque[_Batch], started: float, due: targets.Due) -> bool:
        """Claim batches until ``BATCHES_AHEAD`` are fetching; False once none is left."""
        while len(upcoming) < BATCHES_AHEAD:
            batch = self._next_batch(started, due)
            if batch is None:
                return False
            upcoming.append(batch)
        return True

    def _next_batch(self, started: float, due: targets.Due) -> _Batch | None:
        """Claim the next batch of due targets and start fetching it.

        Targets that fall due during the run are taken too (so none waits for the next
        tick), but a run stops claiming after one interval, so that it ends, and none
        once the poller is stopping."""
        if time.monotonic() - started >= self.interval or self._stopping.is_set():
            return None
        now = self.clock()
        claimed = self.claim(now, due=due)
        if not claimed:
            return None
        batch = [target for _, target in claimed]
        return claimed, self._fetcher.submit(self.check_targets, batch, now), now

    def _conclude(
        self,
        claimed: Sequence[tuple[int, Target]],
        observations: Sequence[Observation],
        now: float,
        report: CycleReport,
        wrote_outbox: Callable[[], None] | None,
    ) -> None:
        """Judge a fetched batch, say so if it wrote alert messages, release it."""
        report.targets += len(claimed)
        report.failed_checks += sum(1 for o in observations if o.error)
        judged = self.judge.judge(observations, now, recorded=True)
        report.add(judged)
        if judged.notifications and wrote_outbox is not None:
            wrote_outbox()  # delivered while this batch is released and the next judged
        self.complete(claimed, observations, judged, now)

    # -- the push lane -------------------------------------------------------------

    def run_pushed(self, *, wrote_outbox: Callable[[], None] | None = None) -> CycleReport:
        """Run the checks callbacks asked for that are due, ``PUSH_BATCH`` at a time on a
        pool of their own: beside a long cycle (``run_cycle(asked=False)``) none waits
        behind its batches, nor for it to end. Claims until none is left, for one
        interval at most, and nothing once the poller is stopping."""
        with self._pushed:
            started = time.monotonic()
            report = CycleReport(started_at=self.clock())
            while not self._stopping.is_set() and time.monotonic() - started < self.interval:
                now = self.clock()
                claimed = self.claim(now, due="asked", limit=PUSH_BATCH)
                if not claimed:
                    break
                observations = self._check([t for _, t in claimed], now, self._push_pool)
                self._conclude(claimed, observations, now, report, wrote_outbox)
            report.duration = time.monotonic() - started
        checked = self.metrics.poll_targets_checked
        checked.labels("ok").inc(report.targets - report.failed_checks)
        checked.labels("failed").inc(report.failed_checks)
        return report

    # -- the stages, as this poller's replica does them --------------------------

    def sync_targets(self, *, due_at: float | None = None) -> None:
        """One target per watched (group, mark): add new ones (due at ``due_at``, default
        now), drop unwatched ones."""
        targets.sync(self.sessions, due_at=self.clock() if due_at is None else due_at)

    def claim(
        self, now: float, *, due: targets.Due = "any", limit: int | None = None
    ) -> list[tuple[int, Target]]:
        """Lease up to ``limit`` (default ``batch``) due targets for this replica, in one
        atomic UPDATE."""
        return targets.claim(
            self.sessions,
            now=now,
            owner=self.owner,
            lease=self.lease_seconds,
            limit=self.batch if limit is None else limit,
            due=due,
        )

    def complete(
        self,
        claimed: Sequence[tuple[int, Target]],
        observations: Sequence[Observation],
        judged: JudgeReport,
        claimed_at: float,
    ) -> None:
        """Release the leases; each target is next due one interval after this check (or
        one resync interval, while push keeps watch; see ``targets.complete``)."""
        values = {o.target: o.value for o in observations}
        targets.complete(
            self.sessions,
            [
                targets.Checked(target_id, values.get(target), judged.quiet.get(target))
                for target_id, target in claimed
            ],
            owner=self.owner,
            claimed_at=claimed_at,
            interval=self.interval,
            resync=self.resync,
            checked_at=self.clock(),
        )

    def check_targets(self, batch: Sequence[Target], now: float) -> list[Observation]:
        """Fetch every target concurrently; store one sample each."""
        return self._check(batch, now, self._pool)

    def _check(
        self, batch: Sequence[Target], now: float, pool: ThreadPoolExecutor
    ) -> list[Observation]:
        values = pool.map(self._fetch, batch)
        observations = [
            Observation(t.group_id, t.mark, value, error, now)
            for t, (value, error) in zip(batch, values, strict=True)
        ]
        self.judge.record(observations)
        return observations

    def _fetch(self, target: Target) -> tuple[int | None, str | None]:
        with log_context(group_id=target.group_id):  # on whatever the check logs
            return fetch_value(self.tencent, target)

    def prune(self, older_than_days: int) -> int:
        """Delete samples older than ``older_than_days``; returns how many."""
        cutoff = to_dt(self.clock() - timedelta(days=older_than_days).total_seconds())
        assert cutoff is not None
        with self.sessions.begin() as session:
            return samples.prune(session, cutoff)
