"""Benchmark: how soon an alert's chart follows its alert, and whether charts delay alerts.

The bot's alerting parts run here as ``online-bot run`` runs them (``open_alerting``:
the poller, the text deliverer, the chart deliverer drawing in a drawing process of its
own, ``bot.drawing.ChartDrawer``, started with the first chart), over a SQLite file, the
simulator in-process and the fake Slack over loopback. This thread plays the poll job
(a cycle, then the outbox delivered at once); the chart loop runs in its own thread
(``run_chart_loop``).
Each watch is ``below 100`` on a group of its own, in a channel of its own, with an
hour of checks stored before it fires.

1. **One alert at a time** (``--alerts`` rounds): from the alert's chat.postMessage to
   its chart's files.completeUploadExternal (the target: within 5 s).
2. **An alert while another's chart is drawn**: channel A fires; as soon as A's alert is
   posted, B fires; B's time from the cycle's end to its post, against the same with no
   chart in flight (measured first).
3. **A burst** (``--burst`` alerts in one cycle): when the last alert was posted, and
   when the first and the last chart arrived.

    .venv/bin/python bench/bench_alert_charts.py [--alerts 10] [--burst 20]

Not a test: it prints figures (and the machine's load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from sqlalchemy import update
from support.fakeslack import FakeSlack

from bot.commands.grammar import parse
from bot.drawing import ChartDrawer
from bot.scheduler import run_chart_loop
from bot.settings import load_settings
from bot.simulator import Faults, Scenario, Simulator
from bot.slack.poster import SlackPoster, poster_client
from bot.store.models import SampleRow, TargetRow
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Actor
from bot.wiring import open_alerting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} (1, 5 min)")
    groups = args.alerts + 3 + args.burst
    with (
        Simulator(Scenario(cache_seconds=0, groups=[], faults=Faults())).start() as sim,
        FakeSlack() as fake,
        tempfile.TemporaryDirectory() as folder,
    ):
        client = TencentClient(
            sdkappid=sim.scenario.sdkappid,
            secret_key=sim.scenario.secret_key,
            base_url=sim.url,
            rate_limits=RateLimits(200),
        )
        poster = SlackPoster(poster_client("xoxb-bench", fake.api_url))
        database = f"sqlite:///{Path(folder) / 'bench.db'}"
        drawer = ChartDrawer()
        settings = load_settings({})
        with open_alerting(
            settings, client, database, poster, poll_interval=60, draw=drawer.png
        ) as bot:
            assert bot.charts is not None
            started = time.monotonic()
            for i in range(groups):
                group = f"@TGS#bench{i:03d}"
                sim.add_group(group, f"Room {i}", "AVChatRoom")
                sim.set_audience(group, 500)
                bot.watches.create(parse(f"watch {group} below 100"), Actor("U1", f"C{i:03d}"))
            _an_hour_of_checks(bot.sessions, groups)
            stopped = threading.Event()
            loop = threading.Thread(target=run_chart_loop, args=(bot.charts, stopped))
            loop.start()
            try:
                print(f"setup (watches, samples): {time.monotonic() - started:.1f}s")
                _one_at_a_time(bot, sim, fake, args.alerts)
                _while_a_chart_draws(bot, sim, fake, args.alerts)
                _burst(bot, sim, fake, args.alerts + 3, args.burst)
            finally:
                stopped.set()
                loop.join()
        drawer.close()
        client.close()
    print(f"load after: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} (1, 5 min)")


def _an_hour_of_checks(sessions, groups: int) -> None:
    now = time.time()
    with sessions.begin() as session:
        session.add_all(
            SampleRow(
                group_id=f"@TGS#bench{i:03d}",
                mark=None,
                taken_at=datetime.fromtimestamp(now - 60 * k, UTC),
                value=500 + (k % 7) * 3,
            )
            for i in range(groups)
            for k in range(1, 61)
        )


def _fire(bot, sim, groups: list[int]) -> float:
    """Drop these groups, check them (a poll cycle), deliver the alerts: the cycle's end."""
    for i in groups:
        sim.set_audience(f"@TGS#bench{i:03d}", 10)
    _make_due(bot, groups)
    bot.poller.run_cycle()
    ended = time.monotonic()
    bot.deliverer.deliver_due()
    return ended


def _make_due(bot, groups: list[int]) -> None:
    with bot.sessions.begin() as session:
        session.execute(
            update(TargetRow)
            .where(TargetRow.group_id.in_([f"@TGS#bench{i:03d}" for i in groups]))
            .values(next_due_at=datetime.now(UTC))
        )


def _post_time(fake: FakeSlack, channel: str) -> float:
    (call,) = [c for c in fake.calls("chat.postMessage") if c.params["channel"] == channel]
    return call.time


def _chart_time(fake: FakeSlack, channel: str, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            c
            for c in fake.calls("files.completeUploadExternal")
            if c.params.get("channel_id") == channel
        ]
        if found:
            return found[0].time
        time.sleep(0.01)  # a bench waiting for a figure, not a test's synchronisation
    raise SystemExit(f"no chart in {channel} within {timeout:g}s")


def _one_at_a_time(bot, sim, fake: FakeSlack, alerts: int) -> None:
    waits = []
    for i in range(alerts):
        _fire(bot, sim, [i])
        channel = f"C{i:03d}"
        waits.append(_chart_time(fake, channel) - _post_time(fake, channel))
    print(
        f"1. alert -> its chart ({alerts} alerts, one at a time): median "
        f"{statistics.median(waits):.2f}s, max {max(waits):.2f}s, first {waits[0]:.2f}s"
    )


def _while_a_chart_draws(bot, sim, fake: FakeSlack, first: int) -> None:
    a, b, alone = first, first + 1, first + 2
    ended = _fire(bot, sim, [alone])
    quiet = _post_time(fake, f"C{alone:03d}") - ended
    _chart_time(fake, f"C{alone:03d}")
    _fire(bot, sim, [a])
    ended = _fire(bot, sim, [b])
    busy = _post_time(fake, f"C{b:03d}") - ended
    a_chart = _chart_time(fake, f"C{a:03d}")
    print(
        f"2. an alert's post after its cycle: {quiet * 1000:.0f} ms with no chart in flight, "
        f"{busy * 1000:.0f} ms while another's chart was drawn (that chart arrived "
        f"{a_chart - _post_time(fake, f'C{a:03d}'):.2f}s after its alert)"
    )


def _burst(bot, sim, fake: FakeSlack, first: int, burst: int) -> None:
    groups = list(range(first, first + burst))
    ended = _fire(bot, sim, groups)
    posts = [_post_time(fake, f"C{i:03d}") - ended for i in groups]
    charts = [_chart_time(fake, f"C{i:03d}", timeout=120) - ended for i in groups]
    print(
        f"3. a burst of {burst} alerts: last alert posted {max(posts):.2f}s after the "
        f"cycle; charts from {min(charts):.2f}s to {max(charts):.2f}s "
        f"({burst / (max(charts) - min(posts)):.1f} charts/s)"
    )


if __name__ == "__main__":
    main()
