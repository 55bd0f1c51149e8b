"""Benchmark: one ``/online history`` read alone (bot.alerts.history.HistoryReader.read).

A database (a SQLite file, and PostgreSQL when ``--postgres URL`` names one: a database
that does not exist yet is created and dropped afterwards) with 7 days of 1-minute samples
of one group (10,080, some failed checks) and a watch on it with a resolved incident. Each
span (24 hours: 1,440 samples; 7 days: 10,080) is read ``--reads`` times; prints the
p50/p99/max of this thread's CPU and of the wall time per read, and the load average
(other processes' load shows in the wall time, hardly in the CPU).

    .venv/bin/python bench/bench_history_read.py [--reads 50]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_history_read]

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from support.benchdb import scratch_database

from bot.alerts.history import HistoryReader
from bot.store import make_engine, session_factory, upgrade
from bot.store.models import Outbox, SampleRow, Watch

GROUP = "@TGS#bench-read"
WEEK = 7 * 24 * 60
SPANS = (("24 hours", 86_400, 1440), ("7 days", 7 * 86_400, WEEK))


def prepare(url: str, now: float) -> None:
    """The schema, a week of samples (one failed check in 500), a watch, an incident."""
    from sqlalchemy import insert

    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(3)
    with session_factory(engine).begin() as session:
        rows = []
        for i in range(WEEK):
            failed = rng.random() < 0.002
            rows.append(
                {
                    "group_id": GROUP,
                    "mark": None,
                    # microseconds, as the poller's clock gives them
                    "taken_at": datetime.fromtimestamp(now - 60 * (WEEK - i) + rng.random(), UTC),
                    "value": None if failed else rng.randint(500, 5000),
                    "error": "the check failed" if failed else None,
                }
            )
        session.execute(insert(SampleRow), rows)
        watch = Watch(
            channel_id="C1", group_id=GROUP, mark=None, rule_kind="below", threshold=10,
            recover=20, created_by="U0",
        )  # fmt: skip
        session.add(watch)
        session.flush()
        for kind, minutes_ago in (("firing", 600), ("resolved", 560)):
            session.add(
                Outbox(
                    watch_id=watch.id, incident_id="bench", kind=kind, dedup_key=f"bench-{kind}",
                    channel_id="C1", payload={"text": kind}, status="delivered",
                    created_at=datetime.fromtimestamp(now - 60 * minutes_ago, UTC),
                )
            )  # fmt: skip
    engine.dispose()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return (
        f"p50 {1000 * cuts[49]:6.1f}  p99 {1000 * cuts[98]:6.1f}  max {1000 * ordered[-1]:6.1f} ms"
    )


def bench(label: str, url: str, reads: int) -> None:
    now = time.time()
    prepare(url, now)
    engine = make_engine(url)
    reader = HistoryReader(session_factory(engine), clock=lambda: now)
    print(f"\n== {label}")
    for name, seconds, expected in SPANS:
        got = len(reader.read(GROUP, None, seconds, "C1").points)  # warm: caches, the pool
        assert got == expected, (got, expected)
        cpus, walls = [], []
        for _ in range(reads):
            started, cpu = time.perf_counter(), time.thread_time()
            reader.read(GROUP, None, seconds, "C1")
            cpus.append(time.thread_time() - cpu)
            walls.append(time.perf_counter() - started)
        print(f"   {name:8} ({expected:>6,} samples)  CPU  {percentiles(cpus)}")
        print(f"   {'':8}  {'':15}  wall {percentiles(walls)}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure too")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-read-") as tmp:
        with scratch_database(None, Path(tmp)) as url:
            bench("SQLite", url, args.reads)
        if args.postgres:
            with scratch_database(args.postgres, Path(tmp)) as url:
                bench("PostgreSQL", url, args.reads)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
