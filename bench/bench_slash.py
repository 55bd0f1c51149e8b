"""Benchmark: slash commands into HTTP mode, ack latency and time to the full reply.

Three processes: the Tencent simulator (``python -m bot simulator``, 50 ms added
latency, one AVChatRoom group of 1,000 members served in pages of 400, so 3 pages),
the bot (``python -m bot run`` in HTTP mode), and this one, which serves the fake
Slack Web API (auth.test, conversations.open, files_upload_v2, response_url) and
sends signed ``/online`` commands from a thread pool, one ``requests.Session`` per
worker.

- ack latency: from sending the POST to its 200 (the ephemeral "Looking up").
- full reply: from sending the POST to the arrival at the fake of the answer on
  that command's own response_url (after the CSV of 1,000 members was uploaded).

Two load models, both at ``--concurrency`` workers (``--mode``, default both):

- burst: a worker sends its next command as soon as the last one is acknowledged,
  so the faster the acks, the more answers pile up inside the bot;
- users: a worker waits for its answer before sending the next command (ten people
  each waiting for their list): at most ``--concurrency`` answers in progress.

Targets: ack p99 < 100 ms (Slack allows 3 s); full reply p99 < 1 s.

    .venv/bin/python bench/bench_slash.py [--commands 200] [--concurrency 10]
        [--latency-ms 50] [--members 1000] [--page-size 400] [--warmup 10]
        [--mode burst|users|both] [--keep]

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import platform
import resource
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakeslack import FakeSlack
from processes import free_port, stop
from slackapp import sign

from bot.settings import Settings
from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY

GROUP_ID = "@TGS#bench-live"
GROUP_NAME = "Bench Live"
SIGNING_SECRET = "bench-signing-secret"
ACK_TARGET_P99 = 0.100
REPLY_TARGET_P99 = 1.0
STARTUP_TIMEOUT = 30.0
REPLY_TIMEOUT = 60.0  # for all replies to arrive after the last command was sent


# --------------------------------------------------------------------------- processes


def write_scenario(path: Path, members: int, page_size: int, latency_ms: float) -> None:
    scenario = {
        "sdkappid": DEMO_SDKAPPID,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "rate_limit": 200,
        "cache_seconds": 40,
        "page_size": page_size,
        "faults": {"latency_ms": latency_ms},
        "groups": [
            {"group_id": GROUP_ID, "name": GROUP_NAME, "type": "AVChatRoom", "steady": members}
        ],
    }
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")


def clean_env(**values: str) -> dict[str, str]:
    """os.environ without any setting the bot reads, plus ``values``."""
    controlled = {name.upper() for name in Settings.model_fields}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in controlled and not key.startswith(("SLACK_", "TENCENT_"))
    }
    env.update(values)
    return env


def spawn(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(process: subprocess.Popen[bytes], probe: str, log: Path) -> None:
    """Bounded: connection attempts until ``probe`` answers 200 (any answer for a POST API)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"{probe}: the process exited with {process.returncode}:\n"
                + log.read_text(errors="replace")
            )
        try:
            requests.get(probe, timeout=0.5)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    stop(process)
    raise SystemExit(f"{probe} did not answer in {STARTUP_TIMEOUT:.0f} s:\n" + log.read_text())


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a live process (of this one when ``pid`` is None)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a live process, in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


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
    sent_at: float  # time.monotonic(), the same clock as fakeslack.Call.time
    ack: float | None = None  # seconds, None when the POST failed
    error: str | None = None


def send_all(
    url: str, fake: FakeSlack, names: list[str], concurrency: int, *, wait_reply: bool
) -> list[Sent]:
    """Send one command per name from ``concurrency`` workers.

    A worker sends its next command as soon as the previous one is acknowledged, or, with
    ``wait_reply``, once its answer has arrived on the response_url (a user waiting).
    """
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def one(index_name: tuple[int, str]) -> Sent:
        index, name = index_name
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            with lock:
                sessions.append(session)
        body = command_body(GROUP_ID, fake.response_url(name), f"U{index % 50:04d}")
        ts = int(time.time())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, SIGNING_SECRET),
        }
        sent = Sent(name, time.monotonic())
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
        sent = list(pool.map(one, enumerate(names)))
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
        if GROUP_NAME not in text and GROUP_ID not in text:
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


