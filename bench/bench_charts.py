"""Benchmark: history charts, drawn alone and asked for through a running app.

1. Render (in this process): ``--charts`` charts of 7 days of 1-minute samples
   (10,080 points each, a daily cycle with noise, a drop, failed checks), each with
   three threshold lines and three firing periods, every chart's data its own.
   Prints the first chart (Pillow and the fonts loaded with it) and the p50/p99/max
   render time of the others (``render_png``: scene, drawing, PNG), their CPU split
   between the scene (pure Python) and the rasteriser (Pillow), and the peak RSS the
   plotting library added to this process (VmHWM after, less VmRSS before the first
   chart). Targets: p99 <= 300 ms; RSS added <= 60 MB. Then the import time of the
   bot's command line (``import bot.cli, bot.wiring``, as ``online-bot online`` starts:
   the median of 5 fresh processes), which must not load Pillow.

2. App (three processes, as bench_slash.py): the Tencent simulator, the bot
   (``python -m bot run``, HTTP mode, a SQLite file prepared here with 24 hours of
   1-minute samples and a watch for each of ``--groups`` groups), and this one, which
   serves the fake Slack Web API (users.info with a time zone for each user,
   conversations.open, files_upload_v2, response_url) and sends ``--requests``
   signed ``/online history <group> 24h`` commands at once, from as many threads,
   each from its own user. Two phases:

   - one group: every request asks about the same group (a channel after an
     alert); the bot reads it once and draws it once per time zone (3 here);
   - distinct groups: request i asks about group i (the worst case: as many
     reads and charts as requests).

   Full reply: from sending the POST to the answer's arrival on its response_url,
   after the chart was uploaded. Prints p50/p99/max, the charts uploaded, the bot's
   CPU per request and its RSS before the first chart and at its peak. Target: full
   reply p99 < 3 s.

    .venv/bin/python bench/bench_charts.py [--charts 100] [--requests 100]
        [--groups 100] [--phase one|distinct|both] [--skip-render] [--skip-app] [--profile]

``--profile`` attaches py-spy to the bot during the distinct phase (bench/profiling.py;
``.venv/bin/pip install py-spy``, for measuring only) and prints where its CPU went.

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from support.procstat import memory

from bot.render.charts import Chart, Panel, Point, Span, Threshold, render_png, scene
from bot.slack.transport import settle_memory

RENDER_P99_TARGET = 0.300
RSS_TARGET_MB = 60.0
REPLY_P99_TARGET = 3.0
REPLY_TIMEOUT = 120.0
SIGNING_SECRET = "bench-signing-secret"
WEEK_POINTS = 7 * 24 * 60
ZONES = ("Asia/Tokyo", "Europe/Paris", "America/New_York")


def audience(i: int, rng: random.Random, base: int) -> int | None:
    """A live room's audience at minute i: a daily cycle, noise, a drop, failed checks."""
    if rng.random() < 0.002:
        return None
    daily = math.sin(2 * math.pi * (i % 1440) / 1440 - math.pi / 2)
    value = base * (1 + 0.6 * daily) + rng.gauss(0, base * 0.03)
    if 3000 <= i % 5000 < 3030:
        value *= 0.2
    return max(0, int(value))


