"""Benchmark: exact online counts for many groups, threaded vs sequential, under the rate limit.

Against the simulator (in its own process, 20 ms added latency, 200 calls/s per
API), fetch ``get_online_member_num`` for every group through ``TencentClient``
with a thread pool, then with a plain loop. Prints calls/s, the ratio to the
200/s ceiling and to the loop, the 60007 answers the client saw (it retries
them, and logs each one) and peak RSS.

Target: >= 190 calls/s sustained with zero 60007 from the simulator.

    .venv/bin/python bench/bench_count.py [--groups 2000] [--threads 16]
        [--sequential-groups N] [--latency-ms 20] [--rate 200]

Not a test: it prints figures. The sequential run of 2,000 groups takes ~50 s.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from clientlog import ClientLogCounter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from support.processes import free_port, start_simulator, stop

from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY
from bot.tencent.client import TencentClient
from bot.tencent.errors import TencentError
from bot.tencent.ratelimit import WINDOW_MS, RateLimits, sustained_per_window

TARGET_PER_SECOND = 190.0
One = Callable[[TencentClient, int], None]  # count one group with this client
FetchAll = Callable[[One, list[int], RateLimits], None]  # ``one`` over every group


# --------------------------------------------------------------------------- the simulator


def expected_count(index: int) -> int:
    """The steady audience of group ``index``: small, varied, checkable."""
    return 1 + index % 37


def group_id(index: int) -> str:
    return f"@TGS#bench-{index:05d}"


def write_scenario(path: Path, groups: int, latency_ms: float, rate: int) -> None:
    scenario = {
        "sdkappid": DEMO_SDKAPPID,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "rate_limit": rate,
        "faults": {"latency_ms": latency_ms},
        "groups": [
            {"group_id": group_id(i), "name": f"Bench {i}", "steady": expected_count(i)}
            for i in range(groups)
        ],
    }
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")


# --------------------------------------------------------------------------- counting


class TimedRateLimits(RateLimits):
    """The client's limiter, noting when each slot was granted and how long it took."""

    def __init__(self, per_second: int) -> None:
        super().__init__(per_second)
        self.granted: list[float] = []
        self.waited = 0.0
        self._lock_times = threading.Lock()

    def acquire(self, api: str, *, timeout: float, background: bool = False) -> None:
        asked = time.monotonic()
        super().acquire(api, timeout=timeout, background=background)
        now = time.monotonic()
        with self._lock_times:
            self.granted.append(now)
            self.waited += now - asked

    def period(self) -> float | None:
        """Median seconds between slot i and slot i + per_second: the real window."""
        granted = sorted(self.granted)
        n = self.per_second
        gaps = [granted[i + n] - granted[i] for i in range(len(granted) - n)]
        return statistics.median(gaps) if gaps else None


@dataclass
class Run:
    name: str
    calls: int
    elapsed: float
    cpu: float  # seconds of this process's CPU (user + system)
    done_at: list[float] = field(default_factory=list)  # monotonic completion times, sorted
    failures: Counter[str] = field(default_factory=Counter)
    wrong: int = 0
    rate_limited: int = 0
    retries: int = 0
    other_errors: Counter[str] = field(default_factory=Counter)  # error answers but 60007
    call_seconds: float = 0.0  # summed over calls: online_count() from call to return
    limiter_seconds: float = 0.0  # summed over calls: waiting for a limiter slot
    period: float | None = None  # median time between slot i and slot i + rate

    @property
    def per_second(self) -> float:
        return self.calls / self.elapsed

    def sustained(self, rate: int) -> float:
        """Steady-state calls/s: ``rate`` calls over the median time between the slots of call i
        and call i + ``rate``: the start and the end of a run (threads starting, the last
        answers) do not count."""
        if self.period is None:
            return self.per_second
        return rate / self.period

    def per_second_bins(self, start: float) -> list[int]:
        bins = Counter(int(t - start) for t in self.done_at)
        return [bins.get(second, 0) for second in range(max(bins, default=-1) + 1)]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_client(base_url: str, limits: RateLimits, pool: int) -> TencentClient:
    return TencentClient(
        sdkappid=DEMO_SDKAPPID,
        secret_key=DEMO_SECRET_KEY,
        admin=DEMO_ADMIN,
        base_url=base_url,
        rate_limits=limits,
        pool_size=pool,
    )


def measure(
    name: str,
    groups: list[int],
    fetch_all: FetchAll,
    counter: ClientLogCounter,
    rate: int,
) -> tuple[Run, float]:
    done_at: list[float] = []
    failures: Counter[str] = Counter()
    wrong = 0
    call_seconds = 0.0
    lock = threading.Lock()

    def one(client: TencentClient, index: int) -> None:
        nonlocal wrong, call_seconds
        called = time.monotonic()
        try:
            count = client.online_count(group_id(index))
        except TencentError as error:
            with lock:
                failures[type(error).__name__ + ": " + error.user_message] += 1
            return
        finally:
            now = time.monotonic()
            with lock:
                done_at.append(now)
                call_seconds += now - called
        if count != expected_count(index):
            with lock:
                wrong += 1

    limits = TimedRateLimits(rate)
    counter.reset()
    cpu0 = cpu_seconds()
    start = time.monotonic()
    fetch_all(one, groups, limits)
    elapsed = time.monotonic() - start
    run = Run(name, len(groups), elapsed, cpu_seconds() - cpu0, sorted(done_at), failures, wrong)
    run.rate_limited, run.retries = counter.rate_limited, counter.retries
    run.other_errors = Counter(counter.other_errors)
    run.call_seconds, run.limiter_seconds = call_seconds, limits.waited
    run.period = limits.period()
    return run, start


