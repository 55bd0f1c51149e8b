"""Benchmark: slash commands into HTTP mode, ack latency and time to the full reply.

Three processes: the Tencent simulator (``python -m bot simulator``, 50 ms added
latency, AVChatRoom groups of 1,000 members served in pages of 400, so 3 pages
each), the bot (``python -m bot run`` in HTTP mode), and this one, which serves the
fake Slack Web API (auth.test, conversations.open, files_upload_v2, response_url)
and sends signed ``/online`` commands from a thread pool, one ``requests.Session``
per worker.

Each phase asks about ``--groups`` groups of its own (command i asks group
i mod N), so that the bot's 10 s snapshot reuse cannot answer one phase from
another and, with as many groups as commands (the default), every command makes
Tencent work: name, exact count and every page of the list. ``--groups 1``
measures the opposite, answers reused.

- ack latency: from sending the POST to its 200 (the ephemeral "Looking up").
- full reply: from sending the POST to the arrival at the fake of the answer on
  that command's own response_url (after the CSV of 1,000 members was uploaded).
- Tencent's floor: the get_members pages the phase needs at Tencent's 200 calls/s
  per API (the bot's limiter allows 198 per 1.02 s, 2 % under it).
- CPU per command: the bot process's user + system time (/proc/<pid>/stat) over
  the phase, divided by its commands; peak RSS: the bot's VmHWM.

Two load models, both at ``--concurrency`` workers (``--mode``, default both):

- burst: a worker sends its next command as soon as the last one is acknowledged,
  so the faster the acks, the more answers pile up inside the bot;
- users: a worker waits for its answer before sending the next command (ten people
  each waiting for their list): at most ``--concurrency`` answers in progress.

Targets: ack p99 < 100 ms (Slack allows 3 s); full reply p99 < 1 s for users, and
for the burst < 1 s or within 1.2x of Tencent's floor, whichever is longer.

``--profile`` attaches py-spy (``.venv/bin/pip install py-spy``: for measuring
only, not a dependency of the project) to the bot for the measured phases and
prints where its CPU went; sampling slows the bot, so take the figures from a run
without it.

    .venv/bin/python bench/bench_slash.py [--commands 200] [--groups 200]
        [--concurrency 10] [--latency-ms 50] [--members 1000] [--page-size 400]
        [--warmup 10] [--mode burst|users|both] [--scrape-every 0] [--profile] [--keep]

``--scrape-every S`` scrapes the bot's GET /metrics every S seconds during the
phases, as Prometheus would (issue #13: serving metrics moves these figures by at
most 3 %; compare with 0, the default).

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from profiling import print_profile, start_profiler, stop_profiler
from scraping import Scraper
from support.fakeslack import FakeSlack
from support.processes import STARTUP_TIMEOUT, BotProcess, free_port, start_simulator, stop
from support.procstat import cpu_times, memory
from support.slackapp import sign

from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY

SIGNING_SECRET = "bench-signing-secret"
ACK_TARGET_P99 = 0.100
REPLY_TARGET_P99 = 1.0
BURST_FLOOR_FACTOR = 1.2  # the burst's full reply p99 within this of Tencent's floor
TENCENT_RATE = 200  # calls per second per API, Tencent's limit and the simulator's
LIST_CAP = 1000  # Tencent lists the 1,000 latest members
REPLY_TIMEOUT = 60.0  # for all replies to arrive after the last command was sent


@dataclass(frozen=True)
class Group:
    group_id: str
    name: str


def phase_groups(phase: str, count: int) -> list[Group]:
    """The groups one phase asks about, its own (IDs are printable ASCII, under 48 bytes)."""
    return [Group(f"@TGS#bench-{phase}-{i:04d}", f"Bench {phase} {i}") for i in range(count)]


# --------------------------------------------------------------------------- processes


def write_scenario(
    path: Path, groups: list[Group], members: int, page_size: int, latency_ms: float
) -> None:
    scenario = {
        "sdkappid": DEMO_SDKAPPID,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "rate_limit": TENCENT_RATE,
        "cache_seconds": 40,
        "page_size": page_size,
        "faults": {"latency_ms": latency_ms},
        "groups": [
            {"group_id": g.group_id, "name": g.name, "type": "AVChatRoom", "steady": members}
            for g in groups
        ],
    }
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")


# --------------------------------------------------------------------------- commands


def command_body(text: str, response_url: str, user: str) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0001",
            "channel_id": "C1",
            "user_id": user,
            "user_name": "bench",
            "command": "/online",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


@dataclass
class Sent:
    name: str
    group: Group
    sent_at: float  # time.monotonic(), the same clock as fakeslack.Call.time
    ack: float | None = None  # seconds, None when the POST failed
    error: str | None = None


def send_all(
    url: str,
    fake: FakeSlack,
    jobs: list[tuple[str, Group]],
    concurrency: int,
    *,
    wait_reply: bool,
) -> list[Sent]:
    """Send one command per (name, group) from ``concurrency`` workers.

    A worker sends its next command as soon as the previous one is acknowledged, or, with
    ``wait_reply``, once its answer has arrived on the response_url (a user waiting).
    """
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def one(job: tuple[int, tuple[str, Group]]) -> Sent:
        index, (name, group) = job
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            with lock:
                sessions.append(session)
        body = command_body(group.group_id, fake.response_url(name), f"U{index % 50:04d}")
        ts = int(time.time())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, SIGNING_SECRET),
        }
        sent = Sent(name, group, time.monotonic())
        try:
            response = session.post(
                url + "/slack/events", data=body.encode(), headers=headers, timeout=10
            )
        except requests.RequestException as error:
            sent.error = type(error).__name__
            return sent
        sent.ack = time.monotonic() - sent.sent_at
        if response.status_code != 200:
            sent.error = f"HTTP {response.status_code}"
        elif "Looking up" not in response.json().get("text", ""):
            sent.error = "unexpected ack: " + response.text[:80]
        elif wait_reply:
            with contextlib.suppress(AssertionError):  # counted as missing by collect_replies
                fake.wait_for(f"response_url:{name}", timeout=REPLY_TIMEOUT)
        return sent

    with concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="slash") as pool:
        sent = list(pool.map(one, enumerate(jobs)))
    for session in sessions:
        session.close()
    return sent


def collect_replies(fake: FakeSlack, sent: list[Sent]) -> tuple[list[float], Counter[str]]:
    """Full reply latencies of the commands answered, and what went wrong for the others."""
    deadline = time.monotonic() + REPLY_TIMEOUT
    latencies: list[float] = []
    problems: Counter[str] = Counter()
    for item in sent:
        if item.error is not None:
            problems[f"no ack ({item.error})"] += 1
            continue
        try:
            calls = fake.wait_for(
                f"response_url:{item.name}", timeout=max(0.01, deadline - time.monotonic())
            )
        except AssertionError:
            problems["no reply on response_url"] += 1
            continue
        text = str(calls[0].params.get("text", ""))
        if item.group.name not in text and item.group.group_id not in text:
            problems["reply is not the list: " + text[:80]] += 1
            continue
        latencies.append(calls[0].time - item.sent_at)
    return latencies, problems


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else []

    def p(k: int) -> float:
        return cuts[k - 1] if cuts else ordered[0]

    return {"p50": p(50), "p90": p(90), "p99": p(99), "max": ordered[-1]}


def line(label: str, values: list[float]) -> str:
    cut = percentiles(values)
    if not cut:
        return f"   {label:<12} (none)"
    shown = "  ".join(f"{k} {1000 * v:7.1f}" for k, v in cut.items())
    return (
        f"   {label:<12} {shown}  ms  (n={len(values)}, mean {1000 * statistics.mean(values):.1f})"
    )


def log_counts(bot: BotProcess) -> Counter[str]:
    """What the bot's log says so far: Tencent's 60007 answers, retried calls, errors."""
    counts: Counter[str] = Counter()
    for text in bot.output().splitlines():
        counts["60007"] += "error 60007" in text
        counts["retries"] += "Tencent call failed" in text
        counts["errors"] += " ERROR " in text
    return counts


# --------------------------------------------------------------------------- one phase


MODES = {
    "burst": (
        False,
        "each worker sends its next command once the last one is acknowledged",
    ),
    "users": (
        True,
        "each worker waits for its answer on the response_url before the next command",
    ),
}


@dataclass(frozen=True)
class Setup:
    commands: int
    groups: int
    concurrency: int
    pages: int  # get_members pages per list


def floor_seconds(setup: Setup) -> tuple[int, float]:
    """The get_members pages a phase needs at least, and the time they take at Tencent's
    rate (each group fetched once: a phase lasting past the 10 s reuse may fetch more)."""
    pages = min(setup.groups, setup.commands) * setup.pages
    return pages, pages / TENCENT_RATE


def run_phase(
    mode: str,
    url: str,
    fake: FakeSlack,
    processes: dict[str, subprocess.Popen[bytes]],
    bot: BotProcess,
    setup: Setup,
) -> bool:
    """Send ``setup.commands`` commands, print the figures; True when the targets are met."""
    wait_reply, explained = MODES[mode]
    groups = phase_groups(mode, setup.groups)
    jobs = [(f"{mode}{i:04d}", groups[i % len(groups)]) for i in range(setup.commands)]
    cpu_before = {who: cpu_times(processes[who].pid) for who in sorted(processes)}
    cpu_before["bench + fake Slack"] = cpu_times()
    logged_before = log_counts(bot)
    uploads_before = len(fake.uploaded_files())
    started = time.monotonic()
    sent = send_all(url, fake, jobs, setup.concurrency, wait_reply=wait_reply)
    sent_in = time.monotonic() - started
    replies, problems = collect_replies(fake, sent)
    answered = [c.time for c in fake.calls() if c.method.startswith(f"response_url:{mode}")]
    wall = max(answered, default=time.monotonic()) - started
    cpu_after = {who: cpu_times(processes[who].pid) for who in sorted(processes)}
    cpu_after["bench + fake Slack"] = cpu_times()
    used = {
        who: [a - b for a, b in zip(cpu_after[who], cpu_before[who], strict=True)]
        for who in cpu_after
    }
    logged = log_counts(bot) - logged_before
    uploads = len(fake.uploaded_files()) - uploads_before
    commands = setup.commands
    pages, floor = floor_seconds(setup)

    print(
        f"\n== {mode}: {commands} commands on {len(groups)} group(s) at concurrency "
        f"{setup.concurrency}; {explained}"
    )
    print(
        f"   sent in {sent_in:.2f} s ({commands / sent_in:.1f}/s); every reply in {wall:.2f} s "
        f"({len(answered) / wall:.1f} replies/s)"
    )
    acks = [s.ack for s in sent if s.ack is not None and s.error is None]
    print(line("ack", acks))
    print(line("full reply", replies))
    reply_p99 = percentiles(replies).get("p99", float("inf"))
    print(
        f"   Tencent      floor {floor:.2f} s ({pages} get_members pages at {TENCENT_RATE}/s); "
        f"full reply p99 {reply_p99 / floor:.2f}x it, every reply {wall / floor:.2f}x"
        if floor
        else "   Tencent      floor 0 s (no pages)"
    )
    print(
        f"   replies      {len(replies)}/{commands} arrived with the list; "
        f"{uploads} CSV files uploaded"
    )
    print(
        f"   errors       {sum(problems.values())}; in the bot's log: {logged['60007']} "
        f"rate-limited answers (60007), {logged['retries']} retried calls, "
        f"{logged['errors']} ERROR lines"
    )
    for message, n in problems.most_common(5):
        print(f"     {n} x {message}")
    user, system = used["bot"]
    print(
        f"   bot          CPU {1000 * (user + system) / commands:.1f} ms/command (user "
        f"{1000 * user / commands:.1f} + system {1000 * system / commands:.1f}; "
        f"{100 * (user + system) / wall:.0f}% of a CPU); peak RSS so far "
        f"{memory(bot.process.pid).peak_mb:.1f} MB"
    )
    print(
        "   CPU          "
        + "; ".join(
            f"{who} {sum(used[who]):.2f} s ({1000 * sum(used[who]) / commands:.1f} ms/command, "
            f"{100 * sum(used[who]) / wall:.0f}% of a CPU)"
            for who in used
        )
    )
    ack_p99 = percentiles(acks).get("p99", float("inf")) if len(acks) == commands else float("inf")
    reply_target = REPLY_TARGET_P99
    if not wait_reply:
        reply_target = max(REPLY_TARGET_P99, BURST_FLOOR_FACTOR * floor)
    complete = len(replies) == commands
    ack_ok, reply_ok = ack_p99 < ACK_TARGET_P99, reply_p99 < reply_target and complete
    print(
        f"   targets      ack p99 {1000 * ack_p99:.1f} ms < {1000 * ACK_TARGET_P99:.0f} ms: "
        f"{'met' if ack_ok else 'MISSED'}; full reply p99 {1000 * reply_p99:.1f} ms < "
        f"{1000 * reply_target:.0f} ms, every reply: {'met' if reply_ok else 'MISSED'}"
    )
    return ack_ok and reply_ok


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument(
        "--groups", type=int, default=200, help="distinct groups per phase (1: answers reused)"
    )
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulator added latency")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=10, help="commands sent first, not counted")
    parser.add_argument(
        "--mode",
        choices=[*MODES, "both"],
        default="both",
        help="burst: workers wait for the ack only; users: for the answer too",
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the bot with py-spy during the phases"
    )
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=0.0,
        help="GET the bot's /metrics every S seconds during the phases (0: never)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs (temporary directory)")
    args = parser.parse_args(argv)
    if args.groups < 1 or args.commands < 1:
        parser.error("--groups and --commands must be at least 1")
    modes = list(MODES) if args.mode == "both" else [args.mode]
    pages = max(1, -(-min(args.members, LIST_CAP) // args.page_size))
    setup = Setup(args.commands, args.groups, args.concurrency, pages)

    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print(f"load average before: {load}")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}"
    )
    print(
        f"setup: {args.groups} group(s) per phase of {args.members} members in {pages} page(s) "
        f"of {args.page_size}, simulator latency {args.latency_ms:g} ms; simulator, bot and "
        "this process (fake Slack) on the same machine"
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench-slash-"))
    scenario = tmp / "scenario.yml"
    warm_groups = phase_groups("warm", max(1, min(args.groups, args.warmup)))
    every_group = warm_groups + [g for mode in modes for g in phase_groups(mode, args.groups)]
    write_scenario(scenario, every_group, args.members, args.page_size, args.latency_ms)
    sim_port, bot_port = free_port(), free_port()
    profile_raw, profile_log = tmp / "profile.txt", tmp / "py-spy.log"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    met = []
    profiler = None
    with FakeSlack() as fake:
        try:
            processes["simulator"] = start_simulator(scenario, sim_port, tmp / "simulator.log")
            sim_url = f"http://127.0.0.1:{sim_port}"
            bot = BotProcess(
                tmp,
                "bot",
                SLACK_BOT_TOKEN="xoxb-bench",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake.api_url,
                PORT=str(bot_port),
                TENCENT_IM_BASE_URL=sim_url,
                TENCENT_IM_SDKAPPID=str(DEMO_SDKAPPID),
                TENCENT_IM_SECRET_KEY=DEMO_SECRET_KEY,
                TENCENT_IM_ADMIN=DEMO_ADMIN,
            )
            processes["bot"] = bot.process
            bot_url = f"http://127.0.0.1:{bot_port}"
            bot.wait_until_healthy(bot_url, STARTUP_TIMEOUT)
            pid = bot.process.pid
            print(f"bot: pid {pid}, RSS after start {memory(pid).rss_mb:.1f} MB")

            if args.warmup:
                jobs = [(f"warm{i}", warm_groups[i % len(warm_groups)]) for i in range(args.warmup)]
                warmed = send_all(bot_url, fake, jobs, args.concurrency, wait_reply=True)
                warm_replies, warm_problems = collect_replies(fake, warmed)
                print(
                    f"warm-up: {len(warm_replies)}/{args.warmup} replies on {len(warm_groups)} "
                    f"group(s), {sum(warm_problems.values())} errors (not counted below); "
                    f"RSS {memory(pid).rss_mb:.1f} MB"
                )
            if args.profile:
                profiler = start_profiler(pid, profile_raw, profile_log)
            with Scraper(f"{bot_url}/metrics", args.scrape_every) as scraper:
                for mode in modes:
                    met.append(run_phase(mode, bot_url, fake, processes, bot, setup))
            print(f"\n{scraper.summary()}")
            if profiler is not None:
                stop_profiler(profiler)
            mem = memory(pid)
        finally:
            if profiler is not None and profiler.poll() is None:
                stop(profiler)
            for name in ("bot", "simulator"):
                if name in processes:
                    stop(processes[name])

    print(
        f"\nbot memory: peak RSS (VmHWM) {mem.peak_mb:.1f} MB, RSS at the end {mem.rss_mb:.1f} MB"
    )
    with contextlib.suppress(OSError):
        print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    if args.profile:
        print_profile(profile_raw)
    if args.keep:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
