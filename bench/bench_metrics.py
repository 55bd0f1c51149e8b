"""Benchmark: GET /metrics with 5,000 watched targets, as Prometheus scrapes it.

A migrated database (a SQLite file in a temporary directory, or ``--database-url``) gets
N watched groups (one ``below 100`` watch each over 50 channels, a tenth of them also
watched for mark 1000, so N x 1.1 targets), every target checked (its last count set),
a spread of watch states (firing, pending, error, muted, paused) and a backlog of pending
alert messages. The bot's own ``Metrics`` serves them exactly as ``online-bot run`` does:
``DatabaseFigures`` on the bot's database, the counters filled as a day of work would
(every Tencent API and outcome, Slack methods, callbacks), ``metrics_app`` on waitress
(``bot.httpserver``). Another process (as Prometheus is) scrapes it ``--scrapes`` times over
loopback HTTP, one every
``--every`` seconds (50 ms: the run spans several of the figures' readings, which a thread
makes every 5 s while the bot is scraped, so scrapes meet them), as Prometheus does
(``Accept-Encoding: gzip``), and once without compression for the size.

Prints the scrape latency (p50, p90, p99, max; in the server too), the CPU a scrape costs
(server and client), the readings of the database made meanwhile and their duration, the
body's size (plain and gzipped) and the series it holds.

Targets: p99 < 100 ms and a body under 1 MB (uncompressed).

    .venv/bin/python bench/bench_metrics.py [--targets 5000] [--scrapes 200] [--every 0.05]
        [--database-url URL]

``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_metrics`` creates that
database when it does not exist (and drops it afterwards). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_poll import scratch_database

from bot.alerts.mapping import to_dt
from bot.httpserver import http_server, routes_app, stop_http_server
from bot.metrics import METRICS_PATH, Metrics, metrics_app
from bot.slack.transport import settle_memory
from bot.store.db import make_engine, safe_url, session_factory, upgrade
from bot.store.figures import DatabaseFigures
from bot.store.models import (
    NO_MARK,
    AlertStateRow,
    Outbox,
    TargetRow,
    Watch,
)

TARGET_P99_MS = 100.0
TARGET_BODY_BYTES = 1_000_000
CHANNELS = 50
MARK = 1000
MARKED_EVERY = 10  # one group in ten is also watched for MARK
PENDING_MESSAGES = 200
#: Each state's share of the watches, by index: every 10th firing, 25th pending...
STATES = (("firing", 10), ("pending", 25), ("error", 50))


def group_id(index: int) -> str:
    return f"@TGS#{index:08d}AB"  # 15 characters, as Tencent's generated IDs


def fill(sessions: sessionmaker[Session], groups: int, now: float) -> int:
    """The watches, their states, their targets (checked) and a backlog; the number of
    targets."""
    at = to_dt(now)
    watches, states, targets = [], [], []
    watch_id = 0
    for i in range(groups):
        marks = [None, MARK] if i % MARKED_EVERY == 0 else [None]
        for mark in marks:
            watch_id += 1
            status = next((name for name, every in STATES if i % every == 0), "ok")
            watches.append(
                {
                    "id": watch_id,
                    "channel_id": f"C{1 + i % CHANNELS}",
                    "group_id": group_id(i),
                    "mark": mark,
                    "rule_kind": "below",
                    "threshold": 100,
                    "for_seconds": 0,
                    "created_by": "UBENCH",
                    "created_at": at,
                }
            )
            states.append({"watch_id": watch_id, "status": status})
            targets.append(
                {
                    "group_id": group_id(i),
                    "mark_key": NO_MARK if mark is None else mark,
                    "next_due_at": to_dt(now + 60),
                    "last_checked_at": at,
                    "last_value": 100 + (i * 37) % 5000,
                }
            )
    with sessions.begin() as session:
        session.execute(insert(Watch), watches)
        session.execute(insert(AlertStateRow), states)
        session.execute(insert(TargetRow), targets)
        session.execute(
            update(Watch).where(Watch.id % 40 == 0).values(muted_until=to_dt(now + 3600))
        )
        session.execute(
            update(Watch).where(Watch.id % 97 == 0).values(paused_reason="not_in_channel")
        )
        session.execute(
            insert(Outbox),
            [
                {
                    "watch_id": 1 + n,
                    "incident_id": f"inc-{n}",
                    "kind": "firing",
                    "dedup_key": f"bench-{n}",
                    "channel_id": "C1",
                    "payload": {"text": "x"},
                    "created_at": to_dt(now - 30 - n),
                    "next_attempt_at": to_dt(now + 60),
                }
                for n in range(PENDING_MESSAGES)
            ],
        )
    if sessions.kw["bind"].dialect.name == "postgresql":
        with sessions.kw["bind"].connect() as connection:  # as autovacuum does after a load
            connection.execute(text("ANALYZE"))
            connection.commit()
    return len(targets)


def busy_day(metrics: Metrics) -> None:
    """The counters as after a day of work: every series a bot makes, with its counts."""
    apis = (
        "group_open_http_svc/get_online_member_num",
        "million_group_open_http_svc/get_online_member_num",
        "group_open_avchatroom_http_svc/get_members",
        "group_open_avchatroom_http_svc/check_members",
        "group_open_http_svc/get_group_info",
    )
    outcomes = ("ok", "api_error", "busy", "http_error", "no_answer", "malformed", "throttled")
    for api in apis:
        for outcome in outcomes:
            metrics.tencent_requests.labels(api, outcome).inc(1000)
        for seconds in (0.02, 0.05, 0.3):
            metrics.tencent_request_seconds.labels(api).observe(seconds)
        for priority in ("interactive", "background"):
            metrics.tencent_rate_limit_wait_seconds.labels(api, priority).observe(0.004)
    methods = ("auth.test", "chat.postMessage", "chat.update", "conversations.history")
    for method in methods:
        for outcome in ("ok", "error", "ratelimited", "server_error", "unreadable", "no_answer"):
            metrics.slack_calls.labels(method, outcome).inc(10)
    for outcome, status in (("accepted", 200), ("ignored", 200), ("refused", 401)):
        metrics.tencent_callbacks.labels(outcome, str(status)).inc(50)
    metrics.poll_cycle_seconds.observe(26.0)
    metrics.poll_interval.set(60)
    metrics.poll_cycle_last_completed.set(time.time())


class TimedFigures(DatabaseFigures):
    """The bot's figures, each reading of the database timed (ms)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.readings: list[float] = []

    def read(self) -> str:
        started = time.perf_counter()
        try:
            return super().read()
        finally:
            self.readings.append((time.perf_counter() - started) * 1000)


