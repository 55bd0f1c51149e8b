"""The in-process triggers (APScheduler 3.x): poll, push, deliver, prune.

- poll: checks the targets that are due (each one is due once per POLL_INTERVAL,
  whichever replica claims it); it ticks every POLL_TICK seconds at most, so a due
  target waits little (every PUSH_TICK with push on). Never two at once
  (max_instances=1); ticks missed while the machine slept or the process was down
  are coalesced into one, not replayed.
- push (with push on): every PUSH_TICK, the checks callbacks asked for
  (``Poller.run_pushed``), beside a poll cycle however long, so that one runs within
  a second of its time.
- deliver (a thread of its own, the ``Courier``): one delivery at a time, at once
  after a batch of checks wrote alert messages, and every DELIVER_EVERY seconds for
  retries and messages left by a restart.
- charts: every CHARTS_EVERY second, the charts of the alerts posted since, in a thread
  of their own (not a job: a chart taking longer than a tick is no missed run), stopped
  with the scheduler; a read when none is due.
- prune: once a day, samples older than HISTORY_DAYS.
- digest: every DIGEST_EVERY seconds (and at start), the channels' daily digests that are
  due are written to the outbox (bot/digest/service.py), then the outbox is delivered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.alerts.chart_delivery import ChartDeliverer
from bot.alerts.delivery import Deliverer
from bot.alerts.poller import Poller
from bot.digest.service import Digests

__all__ = [
    "CHARTS_EVERY",
    "DELIVER_EVERY",
    "DIGEST_EVERY",
    "Courier",
    "run_chart_loop",
    "start_scheduler",
]

log = logging.getLogger(__name__)

DELIVER_EVERY = 5
#: A digest goes out within this many seconds of its time.
DIGEST_EVERY = 20
CHARTS_EVERY = 1
POLL_TICK = 5
PUSH_TICK = 1


class Courier:
    """Delivers the outbox on a thread of its own, one delivery at a time: at once when
    woken (``wake``: a batch wrote alert messages), and every ``every`` seconds anyway.
    A wake during a delivery runs another one right after it (the messages it wrote
    may have come after that delivery's claim); so does a delivery that says more are
    due (``deliver`` returned True: it took as many as one delivery takes)."""

    def __init__(self, deliver: Callable[[], object], *, every: float = DELIVER_EVERY) -> None:
        self._deliver = deliver
        self._every = every
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deliver", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._woken.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Deliver no more (a delivery under way finishes); wait up to ``timeout`` s."""
        self._stopping.set()
        self._woken.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._woken.wait(self._every)
            if self._stopping.is_set():
                return
            self._woken.clear()
            try:
                if self._deliver() is True:
                    self._woken.set()
            except Exception:
                log.exception("delivering alerts failed; will retry")


def start_scheduler(
    poller: Poller,
    deliverer: Deliverer,
    *,
    charts: ChartDeliverer | None = None,
    interval: float,
    history_days: int,
    prompt: bool = False,
    on_cycle: Callable[[object], None] | None = None,
    digests: Digests | None = None,
) -> BackgroundScheduler:
    """Start the jobs; ``prompt``: push is on (the push job; poll ticks every PUSH_TICK)."""
    stopped = threading.Event()
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    courier = Courier(lambda: deliverer.deliver_due().more)
    scheduler.add_listener(lambda _: courier.stop(timeout=0), EVENT_SCHEDULER_SHUTDOWN)

    def poll() -> None:
        try:
            report = poller.run_cycle(asked=not prompt, wrote_outbox=courier.wake)
        except Exception:
            log.exception("poll cycle failed")
            return
        if not report.targets:
            return
        level = logging.WARNING if report.duration > 0.8 * interval else logging.INFO
        log.log(
            level,
            "poll cycle: %d watches, %d targets, %d failed checks, %d alerts, %.1fs%s",
            report.watches,
            report.targets,
            report.failed_checks,
            report.notifications,
            report.duration,
            " (slow: close to the poll interval)" if level == logging.WARNING else "",
        )
        if on_cycle is not None:
            on_cycle(report)

    def push() -> None:
        try:
            poller.run_pushed(wrote_outbox=courier.wake)
        except Exception:
            log.exception("checks callbacks asked for failed")

    def prune() -> None:
        try:
            removed = poller.prune(history_days)
            log.info("pruned %d samples older than %d days", removed, history_days)
        except Exception:
            log.exception("pruning samples failed")

    def digest() -> None:
        assert digests is not None
        try:
            written = digests.send_due()
        except Exception:
            log.exception("writing the due digests failed; will retry")
            return
        if written:
            courier.wake()

    tick = min(interval, PUSH_TICK if prompt else POLL_TICK)
    scheduler.add_job(poll, IntervalTrigger(seconds=tick), id="poll", next_run_time=_now())
    if prompt:
        scheduler.add_job(push, IntervalTrigger(seconds=PUSH_TICK), id="push")
    scheduler.add_job(prune, IntervalTrigger(days=1), id="prune", next_run_time=_now())
    if digests is not None:
        scheduler.add_job(
            digest, IntervalTrigger(seconds=DIGEST_EVERY), id="digest", next_run_time=_now()
        )
    scheduler.start()
    if charts is not None:
        loop = threading.Thread(target=run_chart_loop, args=(charts, stopped), name="charts")
        scheduler.add_listener(lambda _: stopped.set(), EVENT_SCHEDULER_SHUTDOWN)
        loop.daemon = True
        loop.start()
    return scheduler


def run_chart_loop(charts: ChartDeliverer, stopped: threading.Event) -> None:
    """Deliver the charts due every CHARTS_EVERY second, until ``stopped``."""
    while not stopped.wait(CHARTS_EVERY):
        try:
            charts.deliver_due()
        except Exception:
            log.exception("delivering alert charts failed; will retry")


def _now() -> datetime:
    return datetime.now().astimezone()