def run_phase(
    mode: str,
    url: str,
    fake: FakeSlack,
    processes: dict[str, subprocess.Popen[bytes]],
    commands: int,
    concurrency: int,
) -> bool:
    """Send ``commands`` commands, print the figures; True when both targets are met."""
    wait_reply, explained = MODES[mode]
    names = [f"{mode}{i:04d}" for i in range(commands)]
    cpu_before = {who: cpu_seconds(processes[who].pid) for who in sorted(processes)}
    cpu_before["bench + fake Slack"] = cpu_seconds()
    uploads_before = len(fake.uploaded_files())
    started = time.monotonic()
    sent = send_all(url, fake, names, concurrency, wait_reply=wait_reply)
    sent_in = time.monotonic() - started
    replies, problems = collect_replies(fake, sent)
    answered = [c.time for c in fake.calls() if c.method.startswith(f"response_url:{mode}")]
    wall = max(answered, default=time.monotonic()) - started
    cpu_after = {who: cpu_seconds(processes[who].pid) for who in sorted(processes)}
    cpu_after["bench + fake Slack"] = cpu_seconds()
    uploads = len(fake.uploaded_files()) - uploads_before

    print(f"\n== {mode}: {commands} commands at concurrency {concurrency}; {explained}")
    print(
        f"   sent in {sent_in:.2f} s ({commands / sent_in:.1f}/s); every reply in {wall:.2f} s "
        f"({len(answered) / wall:.1f} replies/s)"
    )
    print(line("ack", [s.ack for s in sent if s.ack is not None and s.error is None]))
    print(line("full reply", replies))
    print(
        f"   replies      {len(replies)}/{commands} arrived with the list; "
        f"{uploads} CSV files uploaded"
    )
    print(f"   errors       {sum(problems.values())}")
    for message, n in problems.most_common(5):
        print(f"     {n} x {message}")
    print(
        "   CPU          "
        + "; ".join(
            f"{who} {cpu_after[who] - cpu_before[who]:.2f} s "
            f"({1000 * (cpu_after[who] - cpu_before[who]) / commands:.1f} ms/command, "
            f"{100 * (cpu_after[who] - cpu_before[who]) / wall:.0f}% of a CPU)"
            for who in cpu_before
        )
    )
    acks = [s.ack for s in sent if s.ack is not None and s.error is None]
    ack_p99 = percentiles(acks).get("p99", float("inf")) if len(acks) == commands else float("inf")
    reply_p99 = percentiles(replies).get("p99", float("inf"))
    complete = len(replies) == commands
    ack_ok, reply_ok = ack_p99 < ACK_TARGET_P99, reply_p99 < REPLY_TARGET_P99 and complete
    print(
        f"   targets      ack p99 {1000 * ack_p99:.1f} ms < {1000 * ACK_TARGET_P99:.0f} ms: "
        f"{'met' if ack_ok else 'MISSED'}; full reply p99 {1000 * reply_p99:.1f} ms < "
        f"{1000 * REPLY_TARGET_P99:.0f} ms, every reply: {'met' if reply_ok else 'MISSED'}"
    )
    return ack_ok and reply_ok


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=200)
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
    parser.add_argument("--keep", action="store_true", help="keep the logs (temporary directory)")
    args = parser.parse_args(argv)
    modes = list(MODES) if args.mode == "both" else [args.mode]

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}"
    )
    pages = -(-min(args.members, 1000) // args.page_size)
    print(
        f"setup: group of {args.members} members in {pages} page(s) of {args.page_size}, "
        f"simulator latency {args.latency_ms:g} ms; simulator, bot and this process (fake Slack) "
        f"on the same machine"
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench-slash-"))
    scenario = tmp / "scenario.yml"
    write_scenario(scenario, args.members, args.page_size, args.latency_ms)
    sim_port, bot_port = free_port(), free_port()
    sim_log, bot_log = tmp / "simulator.log", tmp / "bot.log"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    met = []
    with FakeSlack() as fake:
        try:
            sim_args = ["--host", "127.0.0.1", "--port", str(sim_port), "--scenario", str(scenario)]
            sim = processes["simulator"] = spawn(
                ["simulator", *sim_args], clean_env(), tmp, sim_log
            )
            sim_url = f"http://127.0.0.1:{sim_port}"
            wait_ready(sim, sim_url + "/", sim_log)
            bot_env = clean_env(
                SLACK_BOT_TOKEN="xoxb-bench",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake.api_url,
                PORT=str(bot_port),
                TENCENT_IM_BASE_URL=sim_url,
                TENCENT_IM_SDKAPPID=str(DEMO_SDKAPPID),
                TENCENT_IM_SECRET_KEY=DEMO_SECRET_KEY,
                TENCENT_IM_ADMIN=DEMO_ADMIN,
                XDG_DATA_HOME=str(tmp / "data"),
            )
            bot = processes["bot"] = spawn(["run"], bot_env, tmp, bot_log)
            bot_url = f"http://127.0.0.1:{bot_port}"
            wait_ready(bot, bot_url + "/healthz", bot_log)
            print(f"bot: pid {bot.pid}, RSS after start {memory(bot.pid)['VmRSS'] / 1024:.1f} MB")

            if args.warmup:
                names = [f"warm{i}" for i in range(args.warmup)]
                warmed = send_all(bot_url, fake, names, args.concurrency, wait_reply=True)
                warm_replies, warm_problems = collect_replies(fake, warmed)
                print(
                    f"warm-up: {len(warm_replies)}/{args.warmup} replies, "
                    f"{sum(warm_problems.values())} errors (not counted below)"
                )
            for mode in modes:
                met.append(
                    run_phase(mode, bot_url, fake, processes, args.commands, args.concurrency)
                )
            mem = memory(bot.pid)
        finally:
            for name in ("bot", "simulator"):
                if name in processes:
                    stop(processes[name])

    print(
        f"\nbot memory: peak RSS (VmHWM) {mem['VmHWM'] / 1024:.1f} MB, "
        f"RSS at the end {mem['VmRSS'] / 1024:.1f} MB"
    )
    if args.keep:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
