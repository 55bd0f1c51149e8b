"""Make docs/history-chart.png, the chart the README shows, with the project itself.

A day of a live room's audience (quiet at night, an evening peak, a stream that
crashes at 20:30 and comes back, a few checks that failed) goes through the bot's own
parts: two watches created on the simulator's ``@TGS#demo-drop`` with ``/online
watch`` (bot.watches), then every minute's count judged (bot.alerts.judging: samples
stored, alerts fired and resolved into the outbox) in a SQLite file, and the chart
drawn from that database by the command line, ``online-bot history``.

    .venv/bin/python docs/make_history_chart.py [--out docs/history-chart.png]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.alerts.judging import Judge, Observation
from bot.alerts.names import GroupNames
from bot.commands.grammar import parse
from bot.simulator import Simulator, demo_scenario
from bot.store import make_engine, session_factory, upgrade
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Actor, Watches

GROUP = "@TGS#demo-drop"
ZONE = "Europe/Paris"
WATCHES = ("watch @TGS#demo-drop below 300 recover 350", "watch @TGS#demo-drop above 1600")


def audience(at: float, rng: random.Random) -> int | None:
    """The room's audience at ``at``, by the time of day in ZONE."""
    local = datetime.fromtimestamp(at, ZoneInfo(ZONE))
    hours = local.hour + local.minute / 60
    if 4 <= hours < 4.07:
        return None  # the checks failed (Tencent did not answer)
    apart = min(abs(hours - 21), 24 - abs(hours - 21))  # hours from 21:00, across midnight
    evening = math.exp(-((apart / 2.2) ** 2))  # the evening show
    value = 460 + 1250 * evening + rng.gauss(0, 16)
    if 20.5 <= hours < 20.7:  # the stream crashed; the audience came back after it
        value = 140 + rng.gauss(0, 8)
    return max(0, round(value))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("history-chart.png")))
    args = parser.parse_args(argv)
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix="history-chart-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        # The day starts 24 h before now, local midnight or not: the chart ends now.
        start = time.time() - 24 * 3600 + 60
        clock = Clock(start)
        with Simulator(demo_scenario()).start() as sim:
            scenario = sim.scenario
            tencent = TencentClient(
                sdkappid=scenario.sdkappid,
                secret_key=scenario.secret_key,
                admin=scenario.admin,
                base_url=sim.url,
                rate_limits=RateLimits(scenario.rate_limit),
            )
            names = GroupNames(tencent, clock=clock)
            watches = Watches(sessions, tencent, names, clock=clock)
            for text in WATCHES:
                watches.create(parse(text), Actor("UDEMO", "CDEMO"))  # checks at once
            judge = Judge(sessions, names)
            for minute in range(1, 24 * 60):
                clock.now = start + 60 * minute
                value = audience(clock.now, rng)
                error = "Tencent did not answer in time" if value is None else None
                observation = Observation(GROUP, None, value, error, clock.now)
                judge.judge([observation], clock.now)
            tencent.close()
        engine.dispose()
        env = {**os.environ, "DATABASE_URL": url}
        command = [sys.executable, "-m", "bot", "history", GROUP, "--range", "24h"]
        command += ["--tz", ZONE, "--out", args.out]
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