def week_chart(seed: int, end: float) -> Chart:
    rng = random.Random(seed)
    base = rng.randint(500, 5000)
    start = end - WEEK_POINTS * 60
    points = tuple(Point(start + 60 * i, audience(i, rng, base)) for i in range(WEEK_POINTS))
    thresholds = (
        Threshold(f"#{seed}1 below {base // 2:,}", base // 2, "below"),
        Threshold(f"#{seed}1 recover {base * 6 // 10:,}", base * 6 // 10, "recover"),
        Threshold(f"#{seed}2 above {base * 2:,}", base * 2, "above"),
    )
    spans = (
        *tuple(Span(start + k * 86400, start + k * 86400 + 1800) for k in (1, 3)),
        Span(end - 600),
    )
    panel = Panel(f"@TGS#bench-{seed:04d}", points, thresholds, spans, name=f"Bench {seed}")
    return Chart((panel,), start, end, ZoneInfo(ZONES[seed % len(ZONES)]))


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if len(ordered) == 1:
        return {"p50": ordered[0], "p99": ordered[0], "max": ordered[0]}
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p99": cuts[98], "max": ordered[-1]}


def shown(values: list[float]) -> str:
    return "  ".join(f"{k} {1000 * v:7.1f}" for k, v in percentiles(values).items()) + "  ms"


# --------------------------------------------------------------------------- render


def bench_render(charts: int) -> bool:
    end = time.time()
    pid = os.getpid()
    chart = week_chart(0, end)
    settle_memory()  # as the bot does once started
    before = memory(pid).rss_mb
    assert "PIL" not in sys.modules and "matplotlib" not in sys.modules
    started = time.perf_counter()
    first = render_png(chart)
    first_seconds = time.perf_counter() - started
    walls, cpus, scenes, sizes = [], [], [], [len(first)]
    for seed in range(1, charts + 1):
        chart = week_chart(seed, end)  # made before the clock starts
        started, cpu = time.perf_counter(), time.thread_time()
        png = render_png(chart)
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - started)
        sizes.append(len(png))
        cpu = time.thread_time()
        scene(chart)
        scenes.append(time.thread_time() - cpu)
    after = memory(pid)
    added = after.peak_mb - before
    p99 = percentiles(walls)["p99"]
    print(f"\n== render: {charts} charts of {WEEK_POINTS:,} points (7 days of 1-minute samples)")
    print(f"   first chart  {1000 * first_seconds:.0f} ms (Pillow and the fonts loaded with it)")
    print(f"   the others   {shown(walls)}  (mean {1000 * statistics.mean(walls):.1f} ms)")
    print(f"   CPU          {shown(cpus)}  (this thread's: what other processes' load leaves out)")
    print(f"   of which     scene {shown(scenes)}  (pure Python: downsampling, layout)")
    print(f"   PNG          {statistics.mean(sizes) / 1024:.0f} KB on average, 1200x600")
    heavy = [m for m in ("matplotlib", "numpy") if m in sys.modules]
    print(f"   loaded       {', '.join(heavy) or 'neither matplotlib nor numpy'}")
    print(
        f"   RSS          {before:.1f} MB before the first chart, peak {after.peak_mb:.1f} MB, "
        f"{after.rss_mb:.1f} MB after: {added:.1f} MB added"
    )
    met = p99 <= RENDER_P99_TARGET and added <= RSS_TARGET_MB
    print(
        f"   targets      p99 {1000 * p99:.0f} ms <= {1000 * RENDER_P99_TARGET:.0f} ms: "
        f"{'met' if p99 <= RENDER_P99_TARGET else 'MISSED'}; RSS added {added:.1f} MB <= "
        f"{RSS_TARGET_MB:.0f} MB: {'met' if added <= RSS_TARGET_MB else 'MISSED'}"
    )
    return met


def bench_import(runs: int = 5) -> None:
    """The bot's command line imported in fresh processes: what every command pays."""
    import subprocess

    code = (
        "import time, sys; t = time.perf_counter(); import bot.cli, bot.wiring; "
        "print(time.perf_counter() - t, 'PIL' in sys.modules)"
    )
    seconds, pillow = [], set()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        seconds.append(float(out[0]))
        pillow.add(out[1])
    print(
        f"   import       bot.cli + bot.wiring: median {1000 * statistics.median(seconds):.0f} ms "
        f"of {runs} processes; Pillow loaded: {'yes' if 'True' in pillow else 'no'}"
    )


# --------------------------------------------------------------------------- app


def prepare_database(url: str, groups: list[str], now: float) -> None:
    """The schema, 24 hours of 1-minute samples of each group, a watch on each (below a
    line it never crosses, so nothing alerts) with a resolved incident in its outbox."""
    from sqlalchemy import insert

    from bot.store import make_engine, session_factory, upgrade
    from bot.store.models import Outbox, SampleRow, Watch

    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(7)
    with session_factory(engine).begin() as session:
        for index, group in enumerate(groups):
            base = 1000 + 37 * index
            session.execute(
                insert(SampleRow),
                [
                    {
                        "group_id": group,
                        "mark": None,
                        "taken_at": datetime.fromtimestamp(now - 86_400 + 60 * i, UTC),
                        "value": audience(i, rng, base),
                        "error": None,
                    }
                    for i in range(1440)
                ],
            )
            watch = Watch(
                channel_id="C1",
                group_id=group,
                mark=None,
                rule_kind="below",
                threshold=10,
                recover=20,
                created_by="U0",
            )
            session.add(watch)
            session.flush()
            for kind, minutes_ago in (("firing", 600), ("resolved", 560)):
                session.add(
                    Outbox(
                        watch_id=watch.id,
                        incident_id=f"bench-{index}",
                        kind=kind,
                        dedup_key=f"bench-{index}-{kind}",
                        channel_id="C1",
                        payload={"text": kind},
                        status="delivered",
                        created_at=datetime.fromtimestamp(now - 60 * minutes_ago, UTC),
                    )
                )
    engine.dispose()


def write_scenario(path: Path, groups: list[str]) -> None:
    import yaml

    from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY

    scenario = {
        "sdkappid": DEMO_SDKAPPID,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "groups": [
            {"group_id": g, "name": f"Bench {i}", "type": "AVChatRoom", "steady": 1000}
            for i, g in enumerate(groups)
        ],
    }
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")


def send_at_once(url: str, fake, jobs: list[tuple[str, str, str]]) -> list[tuple[str, float]]:
    """POST every (name, user, text) at the same moment, from a thread each; returns each
    name with the time it was sent (time.monotonic, the fake's clock)."""
    import requests
    from support.slackapp import sign

    barrier = threading.Barrier(len(jobs))
    sent: list[tuple[str, float]] = []
    lock = threading.Lock()

    def one(job: tuple[str, str, str]) -> None:
        name, user, text = job
        body = urlencode(
            {
                "token": "legacy",
                "team_id": "T0001",
                "channel_id": "C1",
                "user_id": user,
                "user_name": "bench",
                "command": "/online",
                "text": text,
                "response_url": fake.response_url(name),
                "trigger_id": "1.2.3",
            }
        )
        ts = int(time.time())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, SIGNING_SECRET),
        }
        with requests.Session() as session:
            barrier.wait()
            at = time.monotonic()
            response = session.post(url + "/slack/events", data=body, headers=headers, timeout=30)
        if response.status_code != 200 or "Drawing" not in response.json().get("text", ""):
            raise RuntimeError(f"unexpected ack: {response.status_code} {response.text[:100]}")
        with lock:
            sent.append((name, at))

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()
    return sent


