"""Benchmark: several ``online-bot run`` replicas sharing the poll cycles on PostgreSQL (issue 5).

20,000 watches on 8,000 distinct groups, 3 replicas (real ``python -m bot --log-level INFO
run`` processes in HTTP mode, POLL_INTERVAL=60), one PostgreSQL database (created here and
dropped afterwards), the shared rate limit in Redis (``REDIS_URL``), the fake Slack Web API
in this process, and the simulator in its own process with 20 ms added latency answering
60007 past 200 calls/s. Audiences are steady and above the thresholds but for a small share
of groups (``--firing-share``), so a few alerts go out.

Cycle k is every target's k-th check (the replicas create the targets, so the first
sample of a target is its first cycle's). The first cycle finds all 8,000 targets due at
once: it measures throughput. Later ones follow the due times the first left (each target
is due one interval after its claim), so they show that every target is still checked
once per interval, not how fast. For each cycle it prints:

- the claims' span (min to max ``taken_at`` of the cycle's samples: a sample is stamped
  with the time of the claim that made it); the duration, from the first claim until the
  last of the cycle's samples was written (every call answered: the samples of a batch
  are inserted once all its calls returned; seen by counting rows every 0.2 s); and the
  time until the last target was completed (``targets.last_checked_at``: its watches
  judged);
- online-count calls/s (one per target) against the 200/s ceiling and against the floor
  the limiter allows polling (``rate - reserve - 2`` calls per 1.02 s: 42.1 s for 8,000);
- each replica's share: targets it claimed, seen through ``targets.lease_owner`` every
  0.2 s (batches, how long each was held), and its ``poll cycle:`` log lines;
- duplicates (a target checked again less than one interval after a check) and misses
  (a target not checked in the cycle, or checked more than interval + tick + 5 s after
  its previous check): both must be 0;
- targets claimed per 5 s, and CPU seconds per process during the cycle.

Then 60007 answers the replicas saw (their client logs each one), failed poll cycles,
and peak RSS per replica (``VmHWM``).

Target: the first cycle within 1.1 x what the budget allows (8,000 calls at 200/s:
<= 44 s), zero duplicates, zero misses, zero 60007.

    .venv/bin/python bench/bench_replicas.py [--watches 20000] [--groups 8000]
        [--replicas 3] [--cycles 2] [--latency-ms 20] [--rate 200] [--reserve 4]
        [--firing-share 0.005] [--postgres-url URL] [--redis-url URL] [--keep]

Not a test: it prints figures. A run takes about three minutes (two 60 s cycles).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import redis
import yaml
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from bot.settings import Settings
from bot.simulator import DEMO_ADMIN, DEMO_SECRET_KEY
from bot.store.db import make_engine, upgrade
from bot.tencent.ratelimit import WINDOW_MS, sustained_per_window

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from support.benchdb import insert_watches, scratch_database
from support.fakeslack import FakeSlack
from support.processes import STARTUP_TIMEOUT, free_port, start_simulator, stop
from support.procstat import cpu_seconds, memory, pids_named
from support.replicas import Replica, start_replicas, stop_replicas

TARGET_RATIO = 1.1
THRESHOLD = 20  # every watch is "below 20"
CHANNELS = 250
POLL_CYCLE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ bot\.scheduler: poll cycle: "
    r"(?P<watches>\d+) watches, (?P<targets>\d+) targets, (?P<failed>\d+) failed checks, "
    r"(?P<alerts>\d+) alerts, (?P<seconds>[\d.]+)s",
    re.MULTILINE,
)


# --------------------------------------------------------------------------- the simulator


def group_id(index: int) -> str:
    return f"@TGS#rep-{index:05d}"


def fires(index: int, share: float) -> bool:
    """Whether group ``index`` sits below the threshold: exactly ``share`` of them, spread."""
    return int((index + 1) * share) > int(index * share)


def audience(index: int, share: float) -> int:
    """Steady and small (the simulator keeps every member): 5..14 firing, else 20..59."""
    return 5 + index % 10 if fires(index, share) else THRESHOLD + index % 40


def write_scenario(
    path: Path, sdkappid: int, groups: int, share: float, latency_ms: float, rate: int
) -> None:
    scenario = {
        "sdkappid": sdkappid,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "rate_limit": rate,
        "faults": {"latency_ms": latency_ms},
        "groups": [
            {"group_id": group_id(i), "name": f"Replica bench {i}", "steady": audience(i, share)}
            for i in range(groups)
        ],
    }
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")


# --------------------------------------------------------------------------- the replicas


def logged_cycles(replica: Replica) -> list[tuple[float, int, float]]:
    """(logged at, targets, seconds) of every ``poll cycle:`` line of a replica."""
    found = []
    for m in POLL_CYCLE.finditer(replica.output()):
        at = datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        found.append((at, int(m["targets"]), float(m["seconds"])))
    return found


# --------------------------------------------------------------------------- the database


def insert_replica_watches(engine: Engine, watches: int, groups: int, now: float) -> None:
    """``watches`` "below 20" watches over ``groups`` groups (watch i on group i % groups),
    spread over CHANNELS channels, each with an OK alert state."""
    insert_watches(
        engine,
        [
            {
                "channel_id": f"C{(i // groups * 97 + i) % CHANNELS:04d}",
                "group_id": group_id(i % groups),
                "rule_kind": "below",
                "threshold": THRESHOLD,
            }
            for i in range(watches)
        ],
        now=now,
    )


def sample_times(engine: Engine) -> dict[str, list[float]]:
    """Every target's checks (sample ``taken_at``), oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT group_id, extract(epoch FROM taken_at) FROM samples ORDER BY taken_at")
        ).all()
    times: dict[str, list[float]] = defaultdict(list)
    for group, at in rows:
        times[group].append(float(at))
    return times


