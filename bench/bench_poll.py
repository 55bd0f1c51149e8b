"""Benchmark: poll cycles over 5,000 watched groups, against the rate-limit floor.

The simulator runs in its own process (20 ms added latency, 200 calls/s per API,
40 s member-list cache) with N groups whose audiences are steady; a share of them
(10 % by default) sit below the watches' threshold, so those watches fire. The bot
side runs here: a migrated database (a SQLite file in a temporary directory, or
``--database-url``), one watch per group (``below 100``, spread over 50 channels)
bulk-inserted with its alert state, then ``Poller.run_cycle()`` twice: the first
cycle fires the alerts (and asks Tencent for the name of every alerting group: the
names are unknown, as after a restart, unless ``--names-known``), the second runs
with history and state in place. The poller's clock is moved on by one poll
interval between cycles, so every target is due again without waiting for it.

Each cycle prints the ``CycleReport``, its check and judge phases, online-count
calls/s against the 200/s ceiling, evaluations per second, the alert messages and
the ``get_group_info`` calls their rendering made, SQL statements and commits, and
the peak RSS of this process.

Targets: each cycle within 1.1 x the time the client's rate limit needs for one call
per group (25.8 s for 5,000 groups at 198 calls per 1,020 ms: <= 28 s), and peak
RSS < 200 MB.

    .venv/bin/python bench/bench_poll.py [--groups 5000] [--firing-share 0.1]
        [--latency-ms 20] [--rate 200] [--cycles 2] [--database-url URL]
        [--names-known] [--sqlite-synchronous NORMAL] [--scrape-every 0] [--profile FILE]

``--scrape-every S`` serves the poller's and the client's metrics (GET /metrics, with the
database's figures, as ``run`` does) and scrapes them every S seconds during the cycles
(issue #13: serving metrics moves these figures by at most 3 %; compare with 0, the default).

``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_poll`` creates
that database when it does not exist (and drops it afterwards); an existing one must
hold no watches. Not a test: it prints figures. A run takes about a minute.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import platform
import pstats
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from clientlog import ClientLogCounter
from scraping import Scraper
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from support.benchdb import insert_watches, scratch_database
from support.processes import free_port, start_simulator, stop

from bot.alerts import rules
from bot.alerts.checks import Target
from bot.alerts.judging import Judge, JudgeReport, Observation
from bot.alerts.mapping import to_dt
from bot.alerts.names import GroupNames
from bot.alerts.poller import CycleReport, Poller
from bot.httpserver import http_server, routes_app, stop_http_server
from bot.metrics import METRICS_PATH, Metrics, metrics_app
from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY
from bot.store.db import make_engine, safe_url, session_factory, upgrade
from bot.store.figures import DatabaseFigures
from bot.store.models import Outbox, SampleRow, Watch
from bot.tencent.client import GET_GROUP_INFO, GET_ONLINE_MEMBER_NUM, TencentClient
from bot.tencent.ratelimit import WINDOW_MS, RateLimits, sustained_per_window

TARGET_RATIO = 1.1  # a cycle may take this much longer than the rate limit needs
TARGET_RSS_MB = 200.0
THRESHOLD = 100  # every watch is "below 100"
CHANNELS = 50
COUNT_API = GET_ONLINE_MEMBER_NUM[1]
INFO_API = GET_GROUP_INFO[1]


# --------------------------------------------------------------------------- the simulator


def group_id(index: int) -> str:
    return f"@TGS#poll-{index:05d}"


def fires(index: int, share: float) -> bool:
    """Whether group ``index`` sits below the threshold: exactly ``share`` of them, spread."""
    return int((index + 1) * share) > int(index * share)


def audience(index: int, share: float) -> int:
    """The steady audience of group ``index``: 40..89 when it fires, else 100..499."""
    return 40 + index % 50 if fires(index, share) else THRESHOLD + index % 400


def write_scenario(path: Path, groups: int, share: float, latency_ms: float, rate: int) -> None:
    scenario = {
        "sdkappid": DEMO_SDKAPPID,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "rate_limit": rate,
        "cache_seconds": 40,
        "faults": {"latency_ms": latency_ms},
        "groups": [
            {"group_id": group_id(i), "name": f"Poll {i}", "steady": audience(i, share)}
            for i in range(groups)
        ],
    }
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")


# --------------------------------------------------------------------------- the database


def insert_poll_watches(engine: Engine, groups: int, now: float) -> None:
    """One ``below 100`` watch per group, channel C1..C50, each with an OK alert state."""
    insert_watches(
        engine,
        [
            {
                "channel_id": f"C{1 + i % CHANNELS}",
                "group_id": group_id(i),
                "rule_kind": "below",
                "threshold": THRESHOLD,
            }
            for i in range(groups)
        ],
        now=now,
    )


def set_synchronous(engine: Engine, mode: str) -> None:
    @event.listens_for(engine, "connect")
    def _synchronous(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA synchronous={mode}")


class SqlCounter:
    """Statements, time spent executing them, and commits, on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.seconds = 0.0
        self.commits = 0
        self.kinds: Counter[str] = Counter()
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())
        self.statements += 1
        words = statement.split(None, 3)
        kind = words[0].upper()
        if kind in ("SELECT", "INSERT", "UPDATE", "DELETE") and len(words) > 2:
            kind += " " + _table(statement)
        self.kinds[kind] += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.statements = self.commits = 0
        self.seconds = 0.0
        self.kinds.clear()