def run_phase(
    label: str, url: str, fake, bot, sim_pid: int, jobs: list[tuple[str, str, str]]
) -> bool:
    from support.procstat import children, cpu_seconds

    uploads_before = len(fake.uploaded_files())
    cpu_before = cpu_seconds(bot.process.pid)
    apart_before = {pid: cpu_seconds(pid) for pid in children(bot.process.pid)}
    others_before = time.process_time(), cpu_seconds(sim_pid)
    started = time.monotonic()
    sent = send_at_once(url, fake, jobs)
    latencies, problems = [], 0
    deadline = time.monotonic() + REPLY_TIMEOUT
    for name, at in sent:
        try:
            (call,) = fake.wait_for(f"response_url:{name}", timeout=deadline - time.monotonic())
        except AssertionError:
            problems += 1
            continue
        if "Chart attached" not in json.dumps(call.params.get("blocks")):
            problems += 1
        latencies.append(call.time - at)
    wall = time.monotonic() - started
    cpu = cpu_seconds(bot.process.pid) - cpu_before
    apart = {
        pid: cpu_seconds(pid) - apart_before.get(pid, 0.0) for pid in children(bot.process.pid)
    }
    ours, simulator = (
        time.process_time() - others_before[0],
        cpu_seconds(sim_pid) - others_before[1],
    )
    uploads = fake.uploaded_files()[uploads_before:]
    p99 = percentiles(latencies)["p99"] if latencies else float("inf")
    print(f"\n== {label}: {len(jobs)} requests sent at once")
    print(f"   full reply   {shown(latencies)}  (n={len(latencies)}); all in {wall:.2f} s")
    print(
        f"   charts       {len(uploads)} uploaded ({len({u.content for u in uploads})} "
        f"distinct PNGs), {problems} answers without their chart"
    )
    mem = memory(bot.process.pid)
    print(
        f"   bot          CPU {1000 * cpu / len(jobs):.1f} ms/request ({100 * cpu / wall:.0f}% "
        f"of a CPU); RSS {mem.rss_mb:.1f} MB, peak {mem.peak_mb:.1f} MB"
    )
    if apart:  # the drawing process (and multiprocessing's resource tracker)
        biggest = max(apart, key=lambda pid: apart[pid])
        print(
            f"   drawing      CPU {1000 * apart[biggest] / len(jobs):.1f} ms/request "
            f"({100 * apart[biggest] / wall:.0f}% of a CPU) in its own process; RSS "
            f"{memory(biggest).rss_mb:.1f} MB, peak {memory(biggest).peak_mb:.1f} MB"
        )
    print(  # the same two CPUs: what the fake Slack (and the senders) and the simulator used
        f"   beside it    this process (fake Slack, senders) {100 * ours / wall:.0f}% of a CPU, "
        f"the simulator {100 * simulator / wall:.0f}%"
    )
    met = p99 < REPLY_P99_TARGET and problems == 0 and len(latencies) == len(jobs)
    print(
        f"   target       full reply p99 {p99:.2f} s < {REPLY_P99_TARGET:.0f} s: "
        f"{'met' if met else 'MISSED'}"
    )
    return met