def scalar(engine: Engine, query: str) -> float:
    with engine.connect() as connection:
        value = connection.execute(text(query)).scalar()
    return float(value or 0)


# --------------------------------------------------------------------------- observing


@dataclass
class Batch:
    """Targets one replica claimed at once, seen through their lease."""

    owner: str
    claimed: float  # lease_until - the lease
    ids: set[int] = field(default_factory=set)
    last_seen: float = 0.0  # released within one poll of this


class LeaseWatcher(threading.Thread):
    """Reads the targets' leases every ``every`` s: which replica claimed which targets
    when, and how long it held them (fetching, then judging their watches)."""

    def __init__(self, url: str, lease_seconds: float, every: float = 0.2) -> None:
        super().__init__(name="lease-watcher", daemon=True)
        self.engine = create_engine(make_url(url), poolclass=NullPool)
        self.lease_seconds = lease_seconds
        self.every = every
        self.batches: dict[tuple[str, float], Batch] = {}
        self.sample_counts: list[tuple[float, int]] = []  # (seen at, samples written)
        self._halt = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as connection:
            while not self._halt.is_set():
                rows = connection.execute(
                    text(
                        "SELECT id, lease_owner, extract(epoch FROM lease_until) FROM targets "
                        "WHERE lease_owner IS NOT NULL"
                    )
                ).all()
                written = connection.execute(text("SELECT count(*) FROM samples")).scalar_one()
                connection.commit()
                seen = time.time()
                self.sample_counts.append((seen, int(written)))
                for target_id, owner, until in rows:
                    key = (owner, float(until))
                    batch = self.batches.get(key)
                    if batch is None:
                        claimed = float(until) - self.lease_seconds
                        batch = self.batches[key] = Batch(owner, claimed)
                    batch.ids.add(target_id)
                    batch.last_seen = seen
                self._halt.wait(self.every)

    def when_samples_reached(self, count: int) -> float:
        """When the samples table first held ``count`` rows (within one poll)."""
        for seen, written in self.sample_counts:
            if written >= count:
                return seen
        raise SystemExit(f"never saw {count} samples")

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.engine.dispose()


def cpu_snapshot(processes: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in processes.items()}


# --------------------------------------------------------------------------- one cycle


@dataclass
class Cycle:
    """The k-th cycle: every target's k-th check (targets are created by the replicas,
    so a target's first sample is its first cycle's)."""

    number: int
    start: float  # the first claim: the earliest k-th sample
    last_claim: float = 0.0  # the latest k-th sample
    checks_done: float = 0.0  # when the last k-th sample was written: every call answered
    end: float = 0.0  # the last target completed, its watches judged (last_checked_at)
    checked: int = 0
    duplicates: int = 0  # targets checked again less than one interval after a check
    misses: int = 0  # targets with no k-th check, or one later than MISS_AFTER
    max_gap: float = 0.0  # the longest wait between a target's (k-1)-th and k-th check
    shares: dict[str, int] = field(default_factory=dict)  # targets claimed, by replica
    batches: dict[str, list[Batch]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)  # poll-cycle log lines, by replica
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the cycle
    timeline: list[int] = field(default_factory=list)  # targets claimed per TIMELINE_STEP

    @property
    def duration(self) -> float:
        """First claim to the last check answered (the issue's "last target checked")."""
        return self.checks_done - self.start


