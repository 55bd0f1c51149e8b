"""Benchmark: the App Home with thousands of watches, from the event to the published view.

The bot side runs here over a migrated database (a SQLite file in a temporary
directory, or ``--database-url``) holding N watches (``below 100``, spread over C
channels, one group each) with their alert states and 20 samples per group, and
the simulator in-process (its groups named, so the names of a page's groups are
asked of Tencent as after a restart). Two measures:

1. ``AppHome.view(page)`` alone, every page in turn (at most ``--pages`` of them,
   spread evenly), ``--rounds`` times: what one
   Home costs the bot (list every watch by a few columns, page, read the page's
   watches with their names and samples, render), with the view's blocks, JSON size
   and text; and the listing alone.
2. The running app (HTTP mode, waitress and bolt, as ``online-bot run`` serves it)
   answering signed ``app_home_opened`` events one after another, each timed from
   the event sent to the views.publish the fake Slack receives.

Targets: a Home published within 1 s (p99) with 5,000 watches, every page within
100 blocks.

    .venv/bin/python bench/bench_home.py [--watches 5000] [--channels 50]
        [--rounds 3] [--pages 150] [--opens 50] [--database-url URL]

``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_home`` creates
that database when it does not exist (and drops it afterwards). Not a test: it prints
figures. A run takes about a minute (5,000 watches; 50,000: two, with --rounds 1).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_poll import scratch_database
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from support.fakeslack import FakeSlack
from support.slackapp import start_app

from bot.alerts.mapping import to_dt
from bot.alerts.names import GroupNames
from bot.handlers import OnlineHandlers
from bot.home import AppHome
from bot.render.blocks import text_chars
from bot.simulator import Faults, Scenario, Simulator
from bot.store.db import make_engine, session_factory, upgrade
from bot.store.models import AlertStateRow, SampleRow, Watch
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Watches

TARGET_P99_SECONDS = 1.0
SAMPLES = 20


def group_id(index: int) -> str:
    return f"@TGS#home-{index:05d}"


def insert_watches(engine_url: str, watches: int, channels: int, now: float) -> None:
    engine = make_engine(engine_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.execute(
            insert(Watch),
            [
                {
                    "channel_id": f"C{1 + i % channels:05d}",
                    "group_id": group_id(i),
                    "rule_kind": "below",
                    "threshold": 100,
                    "for_seconds": 0,
                    "created_by": "UBENCH",
                    "created_at": to_dt(now),
                }
                for i in range(watches)
            ],
        )
        ids = session.scalars(select(Watch.id).order_by(Watch.id)).all()
        session.execute(
            insert(AlertStateRow),
            [
                {
                    "watch_id": watch_id,
                    "status": "firing" if watch_id % 50 == 0 else "ok",
                    "last_value": 40 if watch_id % 50 == 0 else 400,
                    "last_checked_at": to_dt(now - 30),
                }
                for watch_id in ids
            ],
        )
        for start in range(0, watches, 1000):
            session.execute(
                insert(SampleRow),
                [
                    {
                        "group_id": group_id(i),
                        "mark": None,
                        "taken_at": to_dt(now - 60 * (SAMPLES - k)),
                        "value": 300 + (i * 7 + k * 13) % 200,
                    }
                    for i in range(start, min(start + 1000, watches))
                    for k in range(SAMPLES)
                ],
            )
    engine.dispose()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label}: p50 {statistics.median(ms):.0f} ms, p99 {quantile(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms ({len(ms)} runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="times every page is built")
    parser.add_argument("--pages", type=int, default=150, help="pages built at most, spread")
    parser.add_argument("--opens", type=int, default=50, help="app_home_opened events sent")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)

    print(
        f"{platform.python_implementation()} {platform.python_version()}, {args.watches:,} "
        f"watches over {args.channels:,} channels"
    )
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with tempfile.TemporaryDirectory() as tmp, Simulator(scenario).start() as sim:
        for i in range(args.watches):
            sim.add_group(group_id(i), f"Home {i}", "AVChatRoom")
        with scratch_database(args.database_url, Path(tmp)) as url:
            upgrade(url)
            now = time.time()
            insert_watches(url, args.watches, args.channels, now)
            engine = make_engine(url)
            tencent = TencentClient(
                sdkappid=sim.scenario.sdkappid,
                secret_key=sim.scenario.secret_key,
                base_url=sim.url,
                rate_limits=RateLimits(sim.scenario.rate_limit),
            )
            names = GroupNames(tencent)
            watches = Watches(session_factory(engine), tencent, names)
            handlers = OnlineHandlers(tencent, watches)
            home = AppHome(handlers)
            try:
                pages = home_pages(home)
                built = sorted(
                    {n * pages // min(pages, args.pages) for n in range(min(pages, args.pages))}
                )
                builds, blocks, sizes, texts = [], [], [], []
                for _ in range(args.rounds):
                    for page in built:
                        started = time.perf_counter()
                        view = home.view(page)
                        builds.append(time.perf_counter() - started)
                        blocks.append(len(view["blocks"]))
                        sizes.append(len(json.dumps(view)))
                        texts.append(text_chars(view["blocks"]))
                started = time.perf_counter()
                every = watches.listing()
                read = time.perf_counter() - started
                print(f"pages: {pages} ({len(every):,} watches listed in {read * 1000:.0f} ms)")
                print(figures(f"AppHome.view, {len(built)} of {pages} pages", builds))
                print(
                    f"views: blocks max {max(blocks)} (limit 100), JSON max "
                    f"{max(sizes) / 1024:.1f} KiB, text max {max(texts):,} characters"
                )
                published = opened(sim, watches, args.opens)
                print(figures("app_home_opened -> views.publish (HTTP mode)", published))
            finally:
                handlers.close()
                tencent.close()
                engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")
    p99 = quantile(published, 0.99)
    ok = p99 <= TARGET_P99_SECONDS and max(blocks) <= 100
    print(f"target: p99 <= {TARGET_P99_SECONDS:.1f} s, <= 100 blocks: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def home_pages(home: AppHome) -> int:
    view = home.view(0)
    lines = [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    marked = [line for line in lines if line.startswith("Page 1 of ")]
    return int(marked[0].split()[3]) if marked else 1


def opened(sim: Simulator, watches: Watches, opens: int) -> list[float]:
    """Seconds from each signed app_home_opened to the views.publish that answers it."""
    times = []
    with FakeSlack() as fake:
        running, stop = start_app(sim, fake.api_url, watches)
        try:
            for n in range(1, opens + 1):
                started = time.perf_counter()
                running.open_home(user=f"U{n:05d}")
                fake.wait_for("views.publish", n, timeout=30)
                times.append(time.perf_counter() - started)
        finally:
            stop()
    return times


if __name__ == "__main__":
    sys.exit(main())