def bench_app(
    requests_count: int, group_count: int, phases: list[str], profile: bool = False
) -> bool:
    from profiling import print_profile, start_profiler, stop_profiler
    from support.fakeslack import FakeSlack
    from support.processes import STARTUP_TIMEOUT, BotProcess, free_port, start_simulator, stop

    from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY

    tmp = Path(tempfile.mkdtemp(prefix="bench-charts-"))
    groups = [f"@TGS#bench-{i:04d}" for i in range(max(group_count, 1))]
    database = f"sqlite:///{tmp / 'bot.db'}"
    started = time.monotonic()
    prepare_database(database, groups, time.time())
    print(
        f"\napp: {len(groups)} groups with 24 h of 1-minute samples and a watch each, "
        f"prepared in {time.monotonic() - started:.1f} s"
    )
    scenario = tmp / "scenario.yml"
    write_scenario(scenario, groups)
    met = []
    sim = bot = None
    with FakeSlack() as fake:
        for i in range(requests_count):
            fake.users[f"U{i:04d}"] = {"tz": ZONES[i % len(ZONES)]}
        try:
            sim_port, bot_port = free_port(), free_port()
            sim = start_simulator(scenario, sim_port, tmp / "simulator.log")
            bot = BotProcess(
                tmp,
                "bot",
                SLACK_BOT_TOKEN="xoxb-bench",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake.api_url,
                PORT=str(bot_port),
                DATABASE_URL=database,
                POLL_INTERVAL="86400",
                TENCENT_IM_BASE_URL=f"http://127.0.0.1:{sim_port}",
                TENCENT_IM_SDKAPPID=str(DEMO_SDKAPPID),
                TENCENT_IM_SECRET_KEY=DEMO_SECRET_KEY,
                TENCENT_IM_ADMIN=DEMO_ADMIN,
            )
            url = f"http://127.0.0.1:{bot_port}"
            bot.wait_until_healthy(url, STARTUP_TIMEOUT)
            time.sleep(3)  # the first poll cycle (one check per group) is over
            mem = memory(bot.process.pid)
            print(f"bot: RSS {mem.rss_mb:.1f} MB before the first chart (peak {mem.peak_mb:.1f})")
            if "one" in phases:
                jobs = [
                    (f"one{i:04d}", f"U{i:04d}", f"history {groups[0]} 24h")
                    for i in range(requests_count)
                ]
                met.append(run_phase("one group", url, fake, bot, sim.pid, jobs))
                time.sleep(11)  # past the 10 s reuse: the next phase reads and draws anew
            if "distinct" in phases:
                jobs = [
                    (f"distinct{i:04d}", f"U{i:04d}", f"history {groups[i % len(groups)]} 24h")
                    for i in range(requests_count)
                ]
                profiler = None
                if profile:
                    raw = tmp / "profile.txt"
                    profiler = start_profiler(bot.process.pid, raw, tmp / "py-spy.log")
                try:
                    met.append(
                        run_phase(f"{len(groups)} distinct groups", url, fake, bot, sim.pid, jobs)
                    )
                finally:
                    if profiler is not None:
                        stop_profiler(profiler)
                if profiler is not None:
                    print_profile(raw)
            mem = memory(bot.process.pid)
            print(
                f"\nbot memory: peak RSS {mem.peak_mb:.1f} MB, RSS at the end {mem.rss_mb:.1f} MB"
            )
            errors = [line for line in bot.output().splitlines() if " ERROR " in line]
            print(f"bot log: {len(errors)} ERROR lines")
        finally:
            if bot is not None:
                bot.stop()
            if sim is not None:
                stop(sim)
    shutil.rmtree(tmp, ignore_errors=True)
    return all(met)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charts", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--groups", type=int, default=100, help="for the distinct phase")
    parser.add_argument("--phase", choices=["one", "distinct", "both"], default="both")
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument("--skip-app", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy on the distinct phase")
    args = parser.parse_args(argv)
    with contextlib.suppress(OSError):
        print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"
    )
    met = []
    if not args.skip_render:
        met.append(bench_render(args.charts))
        bench_import()
    if not args.skip_app:
        phases = ["one", "distinct"] if args.phase == "both" else [args.phase]
        met.append(bench_app(args.requests, args.groups, phases, args.profile))
    with contextlib.suppress(OSError):
        print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