def kth_checks(engine: Engine, k: int) -> dict[str, list[float]]:
    """Each target's checks up to its k-th."""
    return {group: times[:k] for group, times in sample_times(engine).items()}


def kth_progress(engine: Engine, k: int) -> tuple[int, float | None]:
    """How many targets have had a k-th check, and the earliest of those (in the database:
    the bench's own CPU stays out of the way)."""
    with engine.connect() as connection:
        count, first = connection.execute(
            text(
                "SELECT count(*), extract(epoch FROM min(taken_at)) FROM ("
                "SELECT taken_at, row_number() OVER (PARTITION BY group_id ORDER BY taken_at)"
                " AS n FROM samples) AS numbered WHERE n = :k"
            ),
            {"k": k},
        ).one()
    return int(count), None if first is None else float(first)


def measure_cycle(
    engine: Engine,
    watcher: LeaseWatcher,
    number: int,
    groups: int,
    interval: float,
    tick: float,
    processes: dict[str, list[int]],
) -> Cycle:
    """Wait until every target has had its ``number``-th check (or that is overdue), and
    every lease is released; then measure the cycle from the samples."""
    deadline = time.time() + 2 * interval + 60
    cpu_before = None
    while True:
        count, first = kth_progress(engine, number)
        if first is not None and cpu_before is None:
            cpu_before = cpu_snapshot(processes)
        if count >= groups or (first is not None and time.time() > first + interval + MISS_AFTER):
            break
        if time.time() > deadline:
            raise SystemExit(f"cycle {number} did not happen")
        time.sleep(0.5)
    while scalar(engine, "SELECT count(*) FROM targets WHERE lease_owner IS NOT NULL"):
        if time.time() > deadline:
            raise SystemExit(f"cycle {number}: leases still held at the deadline")
        time.sleep(0.2)
    assert cpu_before is not None
    cpu_after = cpu_snapshot(processes)
    checks = kth_checks(engine, number)
    kth = [times[number - 1] for times in checks.values() if len(times) >= number]
    end = scalar(engine, "SELECT extract(epoch FROM max(last_checked_at)) FROM targets")
    cycle = Cycle(number, min(kth), last_claim=max(kth), end=end)
    cycle.cpu = {name: cpu_after[name] - cpu_before[name] for name in processes}
    cycle.checked = len(kth)
    written = sum(len(times) for times in checks.values())  # samples up to the k-th
    cycle.checks_done = watcher.when_samples_reached(written)
    for times in checks.values():
        gaps = [b - a for a, b in pairwise(times)]
        if any(gap < interval - 0.001 for gap in gaps):
            cycle.duplicates += 1
        if number > 1 and len(times) == number:
            cycle.max_gap = max(cycle.max_gap, gaps[-1])
        late = len(times) == number and (
            gaps[-1] > interval + tick + MISS_AFTER
            if number > 1
            else times[-1] - cycle.start >= interval
        )
        if late:
            cycle.misses += 1
    cycle.misses += groups - len(kth)
    return cycle


TIMELINE_STEP = 5.0
#: A target whose check comes this much later than interval + tick is a miss: no replica
#: took it when it was due (the scheduler looks for due targets every tick).
MISS_AFTER = 5.0