def _table(statement: str) -> str:
    """The table a SELECT/INSERT/UPDATE/DELETE names first (FROM, INTO or UPDATE ...)."""
    words = statement.replace("\n", " ").split()
    upper = [w.upper() for w in words]
    keyword = {"INSERT": "INTO", "UPDATE": "UPDATE"}.get(upper[0], "FROM")
    if keyword in upper:
        i = upper.index(keyword)
        if i + 1 < len(words):
            return words[i + 1].strip('"').split(".")[-1]
    return "?"


# --------------------------------------------------------------------------- the bot side


class CountingClient(TencentClient):
    """The client, counting logical calls per API and when the last one of each returned."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock_counts = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.call_seconds: Counter[str] = Counter()
        self.last_at: dict[str, float] = {}

    def call(self, service: str, command: str, body: dict[str, Any], **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return super().call(service, command, body, **kwargs)
        finally:
            now = time.monotonic()
            with self._lock_counts:
                self.calls[command] += 1
                self.call_seconds[command] += now - started
                self.last_at[command] = now

    def reset(self) -> None:
        with self._lock_counts:
            self.calls.clear()
            self.call_seconds.clear()
            self.last_at.clear()


class TimedNames(GroupNames):
    def __init__(self, tencent: TencentClient) -> None:
        super().__init__(tencent)
        self.seconds = 0.0
        self.lookups = 0

    def get(self, group_id: str) -> str | None:
        started = time.perf_counter()
        try:
            return super().get(group_id)
        finally:
            self.seconds += time.perf_counter() - started
            self.lookups += 1


@dataclass
class Phases:
    """Where one cycle's time went (seconds), measured around the poller's own methods."""

    fetches: list[tuple[float, float]] = field(default_factory=list)  # check_targets start
    # .. its last online count returned (batches fetch BATCHES_AHEAD at a time: they overlap)
    inserts: float = 0.0  # check_targets: from its last online count to its samples stored
    batches: int = 0  # check_targets calls
    judge: float = 0.0  # every judge() call: read, evaluate, write, one transaction each
    judges: int = 0
    decide: float = 0.0  # _decide: rule_of, state_of, history query, rules.evaluate
    messages: float = 0.0  # _message but group names: opening lookup, alert_view, rendering
    message_count: int = 0
    judge_times: list[float] = field(default_factory=list)
    bookkeeping: Counter[str] = field(default_factory=Counter)  # BOOKKEEPING methods

    @property
    def fetching(self) -> float:
        """Seconds during which at least one batch was fetching."""
        total, reached = 0.0, float("-inf")
        for start, end in sorted(self.fetches):
            if end > reached:
                total += end - max(start, reached)
                reached = end
        return total


#: Methods of the poller and its judge timed as bookkeeping (target claims, leases,
#: which watches a batch is for).
BOOKKEEPING = ("sync_targets", "claim", "complete", "_active_watches")


class TimedJudge(Judge):
    """The judging stage, timing its phases; the poller gives it a fresh ``phases`` for
    each cycle. judge_batch() and _message() run on the poller's calling thread."""

    phases: Phases

    def _active_watches(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super()._active_watches(*args, **kwargs)
        finally:
            self.phases.bookkeeping["_active_watches"] += time.perf_counter() - started

    def judge_batch(
        self, items: Sequence[tuple[int, rules.Sample]], now: float, report: JudgeReport
    ) -> None:
        started = time.perf_counter()
        try:
            super().judge_batch(items, now, report)
        finally:
            spent = time.perf_counter() - started
            self.phases.judge += spent
            self.phases.judges += len(items)
            self.phases.judge_times.extend([spent / max(1, len(items))] * len(items))

    def _decide(
        self, session: Session, watch: Watch, sample: rules.Sample, now: float
    ) -> rules.Decision:
        started = time.perf_counter()
        try:
            return super()._decide(session, watch, sample, now)
        finally:
            self.phases.decide += time.perf_counter() - started

    def _message(self, *args: Any, **kwargs: Any) -> Outbox:
        started = time.perf_counter()
        named = getattr(self.names, "seconds", 0.0)
        try:
            return super()._message(*args, **kwargs)
        finally:
            naming = getattr(self.names, "seconds", 0.0) - named  # shown with the names
            self.phases.messages += time.perf_counter() - started - naming
            self.phases.message_count += 1


class TimedPoller(Poller):
    """The poller, timing its phases, with a TimedJudge."""

    phases: Phases
    judge: TimedJudge

    def __init__(self, sessions: sessionmaker[Session], *args: Any, **kwargs: Any) -> None:
        judge = TimedJudge(sessions, kwargs["names"])
        super().__init__(sessions, *args, judge=judge, **kwargs)

    def run_cycle(self, *args: Any, **kwargs: Any) -> CycleReport:
        self.phases = self.judge.phases = Phases()
        return super().run_cycle(*args, **kwargs)

    def _timed(self, name: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return getattr(super(), name)(*args, **kwargs)
        finally:
            self.phases.bookkeeping[name] += time.perf_counter() - started

    def sync_targets(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("sync_targets", *args, **kwargs)

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("claim", *args, **kwargs)

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("complete", *args, **kwargs)

    def check_targets(self, batch: Sequence[Target], now: float) -> list[Observation]:
        started = time.monotonic()
        try:
            return super().check_targets(batch, now)
        finally:
            ended = time.monotonic()
            self.phases.batches += 1
            last = getattr(self.tencent, "last_at", {}).get(COUNT_API)
            if last is not None and started <= last <= ended:
                self.phases.fetches.append((started, last))
                self.phases.inserts += ended - last


class Clock:
    """Wall time plus an offset: moved on by a poll interval between cycles, so that every
    target is due again without waiting a real interval."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


# --------------------------------------------------------------------------- one cycle


@dataclass
class Cycle:
    number: int
    report: CycleReport
    phases: Phases
    calls: Counter[str]
    call_seconds: Counter[str]
    names_seconds: float
    names_lookups: int
    sql_statements: int
    sql_seconds: float
    sql_commits: int
    sql_kinds: Counter[str]
    rate_limited: int
    retries: int
    other_errors: int
    cpu: float
    rss_mb: float
    check_errors: Counter[str] = field(default_factory=Counter)  # failed checks by text


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(
    number: int,
    poller: TimedPoller,
    client: CountingClient,
    names: TimedNames,
    sql: SqlCounter,
    errors: ClientLogCounter,
    profiler: cProfile.Profile | None,
) -> Cycle:
    client.reset()
    sql.reset()
    errors.reset()
    names.seconds, names.lookups = 0.0, 0
    cpu0 = cpu_seconds()
    if profiler is not None:
        profiler.enable()
    try:
        report = poller.run_cycle()
    finally:
        if profiler is not None:
            profiler.disable()
    with poller.sessions() as session:
        failed = session.execute(
            select(SampleRow.error, func.count())
            .where(SampleRow.taken_at >= to_dt(report.started_at), SampleRow.error.is_not(None))
            .group_by(SampleRow.error)
        ).all()
    return Cycle(
        number=number,
        report=report,
        phases=poller.phases,
        calls=Counter(client.calls),
        call_seconds=Counter(client.call_seconds),
        names_seconds=names.seconds,
        names_lookups=names.lookups,
        sql_statements=sql.statements,
        sql_seconds=sql.seconds,
        sql_commits=sql.commits,
        sql_kinds=Counter(sql.kinds),
        rate_limited=errors.rate_limited,
        retries=errors.retries,
        other_errors=sum(errors.other_errors.values()),
        cpu=cpu_seconds() - cpu0,
        rss_mb=peak_rss_mb(),
        check_errors=Counter({str(error): int(n) for error, n in failed}),
    )


def floor_seconds(calls: int, rate: int) -> float:
    """The time the client's limiter needs for ``calls`` at ``rate`` calls/s: what it
    lets through per ``WINDOW_MS`` when busy."""
    return calls * WINDOW_MS / 1000 / sustained_per_window(rate)


def show(cycle: Cycle, rate: int, groups: int) -> None:
    r, p = cycle.report, cycle.phases
    d = r.duration
    floor = floor_seconds(r.targets, rate)
    print(f"\n== cycle {cycle.number}: {d:.2f} s ({d / floor:.2f} x the rate-limit floor)")
    if r.targets > groups:
        print(
            f"   NOTE            {r.targets - groups} targets checked twice: the cycle outlasted "
            "the poll interval and claimed targets that were due again"
        )
    print(
        f"   CycleReport     watches={r.watches} targets={r.targets} "
        f"failed_checks={r.failed_checks} evaluated={r.evaluated} "
        f"notifications={r.notifications} conflicts={r.conflicts}"
    )
    print(f"   reasons         {dict(sorted(r.reasons.items()))}")
    counts = cycle.calls[COUNT_API]
    per_second = r.targets / d if d else 0.0
    print(
        f"   calls/s         {per_second:7.1f}  targets / cycle duration "
        f"({100 * per_second / rate:.1f}% of {rate}/s)"
    )
    if p.fetching:
        fetch_rate = counts / p.fetching
        print(
            f"   fetch rate      {fetch_rate:7.1f}  {counts} online counts in {p.fetching:.2f} s "
            f"of fetching, {p.batches} batch(es) ({100 * fetch_rate / rate:.1f}% of {rate}/s; "
            f"floor {floor:.2f} s at {sustained_per_window(rate)} per {WINDOW_MS} ms)"
        )
    booked = sum(p.bookkeeping.values())
    print(
        f"   phases          fetching {p.fetching:.2f} s | samples insert {p.inserts:.2f} s | "
        f"judge {p.judge:.2f} s | bookkeeping {booked:.2f} s  (the judging and the "
        "bookkeeping run on the cycle's thread while the next batches fetch)"
    )
    if p.bookkeeping:
        print(
            "   bookkeeping     "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in p.bookkeeping.items())
        )
    if p.judges:
        evaluated_rate = r.evaluated / p.judge if p.judge else 0.0
        times = sorted(p.judge_times)
        median = times[len(times) // 2]
        print(
            f"   evaluations/s   {r.evaluated / d:7.1f}  over the cycle; "
            f"{evaluated_rate:.1f} over the judge phase ({1000 * p.judge / p.judges:.2f} ms "
            f"per watch, median {1000 * median:.2f} ms, slowest {1000 * times[-1]:.1f} ms)"
        )
        rest = p.judge - p.decide - p.messages - cycle.names_seconds
        print(
            f"   judge split     decide {p.decide:.2f} s | group names {cycle.names_seconds:.2f} s"
            f" | alert messages {p.messages:.2f} s for {p.message_count} "
            f"({1000 * p.messages / max(p.message_count, 1):.1f} ms each) | the rest "
            f"(sessions, loads, writes, commits) {rest:.2f} s "
            f"({1000 * rest / p.judges:.2f} ms per watch)"
        )
    infos = cycle.calls[INFO_API]
    print(
        f"   group names     {cycle.names_lookups} GroupNames.get in {cycle.names_seconds:.2f} s, "
        f"{infos} get_group_info calls ({cycle.call_seconds[INFO_API]:.2f} s, sequential "
        "in the judge loop)"
    )
    kinds = ", ".join(f"{k} {n}" for k, n in cycle.sql_kinds.most_common(8))
    print(
        f"   SQL             {cycle.sql_statements} statements "
        f"({cycle.sql_statements / max(r.watches, 1):.1f} per watch), {cycle.sql_seconds:.2f} s "
        f"in execute, {cycle.sql_commits} commits"
    )
    print(f"                   {kinds}")
    print(
        f"   Tencent errors  60007 seen {cycle.rate_limited}, other {cycle.other_errors}, "
        f"retries {cycle.retries}"
    )
    for error, n in cycle.check_errors.most_common(3):
        print(f"     failed check {n} x {error}")
    print(
        f"   CPU             {cycle.cpu:.2f} s of this process ({100 * cycle.cpu / d:.0f}% of "
        f"the cycle); peak RSS so far {cycle.rss_mb:.0f} MB"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=5000, help="watched groups (one watch each)")
    parser.add_argument(
        "--firing-share", type=float, default=0.1, help="share of groups below the threshold"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator added latency")
    parser.add_argument("--rate", type=int, default=200, help="calls/s allowed, both sides")
    parser.add_argument("--cycles", type=int, default=2, help="poll cycles to run")
    parser.add_argument(
        "--database-url", default=None, help="default: a SQLite file in a temporary directory"
    )
    parser.add_argument("--workers", type=int, default=32, help="the poller's thread pool")
    parser.add_argument(
        "--names-known",
        action="store_true",
        help="remember every group's name first, as creating the watches in this process would "
        "(by default the names are unknown, as after a restart)",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=("FULL", "NORMAL", "OFF"),
        default=None,
        help="experiment: set PRAGMA synchronous on SQLite connections (default: as the bot)",
    )
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=0.0,
        help="serve GET /metrics and scrape it every S seconds during the cycles (0: never)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the cycles into this file"
    )
    args = parser.parse_args(argv)

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}"
    )
    firing = sum(fires(i, args.firing_share) for i in range(args.groups))
    print(
        f"setup: {args.groups} groups, one 'below {THRESHOLD}' watch each over {CHANNELS} "
        f"channels ({firing} below the threshold); simulator in its own process with "
        f"{args.latency_ms:g} ms latency and {args.rate} calls/s; client limiter "
        f"{sustained_per_window(args.rate)} per {WINDOW_MS} ms; poller workers {args.workers}"
        + ("; group names known beforehand" if args.names_known else "")
        + (f"; SQLite synchronous={args.sqlite_synchronous}" if args.sqlite_synchronous else "")
    )

    errors = ClientLogCounter()
    client_log = logging.getLogger("bot.tencent.client")
    client_log.setLevel(logging.INFO)
    client_log.addHandler(errors)
    client_log.propagate = False
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    profiler = cProfile.Profile() if args.profile else None
    cycles: list[Cycle] = []
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp_name:
        tmp = Path(tmp_name)
        scenario = tmp / "scenario.yml"
        write_scenario(scenario, args.groups, args.firing_share, args.latency_ms, args.rate)
        port = free_port()
        started = time.monotonic()
        process = start_simulator(scenario, port, tmp / "simulator.log")
        try:
            print(f"simulator: pid {process.pid}, ready in {time.monotonic() - started:.1f} s")
            with scratch_database(args.database_url, tmp) as url:
                started = time.monotonic()
                upgrade(url)
                engine = make_engine(url)
                if args.sqlite_synchronous and engine.dialect.name == "sqlite":
                    set_synchronous(engine, args.sqlite_synchronous)
                sessions = session_factory(engine)
                insert_poll_watches(engine, args.groups, time.time())
                print(
                    f"database: {safe_url(url)} migrated and {args.groups} watches inserted in "
                    f"{time.monotonic() - started:.1f} s"
                )
                sql = SqlCounter(engine)
                metrics = Metrics()
                client = CountingClient(
                    metrics=metrics,
                    sdkappid=DEMO_SDKAPPID,
                    secret_key=DEMO_SECRET_KEY,
                    admin=DEMO_ADMIN,
                    base_url=f"http://127.0.0.1:{port}",
                    rate_limits=RateLimits(args.rate),
                )
                names = TimedNames(client)
                clock = Clock()
                if args.names_known:
                    for i in range(args.groups):
                        names.remember(group_id(i), f"Poll {i}")
                poller = TimedPoller(
                    sessions,
                    client,
                    names=names,
                    clock=clock,
                    workers=args.workers,
                    metrics=metrics,
                )
                server, figures = None, None
                if args.scrape_every > 0:
                    figures = DatabaseFigures(sessions)
                    metrics.watch_database(figures)
                    metrics_port = free_port()
                    server = http_server(
                        routes_app({METRICS_PATH: metrics_app(metrics)}), "127.0.0.1", metrics_port
                    )
                    threading.Thread(target=server.run, name="metrics", daemon=True).start()
                scrape_url = f"http://127.0.0.1:{metrics_port if server else 0}{METRICS_PATH}"
                try:
                    with Scraper(scrape_url, args.scrape_every) as scraper:
                        for number in range(1, args.cycles + 1):
                            cycle = run_one(number, poller, client, names, sql, errors, profiler)
                            cycles.append(cycle)
                            show(cycle, args.rate, args.groups)
                            clock.offset += getattr(poller, "interval", 60.0)
                    print(f"\n{scraper.summary()}")
                finally:
                    if server is not None:
                        stop_http_server(server)
                    if figures is not None:
                        metrics.watch_database(None)
                        figures.close()
                    poller.close()
                    client.close()
                    engine.dispose()
        finally:
            stop(process)

    if profiler is not None and args.profile is not None:
        profiler.dump_stats(args.profile)
        print("\nprofile of the cycles (the main thread only; the fetches run in the pool):")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(15)

    peak = peak_rss_mb()
    simulator_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS: bench (bot side) {peak:.0f} MB; simulator process {simulator_peak:.0f} MB")

    floor = floor_seconds(args.groups, args.rate)
    budget = TARGET_RATIO * floor
    worst = max(c.report.duration for c in cycles)
    cycle_met = worst <= budget
    rss_met = peak < TARGET_RSS_MB
    summary = " ".join(
        f"cycle{c.number}={c.report.duration:.2f}s({c.report.duration / floor:.2f}x,"
        f"{c.report.targets / c.report.duration:.1f}calls/s,"
        f"{c.report.evaluated / c.report.duration:.0f}eval/s,"
        f"alerts={c.report.notifications},group_info={c.calls[INFO_API]})"
        for c in cycles
    )
    print(f"RESULT {summary} peak_rss={peak:.0f}MB")
    print(
        f"TARGET cycle {'MET' if cycle_met else 'NOT MET'}: slowest {worst:.2f} s <= "
        f"{budget:.2f} s ({TARGET_RATIO:g} x {floor:.2f} s for {args.groups} calls at "
        f"{sustained_per_window(args.rate)} per {WINDOW_MS} ms); "
        f"RSS {'MET' if rss_met else 'NOT MET'}: {peak:.0f} MB < {TARGET_RSS_MB:g} MB"
    )
    return 0 if cycle_met and rss_met else 1


if __name__ == "__main__":
    sys.exit(main())