#: Prometheus's part, in a process of its own (as Prometheus is): GET with gzip, timed (ms).
SCRAPER = """
import json, sys, time, requests
url, scrapes, every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
latencies = []
with requests.Session() as http:
    for _ in range(scrapes):
        time.sleep(every)
        started = time.perf_counter()
        answer = http.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200 and answer.content
print(json.dumps(latencies))
"""


def scrape(url: str, scrapes: int, every: float) -> list[float]:
    """``scrapes`` scrapes of ``url``, one every ``every`` seconds, by another process."""
    command = [sys.executable, "-c", SCRAPER, url, str(scrapes), str(every)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    return [float(ms) for ms in json.loads(done.stdout)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=5000, help="watched groups (~targets)")
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--every", type=float, default=0.05, help="seconds between scrapes")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    groups = max(1, round(args.targets / (1 + 1 / MARKED_EVERY)))

    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.database_url, Path(tmp)) as url,
    ):
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        now = time.time()
        targets = fill(sessions, groups, now)
        metrics = Metrics()
        busy_day(metrics)
        figures = TimedFigures(sessions)
        metrics.watch_database(figures)
        settle_memory()  # as `online-bot run` does before it serves
        served: list[float] = []
        app = metrics_app(metrics)

        def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            started = time.perf_counter()
            try:
                return app(environ, start_response)
            finally:
                served.append((time.perf_counter() - started) * 1000)

        server = http_server(routes_app({METRICS_PATH: timed}), "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        scrape_url = f"http://127.0.0.1:{server.effective_port}{METRICS_PATH}"
        try:
            with requests.Session() as http:
                plain = http.get(scrape_url, headers={"Accept-Encoding": "identity"}, timeout=30)
                gzipped = http.get(scrape_url, headers={"Accept-Encoding": "gzip"}, stream=True)
                gzipped_size = len(gzipped.raw.read())
            served.clear()
            figures.readings.clear()
            used = time.process_time()
            latencies = scrape(scrape_url, args.scrapes, args.every)
            cpu = time.process_time() - used  # the server's: scrapes and readings
            readings = list(figures.readings)
        finally:
            stop_http_server(server)
            thread.join(timeout=10)
            figures.close()
            engine.dispose()

    body = plain.content
    audiences = body.count(b"\nonline_bot_watched_online_members{")
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    p99 = percentile(latencies, 0.99)
    print(f"database: {safe_url(url)}, {targets} targets ({groups} groups, {audiences} audiences)")
    print(
        f"scrape ({args.scrapes}, gzip): p50 {statistics.median(latencies):.1f} ms, "
        f"p90 {percentile(latencies, 0.9):.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms"
    )
    print(
        f"  in the server: p50 {statistics.median(served):.1f} ms, p99 "
        f"{percentile(served, 0.99):.1f} ms; the server's CPU, readings included, "
        f"{cpu / args.scrapes * 1000:.1f} ms a scrape"
    )
    if readings:
        print(
            f"readings of the database meanwhile (a thread, every 5 s): {len(readings)}, "
            f"p50 {statistics.median(readings):.1f} ms, max {max(readings):.1f} ms"
        )
    print(
        f"body: {len(body):,} bytes plain ({len(body) / 1e6:.2f} MB), {gzipped_size:,} gzipped; "
        f"{series:,} series"
    )
    ok = p99 < TARGET_P99_MS and len(body) < TARGET_BODY_BYTES
    print(f"targets: p99 < {TARGET_P99_MS:.0f} ms, body < 1 MB: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