def attribute(
    cycles: list[Cycle], replicas: list[Replica], batches: list[Batch], interval: float
) -> None:
    """Batches (seen through leases) and ``poll cycle:`` log lines (one per run, logged
    when it ends) into the cycle whose window they began in."""
    names = {r.owner: r.name for r in replicas}
    for cycle in cycles:
        mine = [b for b in batches if cycle.start - 1 <= b.claimed < cycle.start + interval]
        for batch in mine:
            name = names.get(batch.owner, batch.owner)
            cycle.shares[name] = cycle.shares.get(name, 0) + len(batch.ids)
            cycle.batches.setdefault(name, []).append(batch)
        steps = int(max(cycle.duration, 1) // TIMELINE_STEP) + 1
        cycle.timeline = [0] * steps
        for batch in mine:
            step = min(steps - 1, max(0, int((batch.claimed - cycle.start) // TIMELINE_STEP)))
            cycle.timeline[step] += len(batch.ids)
    for replica in replicas:
        for logged_at, _targets, seconds in logged_cycles(replica):
            began = logged_at - seconds
            for cycle in cycles:
                if cycle.start - interval / 2 <= began < cycle.start + interval / 2:
                    cycle.runs[replica.name] = cycle.runs.get(replica.name, 0) + 1


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=8_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=2, help="cycles to measure")
    parser.add_argument("--interval", type=int, default=60, help="POLL_INTERVAL")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=200, help="calls/s, simulator and bot")
    parser.add_argument(
        "--reserve",
        type=int,
        default=Settings.model_fields["tencent_im_interactive_reserve"].default,
        help="TENCENT_IM_INTERACTIVE_RESERVE",
    )
    parser.add_argument("--firing-share", type=float, default=0.005)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args(argv)

    budget = args.groups / args.rate
    polling = sustained_per_window(args.rate, args.reserve)
    floor = args.groups * WINDOW_MS / 1000 / polling
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"
    )
    print(
        f"setup: {args.watches:,} watches on {args.groups:,} groups, {args.replicas} replicas, "
        f"POLL_INTERVAL={args.interval}, simulator {args.latency_ms:.0f} ms latency and "
        f"{args.rate} calls/s, reserve {args.reserve}"
    )
    print(
        f"budget: {args.groups:,} calls at {args.rate}/s = {budget:.1f} s (target <= "
        f"{TARGET_RATIO * budget:.1f} s); polling may use {polling} per "
        f"{WINDOW_MS} ms: floor {floor:.1f} s"
    )

    sdkappid = random.randrange(1_600_000_000, 1_700_000_000)  # its own Redis keys
    tmp = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    replicas: list[Replica] = []
    simulator = None
    try:
        database = make_url(args.postgres_url).set(
            database=f"online_bot_bench_{uuid.uuid4().hex[:10]}"
        )
        with (
            scratch_database(database.render_as_string(hide_password=False), tmp) as url,
            FakeSlack() as fake,
        ):
            upgrade(url)
            engine = make_engine(url)
            started = time.monotonic()
            insert_replica_watches(engine, args.watches, args.groups, time.time())
            print(f"watches inserted in {time.monotonic() - started:.1f} s")

            scenario = tmp / "scenario.yml"
            write_scenario(
                scenario, sdkappid, args.groups, args.firing_share, args.latency_ms, args.rate
            )
            port = free_port()
            started = time.monotonic()
            simulator = start_simulator(scenario, port, tmp / "simulator.log")
            print(f"simulator: pid {simulator.pid}, ready in {time.monotonic() - started:.1f} s")

            env = {
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": "bench",
                "SLACK_API_URL": fake.api_url,
                "DATABASE_URL": url,
                "REDIS_URL": args.redis_url,
                "TENCENT_IM_BASE_URL": f"http://127.0.0.1:{port}",
                "TENCENT_IM_SDKAPPID": str(sdkappid),
                "TENCENT_IM_SECRET_KEY": DEMO_SECRET_KEY,
                "TENCENT_IM_RATE_LIMIT": str(args.rate),
                "TENCENT_IM_INTERACTIVE_RESERVE": str(args.reserve),
                "POLL_INTERVAL": str(args.interval),
            }
            watcher = LeaseWatcher(url, lease_seconds=max(10.0, min(60.0, args.interval)))
            watcher.start()
            replicas = start_replicas(tmp, args.replicas, timeout=STARTUP_TIMEOUT, **env)
            print(f"replicas: {', '.join(str(r.process.pid) for r in replicas)} serving")
            processes = {r.name: [r.process.pid] for r in replicas} | {
                "simulator": [simulator.pid],
                "postgres": pids_named("postgres"),
                "redis": pids_named("redis-server"),
                "bench (fake Slack)": [os.getpid()],
            }

            cycles: list[Cycle] = []
            tick = min(args.interval, 15)  # bot/scheduler.py POLL_TICK
            for number in range(1, args.cycles + 1):
                cycle = measure_cycle(
                    engine, watcher, number, args.groups, args.interval, tick, processes
                )
                cycles.append(cycle)
                print(
                    f"cycle {number}: {cycle.duration:.1f} s, {cycle.checked:,} targets, "
                    f"{cycle.duplicates} duplicates, {cycle.misses} misses"
                )
            watcher.stop()
            attribute(cycles, replicas, list(watcher.batches.values()), args.interval)
            memory_mb = {r.name: memory(r.pid) for r in replicas}
            posted = len(fake.calls("chat.postMessage"))
            engine.dispose()
            stop_replicas(replicas)
    finally:
        stop_replicas(replicas)
        if simulator is not None:
            stop(simulator)
        store = redis.Redis.from_url(args.redis_url)
        for key in store.scan_iter(match=f"online-bot:{sdkappid}:*"):
            store.delete(key)
        store.close()

    logs = {r.name: r.output() for r in replicas}
    rate_limited = sum(log.count("error 60007") for log in logs.values())
    slow = sum(log.count("(slow: close to the poll interval)") for log in logs.values())
    tracebacks = sum(log.count("Traceback") for log in logs.values())
    failed = [
        f"{name}: {line}"
        for name, log in logs.items()
        for line in log.splitlines()
        if "poll cycle failed" in line or line.startswith("psycopg.errors.")
    ]
    ok = True
    for cycle in cycles:
        rate = cycle.checked / cycle.duration if cycle.duration else 0.0
        print(f"\n== cycle {cycle.number}")
        print(f"   claims span       {cycle.last_claim - cycle.start:7.1f} s  first -> last claim")
        print(f"   duration          {cycle.duration:7.1f} s  first claim -> last check answered")
        print(
            f"   completed         {cycle.end - cycle.start:7.1f} s  first claim -> last "
            "target's watches judged"
        )
        print(
            f"   count calls/s     {rate:7.1f}    {100 * rate / args.rate:.0f} % of the "
            f"{args.rate}/s ceiling, {100 * rate * floor / args.groups:.0f} % of the polling floor"
        )
        print(f"   vs budget         {cycle.duration / budget:7.2f} x  (target <= {TARGET_RATIO})")
        print(f"   duplicates        {cycle.duplicates:7d}")
        print(f"   misses            {cycle.misses:7d}")
        if cycle.number > 1:
            print(f"   longest wait      {cycle.max_gap:7.1f} s  between a target's checks")
        for replica in replicas:
            share = cycle.shares.get(replica.name, 0)
            batches = cycle.batches.get(replica.name, [])
            held = [b.last_seen - b.claimed for b in batches]
            first = min((b.claimed for b in batches), default=cycle.start) - cycle.start
            print(
                f"   {replica.name:<17} {share:7,d} targets ({100 * share / args.groups:.0f} %) "
                f"in {len(batches)} batches, {cycle.runs.get(replica.name, 0)} run(s); first "
                f"claim at +{first:.1f} s; batch held {statistics.mean(held or [0]):.1f} s mean, "
                f"{max(held or [0]):.1f} s max"
            )
        print(
            f"   claimed per {TIMELINE_STEP:.0f} s  "
            + " ".join(f"{n}" for n in cycle.timeline)
            + f"  (ceiling {floor and args.groups / floor * TIMELINE_STEP:.0f})"
        )
        print(
            "   CPU during cycle  "
            + ", ".join(
                f"{name} {seconds:.1f} s ({100 * seconds / cycle.duration:.0f} %)"
                for name, seconds in cycle.cpu.items()
            )
            + f"  of {os.cpu_count()} CPUs"
        )
        # The first cycle finds every target due at once: it measures throughput. Later
        # cycles follow the due times the first one left, so their span is no throughput
        # figure; they must still check every target once.
        fast_enough = cycle.number > 1 or cycle.duration <= TARGET_RATIO * budget
        met = fast_enough and cycle.duplicates == 0 and cycle.misses == 0
        ok = ok and met
        print(
            f"RESULT cycle={cycle.number} duration_s={cycle.duration:.1f} "
            f"ratio={cycle.duration / budget:.2f} calls_per_s={rate:.1f} "
            f"completed_s={cycle.end - cycle.start:.1f} "
            f"duplicates={cycle.duplicates} misses={cycle.misses} "
            f"shares={','.join(str(cycle.shares.get(r.name, 0)) for r in replicas)} "
            f"target={'met' if met else 'MISSED'}"
        )
    print("\n== replicas")
    for name, (hwm, rss) in memory_mb.items():
        print(f"   {name:<17} peak RSS {hwm:6.0f} MB (now {rss:.0f} MB)")
    print(f"   60007 seen        {rate_limited:7d}")
    print(f"   slow cycles       {slow:7d}  (logged as close to the poll interval)")
    print(f"   tracebacks        {tracebacks:7d}")
    print(f"   alerts posted     {posted:7d}")
    print(f"   failed cycles     {sum('poll cycle failed' in f for f in failed):7d}")
    for line in failed:
        print(f"     {line[:160]}")
    print(
        f"RESULT replicas={len(replicas)} peak_rss_mb="
        f"{','.join(f'{hwm:.0f}' for hwm, _ in memory_mb.values())} rate_limited={rate_limited} "
        f"targets={'met' if ok and rate_limited == 0 else 'MISSED'}"
    )
    if args.keep:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
