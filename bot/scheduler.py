"""The in-process triggers (APScheduler 3.x): poll, deliver, prune.

- poll: checks the targets that are due (each one is due once per POLL_INTERVAL,
  whichever replica claims it); it ticks every POLL_TICK seconds at most, so a due
  target waits little; every PUSH_TICK with push on, so that a check a callback asked
  for runs within a second of its time. Never two at once (max_instances=1); ticks missed while the
  machine slept or the process was down are coalesced into one, not replayed.
  Right after a cycle, the outbox is delivered.
- deliver: every few seconds, for retries and messages left by a restart.
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

__all__ = ["CHARTS_EVERY", "DELIVER_EVERY", "DIGEST_EVERY", "run_chart_loop", "start_scheduler"]

log = logging.getLogger(__name__)

DELIVER_EVERY = 5
#: A digest goes out within this many seconds of its time.
DIGEST_EVERY = 20
CHARTS_EVERY = 1
POLL_TICK = 5
PUSH_TICK = 1


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
    """Start the jobs; ``prompt``: push is on, tick every PUSH_TICK."""
    stopped = threading.Event()
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )

    def poll() -> None:
        try:
            report = poller.run_cycle()
        except Exception:
            log.exception("poll cycle failed")
            return
        if not report.targets:
            deliver()
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
        deliver()

    def deliver() -> None:
        try:
            deliverer.deliver_due()
        except Exception:
            log.exception("delivering alerts failed; will retry")

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
            deliver()

    tick = min(interval, PUSH_TICK if prompt else POLL_TICK)
    scheduler.add_job(poll, IntervalTrigger(seconds=tick), id="poll", next_run_time=_now())
    scheduler.add_job(deliver, IntervalTrigger(seconds=DELIVER_EVERY), id="deliver")
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