def report(run: Run, start: float, rate: int) -> None:
    print(f"\n== {run.name}: {run.calls} calls in {run.elapsed:.2f} s")
    print(
        f"   calls/s          {run.per_second:8.1f}  "
        f"({100 * run.per_second / rate:.1f}% of {rate}/s)"
    )
    sustained = run.sustained(rate)
    print(
        f"   sustained        {sustained:8.1f}  calls/s in the steady state "
        f"({100 * sustained / rate:.1f}% of {rate}/s)"
    )
    bins = run.per_second_bins(start)
    if len(bins) <= 20:
        print(f"   per second       {bins}")
    else:
        full = bins[1:-1]
        print(
            f"   per second       first {bins[:3]} ... min {min(full)} median "
            f"{statistics.median(full):.0f} max {max(full)} (full seconds)"
        )
    print(f"   client CPU       {1000 * run.cpu / run.calls:8.3f} ms per call ({run.cpu:.2f} s)")
    call_ms = 1000 * run.call_seconds / run.calls
    wait_ms = 1000 * run.limiter_seconds / run.calls
    print(
        f"   time per call    {call_ms:8.1f} ms: limiter wait {wait_ms:.1f} ms, "
        f"request (HTTP + simulator + client) {call_ms - wait_ms:.1f} ms"
    )
    if run.period is not None:
        print(
            f"   limiter period   {1000 * run.period:8.1f} ms between slot i and slot i+{rate} "
            f"(window {WINDOW_MS} ms)"
        )
    print(f"   60007 seen       {run.rate_limited:8d}  (retried transparently by the client)")
    print(f"   retries          {run.retries:8d}")
    for message, n in run.other_errors.most_common(5):
        print(f"     {n} x {message}")
    print(f"   failures         {sum(run.failures.values()):8d}")
    for message, n in run.failures.most_common(5):
        print(f"     {n} x {message}")
    print(f"   wrong counts     {run.wrong:8d}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=2000, help="groups to count (threaded)")
    parser.add_argument("--threads", type=int, default=16, help="thread pool size")
    parser.add_argument(
        "--sequential-groups",
        type=int,
        default=None,
        help="groups for the sequential loop (default: all; 0 skips it)",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator added latency")
    parser.add_argument("--rate", type=int, default=200, help="calls/s allowed, both sides")
    args = parser.parse_args(argv)
    sequential_groups = args.groups if args.sequential_groups is None else args.sequential_groups

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}"
    )
    print(
        f"setup: {args.groups} groups, {args.threads} threads, simulator in its own process "
        f"with {args.latency_ms:g} ms latency and {args.rate} calls/s; client limiter "
        f"{sustained_per_window(args.rate)} per {WINDOW_MS} ms "
        f"(ceiling {1000 * sustained_per_window(args.rate) / WINDOW_MS:.1f}/s)"
    )

    counter = ClientLogCounter()
    client_log = logging.getLogger("bot.tencent.client")
    client_log.setLevel(logging.INFO)
    client_log.addHandler(counter)
    client_log.propagate = False

    with tempfile.TemporaryDirectory(prefix="bench-count-") as tmp:
        scenario = Path(tmp) / "scenario.yml"
        write_scenario(scenario, args.groups, args.latency_ms, args.rate)
        port = free_port()
        started = time.monotonic()
        process = start_simulator(scenario, port, Path(tmp) / "simulator.log")
        try:
            print(f"simulator: pid {process.pid}, ready in {time.monotonic() - started:.1f} s")
            base_url = f"http://127.0.0.1:{port}"
            groups = list(range(args.groups))

            def threaded(one: One, items: list[int], limits: RateLimits) -> None:
                with (
                    make_client(base_url, limits, args.threads) as client,
                    concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool,
                ):
                    list(pool.map(lambda i: one(client, i), items))

            def sequential(one: One, items: list[int], limits: RateLimits) -> None:
                with make_client(base_url, limits, 1) as client:
                    for i in items:
                        one(client, i)

            fast, fast_start = measure(
                f"threaded ({args.threads})", groups, threaded, counter, args.rate
            )
            report(fast, fast_start, args.rate)
            slow = None
            if sequential_groups > 0:
                # A fresh limiter starts with an empty window while the simulator's counter
                # for this second may still hold the threaded run's last burst: let it pass.
                time.sleep(2 * WINDOW_MS / 1000)
                slow, slow_start = measure(
                    "sequential", groups[:sequential_groups], sequential, counter, args.rate
                )
                report(slow, slow_start, args.rate)
        finally:
            stop(process)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    simulator_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS: bench (client) {peak:.0f} MB; simulator process {simulator_peak:.0f} MB")

    sustained = fast.sustained(args.rate)
    failures = sum(fast.failures.values()) + (sum(slow.failures.values()) if slow else 0)
    rate_limited = fast.rate_limited + (slow.rate_limited if slow else 0)
    wrong = fast.wrong + (slow.wrong if slow else 0)
    seq = f"{slow.per_second:.1f} calls/s" if slow else "skipped"
    ratio = f"{fast.per_second / slow.per_second:.1f}x" if slow else "n/a"
    met = sustained >= TARGET_PER_SECOND and rate_limited == 0 and failures == 0 and wrong == 0
    print(
        f"RESULT threaded={fast.per_second:.1f} calls/s "
        f"({100 * fast.per_second / args.rate:.1f}% of {args.rate}/s) "
        f"sustained={sustained:.1f} calls/s ({100 * sustained / args.rate:.1f}%) "
        f"sequential={seq} ratio={ratio} rate_limited={rate_limited} failures={failures} "
        f"wrong={wrong} peak_rss={peak:.0f} MB"
    )
    print(
        f"TARGET {'MET' if met else 'NOT MET'}: >= {TARGET_PER_SECOND:g} calls/s sustained "
        "with 0 rate-limited answers, 0 failures"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
