"""Benchmark: push (issue #11), Tencent's member-state callbacks into ``online-bot run``.

Real parts: the bot is ``python -m bot --log-level INFO run`` in HTTP mode (Slack is the
fake Web API served in this process, SLACK_API_URL; the database a SQLite file in a
temporary directory, or ``--database-url`` for PostgreSQL; TENCENT_IM_CALLBACK_TOKEN set),
Tencent's REST API is the simulator in its own process (``online-bot simulator`` with a
scenario YAML written here, 20 ms added latency, 60007 past ``--rate`` calls/s per API,
every request it answers in its DEBUG log), and the watches are bulk-inserted into the
migrated database before the bot starts. This process plays Tencent's webhook: it POSTs
signed ``Group.CallbackOnMemberStateChange`` callbacks (``bot.tencent.callbacks``:
``signed_query``) to the bot's /tencent/callback from a pool of sender threads, one
keep-alive connection each, at the times a schedule says (open loop: a slow answer does
not slow the schedule; how late the sends were is printed). The senders use
``http.client``, not ``requests``: ``requests`` costs about 1 ms of CPU a POST on this
machine (``http.client`` 0.09 ms), so 1,000 a second would take this process's whole GIL
and the CPU the bot needs. The simulator has no control endpoint, so the audiences are
scripted in the scenario (``drop`` curves with ``at``/``recover_at``, ``walk`` curves)
and the callbacks follow the script: the count API agrees with them. The curves count
from the simulator's start, which this process reads off a clock group (a ``ramp`` of one
member a second) to about 10 ms before sending anything.

Modes (``--mode``; by default ingest, then latency):

- **ingest**: ``--rate-callbacks`` (1,000) callbacks/s for ``--seconds`` (30) to one bot,
  spread over ``--watched`` (2,000) watched and ``--unwatched`` (2,000) unwatched groups in
  turn, 1 to 50 members each, joins and leaves keeping every watched group within 50 of
  its audience. The watches (``below 10`` on audiences of 100) cannot fire and
  POLL_INTERVAL is an hour, and the bench starts once the first poll cycle is done: no
  check runs in the window, so nothing resets ``targets.push_delta``, and for every
  watched group the deltas answered 200 must add up to exactly what the database holds
  (the simulator's counts are not asked in that window, so they are left steady).
  Prints callbacks/s achieved, ack latency (send to the 200 answer) p50/p99/max, non-200
  answers, lost callbacks, checks run and asked in the window, and the bot's CPU and
  peak RSS (VmHWM). Targets: >= 1,000 callbacks/s, ack p99 < 50 ms, 0 non-200, 0 lost.
- **latency**: ``--drops`` (250) groups watched ``below 100`` with a steady audience of
  300, POLL_INTERVAL=60. After the first poll cycle every group gets a join and a leave
  (it is then push-fed: its next poll is PUSH_RESYNC_INTERVAL away, so an alert can only
  come from push); then, every ``--spacing`` (0.4) s, one group's audience falls to 20
  in the simulator and the bench sends its 280 Offline members in callbacks of at most
  50, 0.3 s apart. Alert latency: the fake Slack's arrival of the group's alert
  (chat.postMessage, metadata kind ``firing``) less the send of the drop's first Offline
  callback. Prints p50/p99/max and its two parts (to the claim of the group's check, the
  first since the callback, ``samples.taken_at``; from there to Slack), alerts received
  and missed, alerts that came from polling (sooner than DEBOUNCE after the first
  callback), false alerts, the checks each drop cost and the Tencent calls while the
  drops came. Targets: every drop alerted, p99 <= 15 s (polling alone: up to
  POLL_INTERVAL + the tick, 61 s).
- **scale**: ``--groups`` (50,000) watched groups (``below`` half the audience), 90 %
  push-fed, the rest polled every POLL_INTERVAL=60; PUSH_RESYNC_INTERVAL=600, simulator
  rate limit 200/s. A push-fed group's audience (``--audience``, 200) is a ``walk``: every
  60-360 s it moves by up to 0.04 x audience x period / 60 members (about 2 % of the
  audience a minute, balanced around the base), and the bench sends each move as it
  happens in callbacks of 1 to 50 members. About 1 % of the groups per 10 minutes (polled
  ones too) drop to a tenth of their audience (a ``drop`` curve, recovering 2-4 minutes
  later; a push-fed one also gets a join and a leave every 60-360 s, so that it stays
  push-fed, and its fall and recovery as callbacks). Runs ``--minutes`` (20) from the
  bot's start and measures the last ``--window`` (10) minutes, after the first check of
  every group (50,000 at the polling rate: ~263 s). First a timeline (every minute, or
  two past 30 minutes): online-count calls/s and the most in one second, 60007, checks/s
  of push-fed and polled groups and the polled ones that came late, push-fed drops'
  latency and its two parts (to the claim of the check, from there to Slack), polled
  drops' latency. Then the window: Tencent calls/s (from the simulator's log, by the
  second answered), the most in one second, 60007 answers (the bot logs each), alert
  latency for drops on push-fed groups (first Offline callback to alert) and on polled
  ones (the drop to alert), missed alerts (a drop with no alert until MISS_SLACK after it
  recovers; drops in the last MISS_SLACK seconds are not judged) and false alerts (an
  alert outside any drop of its group), polled groups' checks later than the interval
  allows, callbacks/s and their ack latency, against polling alone (50,000 groups need
  one cycle of ~263 s at 190.2 calls/s); the bot's CPU and peak RSS. Targets: 0 60007,
  0 missed, 0 false, push-fed p99 <= 15 s, at most ``--rate`` count calls in a second.

``--profile`` samples the bot with py-spy during the ingest window and prints where its
CPU went (``.venv/bin/pip install py-spy``; it slows the bot down, so take the timings
from a run without it).

    .venv/bin/python bench/bench_push.py [--mode ingest|latency|scale]
        [--database-url URL] [--latency-ms 20] [--rate 200] [--threads 16] [--keep]
        [--profile]
        ingest:  [--rate-callbacks 1000] [--seconds 30] [--watched 2000] [--unwatched 2000]
        latency: [--drops 250] [--spacing 0.4] [--first-drop 100]
        scale:   [--groups 50000] [--minutes 20] [--window 10] [--audience 200]
                 [--push-share 0.9] [--lead S]

Not a test: it prints figures. Ingest then latency take about 4 minutes together
(ingest ~1 min, latency ~2.5 min). Scale takes ``--minutes`` plus its set-up: for
50,000 groups about 6 minutes on a busy machine (the simulator reads 7 MB of YAML, then
builds 10 million members, ~4 GB, before it listens), so about 27 minutes in all;
``--groups 5000 --minutes 6 --window 3`` takes about 7 minutes.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import http.client
import json
import math
import os
import platform
import queue
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import yaml
from sqlalchemy import Engine, func, select, text

from bot.alerts.mapping import to_dt, to_ts
from bot.alerts.push import DEBOUNCE
from bot.alerts.quiet import push_margin
from bot.scheduler import PUSH_TICK
from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY
from bot.simulator.scenario import Walk
from bot.store.db import make_engine, safe_url, upgrade
from bot.store.models import SampleRow, TargetRow
from bot.tencent.callbacks import MEMBER_STATE_CHANGE, signed_query
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import WINDOW_MS, RateLimits, sustained_per_window
from bot.webhook import CALLBACK_PATH

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.*
from profiling import print_profile, start_profiler, stop_profiler
from support.benchdb import insert_watches, scratch_database
from support.fakeslack import Call, FakeSlack
from support.processes import STARTUP_TIMEOUT, free_port, start_simulator, stop
from support.procstat import cpu_seconds, memory
from support.replicas import Replica, stop_replicas

TOKEN = "bench-webhook-token"
CHANNELS = 50
MAX_MEMBERS = 50  # members in one callback (Tencent's batches; the simulator's too)
RESERVE = 4  # TENCENT_IM_INTERACTIVE_RESERVE's default: polling's share of the budget
#: The clock group's audience is the whole seconds since the simulator started.
CLOCK_GROUP = "@TGS#bench-clock"
SIM_REQUEST = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) DEBUG bot\.simulator\.server: \S+ "
    r'"POST /v4/(?P<service>\w+)/(?P<command>\w+)\?',
    re.MULTILINE,
)
BOT_60007 = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO bot\.tencent\.client: "
    r"Tencent \S+: error 60007",
    re.MULTILINE,
)
COUNT_CALL = ("group_open_http_svc", "get_online_member_num")
INFO_CALL = ("group_open_http_svc", "get_group_info")

# ingest
INGEST_AUDIENCE = 100
INGEST_THRESHOLD = 10
INGEST_SWING = 50  # a watched group's callbacks keep it within this of its audience
# latency
LATENCY_AUDIENCE = 300
LATENCY_THRESHOLD = 100
LATENCY_FLOOR = 20
CHUNK_GAP = 0.3  # seconds between the callbacks of one fall or recovery
CALLBACK_LAG = 0.1  # a callback leaves this long after the move it reports
# scale
SCALE_RESYNC = 600
SCALE_INTERVAL = 60
MISS_SLACK = 90.0  # an alert may come this long after its drop recovered
LATE_SLACK = 5.0  # a polled check later than interval + tick + this is late


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("ingest", "latency", "scale"), default=None)
    parser.add_argument(
        "--database-url", default=None, help="default: a SQLite file in a temporary directory"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator added latency")
    parser.add_argument("--rate", type=int, default=200, help="Tencent calls/s, both sides")
    parser.add_argument("--threads", type=int, default=16, help="callback sender threads")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="ingest: sample the bot with py-spy while it takes the callbacks (.venv/bin/pip "
        "install py-spy; it slows the bot down)",
    )
    ingest = parser.add_argument_group("ingest")
    ingest.add_argument("--rate-callbacks", type=float, default=1000.0, help="callbacks/s")
    ingest.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    ingest.add_argument("--watched", type=int, default=2000, help="watched groups")
    ingest.add_argument("--unwatched", type=int, default=2000, help="groups nobody watches")
    latency = parser.add_argument_group("latency")
    latency.add_argument("--drops", type=int, default=250, help="groups, one drop each")
    latency.add_argument("--spacing", type=float, default=0.4, help="seconds between drops")
    latency.add_argument(
        "--first-drop",
        type=float,
        default=100.0,
        help="seconds from the simulator's start to the first drop (after the bot's second "
        "poll cycle: every group push-fed)",
    )
    scale = parser.add_argument_group("scale")
    scale.add_argument("--groups", type=int, default=50_000)
    scale.add_argument("--minutes", type=float, default=20.0, help="run, from the bot's start")
    scale.add_argument("--window", type=float, default=10.0, help="minutes measured, at the end")
    scale.add_argument("--audience", type=int, default=200, help="a group's base audience")
    scale.add_argument("--push-share", type=float, default=0.9, help="share of push-fed groups")
    scale.add_argument(
        "--lead",
        type=float,
        default=None,
        help="seconds from the simulator's start to the bot's (its members take a while to "
        "build): drops start then; default estimated from the size",
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # long runs, to a file

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.platform()}; load average {_load()} at start"
    )
    modes = [args.mode] if args.mode else ["ingest", "latency"]
    ok = True
    for mode in modes:
        run = {"ingest": run_ingest, "latency": run_latency, "scale": run_scale}[mode]
        ok = run(args) and ok
    print(f"\nload average {_load()} at the end")
    return 0 if ok else 1


# --------------------------------------------------------------------------- the simulator


def write_scenario(
    path: Path, groups: list[dict[str, Any]], *, rate: int, latency_ms: float
) -> None:
    """The scenario: the demo app, ``rate`` calls/s per API, ``latency_ms``, the groups and
    the clock group (libyaml's dumper when there is one: 50,000 groups in seconds)."""
    scenario = {
        "sdkappid": DEMO_SDKAPPID,
        "secret_key": DEMO_SECRET_KEY,
        "admin": DEMO_ADMIN,
        "rate_limit": rate,
        "faults": {"latency_ms": latency_ms},
        "groups": [
            *groups,
            {
                "group_id": CLOCK_GROUP,
                "name": "Clock",
                "ramp": {"from": 0, "to": 10**7, "over": 10**7},
            },
        ],
    }
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(scenario, out, Dumper=dumper, sort_keys=False)


def tencent_client(port: int, rate: int) -> TencentClient:
    return TencentClient(
        sdkappid=DEMO_SDKAPPID,
        secret_key=DEMO_SECRET_KEY,
        admin=DEMO_ADMIN,
        base_url=f"http://127.0.0.1:{port}",
        rate_limits=RateLimits(rate),
    )


def simulator_origin(port: int, rate: int) -> float:
    """The wall time of the simulator's start (its curves' t = 0), to about 10 ms: the clock
    group's count is the whole seconds since then, so the moment it ticks over, between
    two count calls 10 ms apart, is the start plus a whole number."""
    client = tencent_client(port, rate)
    try:
        before = time.time()
        previous = client.online_count(CLOCK_GROUP)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            time.sleep(0.01)
            sent = time.time()
            value = client.online_count(CLOCK_GROUP)
            answered = time.time()
            if value != previous:
                # it ticked over after ``before`` (the last old answer's request left then)
                # and before this answer came back
                return (before + answered) / 2 - value
            before, previous = sent, value
    finally:
        client.close()
    raise SystemExit("the simulator's clock group did not tick in 3 s")


def simulator_calls(log: Path) -> Counter[tuple[str, str, int]]:
    """Calls the simulator answered, by (service, command, second), from its DEBUG log
    (stamped when answered: 20 ms after they arrived)."""
    calls: Counter[tuple[str, str, int]] = Counter()
    for m in SIM_REQUEST.finditer(log.read_text(errors="replace")):
        calls[(m["service"], m["command"], int(_log_time(m["at"])))] += 1
    return calls


def _log_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


# --------------------------------------------------------------------------- the webhook


class Callback(NamedTuple):
    """One callback to send at wall time ``at``: ``delta`` members joined (> 0) or left."""

    at: float
    group: str
    delta: int
    tag: int = -1  # which fall (or recovery) it belongs to, if any


class Sent(NamedTuple):
    callback: Callback
    sent: float  # time.monotonic() when the request left
    answered: float  # ... when the answer came (or the request failed)
    status: int  # HTTP status; 0 for no answer


def chunks(members: int) -> list[int]:
    """``members`` in callbacks of at most MAX_MEMBERS."""
    return [min(MAX_MEMBERS, members - done) for done in range(0, members, MAX_MEMBERS)]


def callback_body(callback: Callback) -> bytes:
    online = callback.delta > 0
    return json.dumps(
        {
            "CallbackCommand": MEMBER_STATE_CHANGE,
            "GroupId": callback.group,
            "EventType": "Online" if online else "Offline",
            "EventCause": "Join" if online else "Quit",
            "MemberList": [{"Member_Account": f"bench{n}"} for n in range(abs(callback.delta))],
        },
        separators=(",", ":"),
    ).encode()


class Sender:
    """Sends scheduled callbacks to the bot, signed as Tencent signs them: one dispatcher
    hands each to a pool of threads when its time comes. Each thread keeps one HTTP/1.1
    connection (``http.client``: see the module's docstring)."""

    def __init__(self, url: str, *, threads: int, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "", parts.port or 80, parts.path
        self.timeout = timeout
        self.results: list[Sent] = []
        self.skipped = 0  # scheduled in the past
        self.failures: Counter[str] = Counter()  # sends that got no answer, by exception
        self._heap: list[tuple[float, int, Callback]] = []
        self._seq = 0
        self._outstanding = 0
        self._closed = False
        self._cond = threading.Condition()
        self._work: queue.SimpleQueue[Callback | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._send_loop, name=f"sender-{i}", daemon=True)
            for i in range(threads)
        ]
        self._threads.append(threading.Thread(target=self._dispatch, name="dispatch", daemon=True))
        for thread in self._threads:
            thread.start()

    def schedule(self, callbacks: Iterable[Callback], *, not_before: float | None = None) -> int:
        """Schedule these; those due before ``not_before`` (default: now) are skipped.
        Returns how many were scheduled."""
        floor = time.time() if not_before is None else not_before
        added = 0
        with self._cond:
            for callback in callbacks:
                if callback.at < floor:
                    self.skipped += 1
                    continue
                heapq.heappush(self._heap, (callback.at, self._seq, callback))
                self._seq += 1
                added += 1
            self._outstanding += added
            self._cond.notify_all()
        return added

    def drain(self, timeout: float) -> bool:
        """Wait until every scheduled callback is answered; False if ``timeout`` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(self.timeout + 1)

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._heap and self._heap[0][0] <= time.time():
                        break
                    wait = self._heap[0][0] - time.time() if self._heap else 0.5
                    self._cond.wait(min(max(wait, 0.0), 0.5))
                if self._closed:
                    break
                now = time.time()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
            for callback in due:
                self._work.put(callback)
        for _ in range(len(self._threads) - 1):
            self._work.put(None)

    def _send_loop(self) -> None:
        connection: http.client.HTTPConnection | None = None
        headers = {"Content-Type": "application/json"}
        while (callback := self._work.get()) is not None:
            body = callback_body(callback)
            query = urlencode(signed_query(DEMO_SDKAPPID, TOKEN, time.time()))
            if connection is not None and _dropped(connection):
                connection.close()  # the server closed it while it was idle (as urllib3 checks)
                connection = None
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            sent = time.monotonic()
            try:
                connection.request("POST", f"{self.path}?{query}", body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = None  # a new one for the next callback
                status = 0
                with self._cond:
                    self.failures[type(error).__name__] += 1
            self.results.append(Sent(callback, sent, time.monotonic(), status))
            with self._cond:
                self._outstanding -= 1
                if self._outstanding == 0:
                    self._cond.notify_all()
        if connection is not None:
            connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the other end (EOF waiting)."""
    sock = connection.sock
    if sock is None:
        return False
    timeout = sock.gettimeout()
    sock.settimeout(0)  # a socket with a timeout would wait for something to read
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # nothing to read: still open
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


# --------------------------------------------------------------------------- the bot


@dataclass
class Rig:
    """One run's parts: the simulator, the database, the fake Slack, the bot, the sender."""

    directory: Path
    sim_port: int
    sim_log: Path
    database_url: str
    engine: Engine
    fake: FakeSlack
    bot: Replica | None = None
    sender: Sender | None = None
    mono_offset: float = field(default_factory=lambda: time.time() - time.monotonic())

    def wall(self, monotonic: float) -> float:
        return monotonic + self.mono_offset

    def start_bot(self, *, rate: int, interval: int, resync: int = SCALE_RESYNC) -> Replica:
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench",
            "SLACK_API_URL": self.fake.api_url,
            "DATABASE_URL": self.database_url,
            "TENCENT_IM_BASE_URL": f"http://127.0.0.1:{self.sim_port}",
            "TENCENT_IM_SDKAPPID": str(DEMO_SDKAPPID),
            "TENCENT_IM_SECRET_KEY": DEMO_SECRET_KEY,
            "TENCENT_IM_RATE_LIMIT": str(rate),
            "POLL_INTERVAL": str(interval),
            "PUSH_RESYNC_INTERVAL": str(resync),
            "TENCENT_IM_CALLBACK_TOKEN": TOKEN,
        }
        started = time.monotonic()
        self.bot = Replica(self.directory / "bot", "bot", **env)
        self.bot.wait_until_healthy(self.bot.url, STARTUP_TIMEOUT)
        print(f"bot: pid {self.bot.pid}, serving in {time.monotonic() - started:.1f} s")
        return self.bot

    def start_sender(self, threads: int) -> Sender:
        assert self.bot is not None
        self.sender = Sender(self.bot.url + CALLBACK_PATH, threads=threads)
        return self.sender

    def scalar(self, query: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(query), params).scalar()

    def wait_checked(self, targets: int, timeout: float, *, times: int = 1) -> float:
        """Until ``targets`` targets exist, each checked ``times`` times and none leased
        (the cycle's watches judged); returns when."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            existing = self.scalar("SELECT count(*) FROM targets") or 0
            checked = self.scalar(
                "SELECT count(*) FROM (SELECT group_id FROM samples GROUP BY group_id "
                "HAVING count(*) >= :times) AS checked",
                times=times,
            )
            leased = self.scalar("SELECT count(*) FROM targets WHERE lease_owner IS NOT NULL")
            if existing >= targets and checked >= targets and not leased:
                return time.time()
            time.sleep(0.5)
        raise SystemExit(f"{targets} targets were not checked {times} time(s) in {timeout:.0f} s")

    def alerts(self, kind: str = "firing") -> list[tuple[int, float]]:
        """(watch id, wall time it reached Slack) of every alert message of ``kind``."""
        found = []
        for call in self.fake.calls("chat.postMessage"):
            payload = _event_payload(call)
            if payload.get("kind") == kind:
                found.append((int(payload["watch_id"]), self.wall(call.time)))
        return found

    @contextmanager
    def profiled(self, enabled: bool) -> Iterator[None]:
        """py-spy on the bot meanwhile, with ``--profile`` (then its summary is printed:
        timings are better taken from a run without it)."""
        if not enabled:
            yield
            return
        assert self.bot is not None
        raw = self.directory / "profile.txt"
        profiler = start_profiler(self.bot.pid, raw, self.directory / "py-spy.log")
        try:
            yield
        finally:
            stop_profiler(profiler)
        print_profile(raw)

    def rate_limited(self) -> list[float]:
        """When the bot was answered 60007 (its client logs each answer)."""
        assert self.bot is not None
        return [_log_time(m["at"]) for m in BOT_60007.finditer(self.bot.output())]


def _event_payload(call: Call) -> dict[str, Any]:
    metadata = call.params.get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return (metadata or {}).get("event_payload") or {}


@contextmanager
def rig(
    args: argparse.Namespace,
    prefix: str,
    groups: list[dict[str, Any]],
    watches: list[dict[str, Any]],
    *,
    sim_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[Rig]:
    """The simulator (these groups and the clock group), a migrated database holding these
    watches, and the fake Slack; the bot and the sender are started by the mode. Everything
    is stopped on the way out."""
    directory = Path(tempfile.mkdtemp(prefix=f"bench-push-{prefix}-"))
    with ExitStack() as stack:
        stack.callback(_cleanup, directory, args.keep)
        url = stack.enter_context(scratch_database(args.database_url, directory))
        started = time.monotonic()
        upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        insert_watches(engine, watches, now=time.time())
        print(
            f"database: {safe_url(url)} migrated, {len(watches):,} watches inserted in "
            f"{time.monotonic() - started:.1f} s"
        )
        started = time.monotonic()
        scenario = directory / "scenario.yml"
        write_scenario(scenario, groups, rate=args.rate, latency_ms=args.latency_ms)
        port = free_port()
        sim_log = directory / "simulator.log"
        simulator = start_simulator(scenario, port, sim_log, log_level="DEBUG", timeout=sim_timeout)
        stack.callback(stop, simulator)
        print(
            f"simulator: pid {simulator.pid}, {len(groups):,} groups, serving in "
            f"{time.monotonic() - started:.1f} s"
        )
        fake = stack.enter_context(FakeSlack())
        one = Rig(directory, port, sim_log, url, engine, fake)
        stack.callback(_stop_parts, one)
        yield one


def _stop_parts(one: Rig) -> None:
    if one.sender is not None:
        one.sender.close()
    if one.bot is not None:
        stop_replicas([one.bot])


def _cleanup(directory: Path, keep: bool) -> None:
    if keep:
        print(f"logs kept in {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(values: Sequence[float], scale: float = 1.0, unit: str = "s", digits: int = 1) -> str:
    if not values:
        return "none"
    return " | ".join(
        f"{name} {percentile(values, p) * scale:.{digits}f} {unit}"
        for name, p in (("p50", 50), ("p99", 99), ("max", 100))
    )


def checks_by_group(checks: Iterable[tuple[str, float]]) -> dict[str, list[float]]:
    """Each group's checks (when claimed), in order."""
    found: defaultdict[str, list[float]] = defaultdict(list)
    for group, at in checks:
        found[group].append(at)
    return {group: sorted(times) for group, times in found.items()}


def claimed_after(checks: dict[str, list[float]], group: str, after: float) -> float | None:
    """When the first check of ``group`` at or after ``after`` was claimed."""
    times = checks.get(group, [])
    i = bisect.bisect_left(times, after)
    return times[i] if i < len(times) else None


def _counted(counter: Counter[int]) -> str:
    """``{1: 249, 2: 1}`` as "1 check for 249, 2 for 1"."""
    parts = [f"{k} check{'s' if k != 1 else ''} for {n}" for k, n in sorted(counter.items())]
    return ", ".join(parts) or "none"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


@dataclass
class Usage:
    """CPU seconds of the bot, the simulator and this process over a window."""

    pids: dict[str, int | None]
    started: float = field(default_factory=time.monotonic)
    before: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def line(self) -> str:
        spent = time.monotonic() - self.started
        parts = []
        for name, pid in self.pids.items():
            seconds = cpu_seconds(pid) - self.before[name]
            parts.append(f"{name} {seconds:.1f} s ({100 * seconds / spent:.0f} % of a CPU)")
        return ", ".join(parts) + f" over {spent:.0f} s"


# --------------------------------------------------------------------------- ingest


def ingest_group(index: int, watched: int) -> str:
    return f"@TGS#push-{index:05d}" if index < watched else f"@TGS#push-u{index - watched:05d}"


def ingest_schedule(
    start: float, rate: float, seconds: float, watched: int, unwatched: int, seed: int
) -> list[Callback]:
    """``rate`` a second from ``start``: the groups in a shuffled round (a group's next
    callback comes one round later, so two of them are never in flight at once), 1 to 50
    members, joins or leaves keeping a watched group within INGEST_SWING of its audience."""
    rng = random.Random(seed)
    order = list(range(watched + unwatched))
    rng.shuffle(order)
    moved = [0] * (watched + unwatched)
    callbacks = []
    for n in range(int(rate * seconds)):
        index = order[n % len(order)]
        size = rng.randint(1, MAX_MEMBERS)
        if moved[index] + size > INGEST_SWING:
            delta = -size
        elif moved[index] - size < -INGEST_SWING:
            delta = size
        else:
            delta = rng.choice((size, -size))
        moved[index] += delta
        callbacks.append(Callback(start + n / rate, ingest_group(index, watched), delta))
    return callbacks


def run_ingest(args: argparse.Namespace) -> bool:
    total = int(args.rate_callbacks * args.seconds)
    print(
        f"\n== ingest: {total:,} callbacks at {args.rate_callbacks:g}/s for {args.seconds:g} s, "
        f"{args.watched:,} watched groups ('below {INGEST_THRESHOLD}', audience "
        f"{INGEST_AUDIENCE}) and {args.unwatched:,} unwatched in turn, 1-{MAX_MEMBERS} members "
        f"each; {args.threads} sender threads; POLL_INTERVAL=3600"
    )
    groups = [
        {
            "group_id": ingest_group(i, args.watched),
            "name": f"Ingest {i}",
            "steady": INGEST_AUDIENCE,
        }
        for i in range(args.watched)
    ]
    watches = [
        {
            "channel_id": f"C{i % CHANNELS:04d}",
            "group_id": ingest_group(i, args.watched),
            "rule_kind": "below",
            "threshold": INGEST_THRESHOLD,
        }
        for i in range(args.watched)
    ]
    with rig(args, "ingest", groups, watches) as one:
        bot = one.start_bot(rate=args.rate, interval=3600)
        done = one.wait_checked(args.watched, timeout=120 + args.watched / 100)
        print(f"first poll cycle done: {args.watched:,} targets checked; sending")
        checks_before = one.scalar("SELECT count(*) FROM samples")
        sender = one.start_sender(args.threads)
        start = max(done, time.time()) + 1.0
        schedule = ingest_schedule(
            start, args.rate_callbacks, args.seconds, args.watched, args.unwatched, args.seed
        )
        with one.profiled(args.profile):
            usage = Usage({"bot": bot.pid, "bench": None})
            sender.schedule(schedule)
            drained = sender.drain(args.seconds + 120)
            cpu = usage.line()
        checks = one.scalar("SELECT count(*) FROM samples") - checks_before
        asked = one.scalar("SELECT count(*) FROM targets WHERE push_due_at IS NOT NULL")
        with one.engine.connect() as connection:
            stored = dict(
                connection.execute(text("SELECT group_id, push_delta FROM targets")).all()
            )
        peak, rss = memory(bot.pid)

    results = sender.results
    ok_results = [r for r in results if r.status == 200]
    statuses = Counter(r.status for r in results if r.status != 200)
    sent_sum: defaultdict[str, int] = defaultdict(int)
    for r in ok_results:
        sent_sum[r.callback.group] += r.callback.delta
    watched_ids = [ingest_group(i, args.watched) for i in range(args.watched)]
    mismatched = [g for g in watched_ids if stored.get(g, 0) != sent_sum.get(g, 0)]
    lost_members = sum(abs(sent_sum.get(g, 0) - stored.get(g, 0)) for g in watched_ids)
    to_watched = sum(1 for r in ok_results if r.callback.group in stored)
    first = min(r.sent for r in results)
    last = max(r.answered for r in results)
    achieved = len(results) / (last - first)
    acks = [r.answered - r.sent for r in results if r.status == 200]
    late = [one.wall(r.sent) - r.callback.at for r in results]
    print(
        f"   achieved        {achieved:7.1f} callbacks/s  ({len(results):,} sent in "
        f"{last - first:.2f} s, first send to last answer; {to_watched:,} to watched groups)"
        + ("" if drained else "  NOT ALL ANSWERED")
    )
    print(f"   ack latency     {spread(acks, 1000, 'ms')}  (send -> 200)")
    print(f"   sends late      {spread(late, 1000, 'ms')}  (behind the schedule)")
    print(
        f"   non-200         {sum(statuses.values())}"
        + (f"  {dict(statuses)} (0: no answer: {dict(sender.failures)})" if statuses else "")
    )
    print(
        f"   lost            {lost_members} members in {len(mismatched)} groups: every watched "
        f"target's push_delta {'equals' if not mismatched else 'does NOT equal'} the sum of the "
        f"deltas answered 200 ({len(watched_ids):,} groups, {sum(map(abs, stored.values())):,} "
        "members net)"
    )
    print(f"   checks          {checks} run in the window, {asked} asked (push_due_at)")
    print(f"   CPU             {cpu}")
    print(f"   bot memory      peak RSS {peak:.0f} MB (now {rss:.0f} MB)")
    p99 = percentile(acks, 99)
    passed = (
        achieved >= 0.98 * args.rate_callbacks
        and p99 < 0.050
        and not statuses
        and not mismatched
        and checks == 0
    )
    print(
        f"RESULT mode=ingest callbacks={len(results)} per_s={achieved:.1f} "
        f"ack_p50_ms={percentile(acks, 50) * 1000:.1f} ack_p99_ms={p99 * 1000:.1f} "
        f"ack_max_ms={max(acks) * 1000:.1f} non_200={sum(statuses.values())} "
        f"lost_groups={len(mismatched)} checks={checks} bot_peak_rss_mb={peak:.0f}"
    )
    print(
        f"TARGET {met(achieved >= 0.98 * args.rate_callbacks)}: {achieved:.0f} >= "
        f"{args.rate_callbacks:g}/s (2 % slack for the last answers); {met(p99 < 0.050)}: ack "
        f"p99 {p99 * 1000:.1f} ms < 50 ms; {met(not statuses)}: non-200 "
        f"{sum(statuses.values())}; {met(not mismatched)}: lost 0"
    )
    return passed


# --------------------------------------------------------------------------- latency


def latency_group(index: int) -> str:
    return f"@TGS#drop-{index:04d}"


def fall_callbacks(
    group: str, at: float, members: int, *, online: bool, tag: int
) -> list[Callback]:
    """``members`` leaving (or joining) at ``at``, reported in callbacks of at most 50,
    CHUNK_GAP apart, the first CALLBACK_LAG after the move."""
    sign = 1 if online else -1
    return [
        Callback(at + CALLBACK_LAG + k * CHUNK_GAP, group, sign * size, tag)
        for k, size in enumerate(chunks(members))
    ]


def crossing(audience: int, threshold: int, floor: int) -> int:
    """Which callback of a fall (1-based) takes the estimate out of the quiet range."""
    line = threshold + push_margin(threshold)
    estimate = audience
    for k, size in enumerate(chunks(audience - floor), 1):
        estimate -= size
        if estimate < line:
            return k
    raise ValueError("the fall never leaves the quiet range")


def run_latency(args: argparse.Namespace) -> bool:
    n = args.drops
    falls = [args.first_drop + i * args.spacing for i in range(n)]
    crossed = crossing(LATENCY_AUDIENCE, LATENCY_THRESHOLD, LATENCY_FLOOR)
    print(
        f"\n== latency: {n} groups watched 'below {LATENCY_THRESHOLD}', audience "
        f"{LATENCY_AUDIENCE}; each falls to {LATENCY_FLOOR}, one every {args.spacing:g} s "
        f"({1 / args.spacing:.1f}/s) from {args.first_drop:g} s after the simulator's start; "
        f"{LATENCY_AUDIENCE - LATENCY_FLOOR} Offline members in "
        f"{len(chunks(LATENCY_AUDIENCE - LATENCY_FLOOR))} callbacks {CHUNK_GAP:g} s apart "
        f"(the {crossed}th leaves the quiet range); POLL_INTERVAL=60, "
        f"PUSH_RESYNC_INTERVAL={SCALE_RESYNC}"
    )
    groups = [
        {
            "group_id": latency_group(i),
            "name": f"Drop {i}",
            "drop": {"from": LATENCY_AUDIENCE, "to": LATENCY_FLOOR, "at": falls[i]},
        }
        for i in range(n)
    ]
    watches = [
        {
            "channel_id": f"C{i % CHANNELS:04d}",
            "group_id": latency_group(i),
            "rule_kind": "below",
            "threshold": LATENCY_THRESHOLD,
        }
        for i in range(n)
    ]
    with rig(args, "latency", groups, watches) as one:
        origin = simulator_origin(one.sim_port, args.rate)
        print(f"simulator's clock read: started {time.time() - origin:.1f} s ago")
        bot = one.start_bot(rate=args.rate, interval=SCALE_INTERVAL)
        one.wait_checked(n, timeout=120)
        sender = one.start_sender(args.threads)
        # a join and a leave for every group: push-fed from its next poll on
        warm = time.time() + 0.5
        sender.schedule(
            c
            for i in range(n)
            for c in (
                Callback(warm + i * 0.004, latency_group(i), 1),
                Callback(warm + 1.0 + i * 0.004, latency_group(i), -1),
            )
        )
        sender.drain(30)
        second = one.wait_checked(n, timeout=SCALE_INTERVAL + 60, times=2)
        first_fall = origin + falls[0]
        with one.engine.connect() as connection:
            push_fed = connection.scalar(
                select(func.count(TargetRow.id)).where(
                    TargetRow.next_due_at > to_dt(origin + falls[-1] + 60)
                )
            )
        print(
            f"second poll cycle done {first_fall - second:+.1f} s before the first drop; "
            f"{push_fed} of {n} targets next due after the last drop + 60 s (push-fed)"
        )
        if second > first_fall:
            print("   WARNING: the first drops came before every group was push-fed")
        schedule = [
            c
            for i, at in enumerate(falls)
            for c in fall_callbacks(
                latency_group(i), origin + at, LATENCY_AUDIENCE - LATENCY_FLOOR, online=False, tag=i
            )
        ]
        usage = Usage({"bot": bot.pid, "bench": None})
        sender.schedule(schedule)
        deadline = origin + falls[-1] + DEBOUNCE + 30
        while time.time() < deadline and len(one.alerts()) < n:
            time.sleep(0.5)
        time.sleep(2.0)  # any late or false alert
        cpu = usage.line()
        alerts = one.alerts()
        peak, _ = memory(bot.pid)
        calls = simulator_calls(one.sim_log)
        with one.engine.connect() as connection:
            checks = connection.execute(select(SampleRow.group_id, SampleRow.taken_at)).all()

    first_sent: dict[int, float] = {}
    for r in sender.results:
        tag = r.callback.tag
        if tag >= 0 and (tag not in first_sent or r.sent < first_sent[tag]):
            first_sent[tag] = r.sent
    non_200 = sum(1 for r in sender.results if r.status != 200)
    first_alert: dict[int, float] = {}
    false_alerts = 0
    for watch_id, at in alerts:
        index = watch_id - 1
        if index in first_alert:
            false_alerts += 1  # a second alert for one drop
        elif at < one.wall(first_sent.get(index, math.inf)) - 1.0:
            false_alerts += 1  # before its drop
        else:
            first_alert[index] = at
    latencies = [first_alert[i] - one.wall(first_sent[i]) for i in first_alert if i in first_sent]
    polled = sum(1 for latency in latencies if latency < DEBOUNCE - 1)
    window = range(int(origin + falls[0]), int(origin + falls[-1] + DEBOUNCE + 5))
    counts = sum(k for (*api, at), k in calls.items() if tuple(api) == COUNT_CALL and at in window)
    infos = sum(k for (*api, at), k in calls.items() if tuple(api) == INFO_CALL and at in window)
    # the checks each drop cost (its group's from its first callback to its alert), and
    # where the time went: to the claim of its check, then to Slack
    taken = checks_by_group((group, to_ts(at) or 0.0) for group, at in checks)
    per_drop = Counter(
        sum(one.wall(first_sent[i]) <= at <= first_alert[i] for at in taken[latency_group(i)])
        for i in first_alert
        if i in first_sent
    )
    to_claim, to_slack = [], []
    for i, alerted_at in first_alert.items():
        began = one.wall(first_sent[i])
        claimed = claimed_after(taken, latency_group(i), began)
        if claimed is not None and claimed <= alerted_at:
            to_claim.append(claimed - began)
            to_slack.append(alerted_at - claimed)
    missed = n - len(first_alert)
    p99 = percentile(latencies, 99)
    print(
        f"   alerts          {len(first_alert)} of {n} drops alerted, {missed} missed, "
        f"{false_alerts} false; {polled} came sooner than DEBOUNCE (from polling)"
    )
    print(f"   alert latency   {spread(latencies, digits=2)}  (first Offline callback -> Slack)")
    print(f"     to the claim  {spread(to_claim, digits=2)}  (first callback -> check claimed)")
    print(f"     to Slack      {spread(to_slack, digits=2)}  (claimed -> fetched, judged, posted)")
    print(
        f"   expected        {(crossed - 1) * CHUNK_GAP:.1f} s to the crossing callback + "
        f"DEBOUNCE {DEBOUNCE:g} s + up to the {PUSH_TICK} s tick + the check, judging and "
        f"delivery; polling alone: up to POLL_INTERVAL {SCALE_INTERVAL} s + the tick"
    )
    print(f"   checks          {_counted(per_drop)} from a drop's first callback to its alert")
    print(
        f"   Tencent calls   {counts} online counts and {infos} get_group_info (the alerts' "
        f"group names) while the drops came: the drops' checks, and firing watches polled "
        f"again {SCALE_INTERVAL} s on"
    )
    print(
        f"   callbacks       {len(sender.results)} sent, {non_200} not answered 200"
        + (f" ({dict(sender.failures)})" if sender.failures else "")
    )
    print(f"   CPU             {cpu}")
    print(f"   bot memory      peak RSS {peak:.0f} MB")
    passed = missed == 0 and false_alerts == 0 and p99 <= 15.0 and non_200 == 0
    print(
        f"RESULT mode=latency drops={n} alerted={len(first_alert)} missed={missed} "
        f"false={false_alerts} from_polling={polled} p50_s={percentile(latencies, 50):.2f} "
        f"p99_s={p99:.2f} max_s={max(latencies, default=math.nan):.2f} "
        f"count_calls={counts} bot_peak_rss_mb={peak:.0f}"
    )
    print(
        f"TARGET {met(missed == 0)}: every drop alerted; {met(p99 <= 15.0)}: p99 {p99:.2f} s "
        f"<= 15 s; {met(false_alerts == 0)}: no false alert"
    )
    return passed


# --------------------------------------------------------------------------- scale


def scale_group(index: int) -> str:
    return f"@TGS#scale-{index:05d}"


@dataclass(frozen=True, slots=True)
class Fall:
    """A scripted drop: group ``index``'s audience is ``floor`` from ``at`` to
    ``recover_at`` (seconds from the simulator's start)."""

    index: int
    at: float
    recover_at: float
    push_fed: bool


@dataclass
class ScalePlan:
    groups: list[dict[str, Any]]  # the scenario's
    watches: list[dict[str, Any]]
    callbacks: list[Callback]  # at: seconds from the simulator's start
    falls: list[Fall]
    push_fed: list[bool]
    threshold: int


def scale_plan(
    groups: int, audience: int, share: float, lead: float, seconds: float, seed: int
) -> ScalePlan:
    """Who is push-fed, who drops when, every curve and every callback (times from the
    simulator's start; the bot starts about ``lead`` seconds after it)."""
    rng = random.Random(seed)
    threshold = audience // 2
    floor = max(1, audience // 10)
    low, high = round(audience * 0.7), round(audience * 1.3)
    push_fed = [int((i + 1) * share) > int(i * share) for i in range(groups)]
    count = round(groups * 0.01 * seconds / 600)
    latest = max(lead + 31, lead + seconds - MISS_SLACK - 10)  # to be alerted before the end
    falls = sorted(
        (
            Fall(index, at, at + rng.uniform(120, 240), push_fed[index])
            for index, at in zip(
                rng.sample(range(groups), count),
                (rng.uniform(lead + 30, latest) for _ in range(count)),
                strict=True,
            )
        ),
        key=lambda fall: fall.at,
    )
    falling = {fall.index: n for n, fall in enumerate(falls)}
    end = lead + seconds + 60
    curves: list[dict[str, Any]] = []
    callbacks: list[Callback] = []
    for i in range(groups):
        group = scale_group(i)
        every = rng.randint(60, 360)
        step = max(1, round(0.04 * audience * every / 60))
        if i in falling:
            fall = falls[falling[i]]
            curves.append(
                {
                    "group_id": group,
                    "name": f"Scale {i}",
                    "drop": {
                        "from": audience,
                        "to": floor,
                        "at": round(fall.at, 3),
                        "recover_at": round(fall.recover_at, 3),
                    },
                }
            )
            if push_fed[i]:
                n = falling[i]
                moved = audience - floor
                callbacks += fall_callbacks(group, fall.at, moved, online=False, tag=n)
                callbacks += fall_callbacks(group, fall.recover_at, moved, online=True, tag=-2)
                for at in range(rng.randint(1, every), int(end), every):  # a join and a leave
                    size = rng.randint(1, step)
                    callbacks += [Callback(at, group, size), Callback(at + 1.0, group, -size)]
            continue
        walk = Walk(audience, step, low, high, seed=seed * 100_003 + i, every=float(every))
        curves.append(
            {
                "group_id": group,
                "name": f"Scale {i}",
                "walk": {
                    "start": audience,
                    "step": step,
                    "min": low,
                    "max": high,
                    "seed": walk.seed,
                    "every": every,
                },
            }
        )
        if push_fed[i]:
            previous = audience
            for at, value in walk.changes():
                if at > end:
                    break
                delta = value - previous
                previous = value
                for k, size in enumerate(chunks(abs(delta))):
                    sign = 1 if delta > 0 else -1
                    callbacks.append(
                        Callback(at + CALLBACK_LAG + k * CHUNK_GAP, group, sign * size)
                    )
    watches = [
        {
            "channel_id": f"C{i % CHANNELS:04d}",
            "group_id": scale_group(i),
            "rule_kind": "below",
            "threshold": threshold,
        }
        for i in range(groups)
    ]
    return ScalePlan(curves, watches, callbacks, falls, push_fed, threshold)


def run_scale(args: argparse.Namespace) -> bool:
    n = args.groups
    seconds = args.minutes * 60
    polling = sustained_per_window(args.rate, RESERVE) * 1000 / WINDOW_MS
    alone = n / polling
    # the simulator builds every member (~80,000 a second here) once it has started
    lead = args.lead if args.lead is not None else 30 + n * args.audience / 80_000
    started = time.monotonic()
    plan = scale_plan(n, args.audience, args.push_share, lead, seconds, args.seed)
    fed = sum(plan.push_fed)
    print(
        f"\n== scale: {n:,} watched groups ('below {plan.threshold}', audience ~{args.audience}), "
        f"{fed:,} push-fed, {n - fed:,} polled; {len(plan.falls)} drops over the run "
        f"({sum(f.push_fed for f in plan.falls)} on push-fed groups); {len(plan.callbacks):,} "
        f"callbacks scripted ({len(plan.callbacks) / (seconds + lead):.0f}/s); POLL_INTERVAL="
        f"{SCALE_INTERVAL}, PUSH_RESYNC_INTERVAL={SCALE_RESYNC}, rate {args.rate}/s; "
        f"{args.minutes:g} minutes from the bot's start, the last {args.window:g} measured "
        f"(planned in {time.monotonic() - started:.1f} s)"
    )
    kept = "can" if alone <= SCALE_INTERVAL else "cannot"
    print(
        f"   polling alone   {n:,} checks need {alone:.0f} s per cycle at {polling:.1f}/s: "
        f"POLL_INTERVAL {SCALE_INTERVAL} s {kept} be kept, and a drop waits up to "
        f"{max(alone, SCALE_INTERVAL):.0f} s for its check"
    )
    with rig(args, "scale", plan.groups, plan.watches, sim_timeout=600 + n / 50) as one:
        run = observe_scale(one, plan, args, lead, seconds)
    return show_scale(Observed.of(run, plan), run, plan, args, polling)


@dataclass
class ScaleRun:
    """What one scale run saw: wall times, Slack's alerts, the callbacks, Tencent's calls
    and the bot's checks (samples)."""

    origin: float  # the simulator's start: its curves' t = 0
    t0: float  # the bot serving
    end: float
    alerts: list[tuple[int, float]]  # (watch id, arrival)
    resolves: list[tuple[int, float]]
    sent: list[Sent]
    wall_offset: float  # wall time - monotonic
    calls: Counter[tuple[str, str, int]]  # the simulator's, by (service, command, second)
    rate_limited: list[float]  # the bot's 60007 answers
    checks: list[tuple[str, float]]  # (group, taken at) of every sample
    cpu: str  # over the window
    peak_mb: float
    rss_mb: float

    def wall(self, monotonic: float) -> float:
        return monotonic + self.wall_offset


def observe_scale(
    one: Rig, plan: ScalePlan, args: argparse.Namespace, lead: float, seconds: float
) -> ScaleRun:
    origin = simulator_origin(one.sim_port, args.rate)
    print(f"simulator's clock read: started {time.time() - origin:.1f} s ago (lead {lead:.0f} s)")
    bot = one.start_bot(rate=args.rate, interval=SCALE_INTERVAL, resync=SCALE_RESYNC)
    t0 = time.time()
    sender = one.start_sender(args.threads)
    sender.schedule(c._replace(at=origin + c.at) for c in plan.callbacks)
    print(
        f"bot started {t0 - origin:.1f} s after the simulator; {sender.skipped:,} callbacks "
        "scripted before it were not sent"
    )
    end = t0 + seconds
    window_start = end - min(args.window * 60, seconds)
    usage: Usage | None = None
    progress = t0
    while time.time() < end:
        time.sleep(min(5.0, max(0.0, end - time.time())))
        if usage is None and time.time() >= window_start:
            usage = Usage({"bot": bot.pid, "bench": None})
        if time.time() - progress >= 60:
            progress = time.time()
            print(
                f"   +{progress - t0:4.0f} s  {len(sender.results):,} callbacks sent, "
                f"{len(one.alerts()):,} alerts, bot RSS {memory(bot.pid).rss_mb:.0f} MB, "
                f"load {_load()}",
                flush=True,
            )
    cpu = usage.line() if usage is not None else "n/a"
    peak, rss = memory(bot.pid)
    alerts, resolves = one.alerts(), one.alerts("resolved")
    sender.close()
    stop_replicas([bot])
    with one.engine.connect() as connection:
        checks = [
            (group, to_ts(taken) or 0.0)
            for group, taken in connection.execute(select(SampleRow.group_id, SampleRow.taken_at))
        ]
    return ScaleRun(
        origin=origin,
        t0=t0,
        end=end,
        alerts=alerts,
        resolves=resolves,
        sent=sender.results,
        wall_offset=one.mono_offset,
        calls=simulator_calls(one.sim_log),
        rate_limited=one.rate_limited(),
        checks=checks,
        cpu=cpu,
        peak_mb=peak,
        rss_mb=rss,
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """A drop as the run saw it (wall times)."""

    fall: Fall
    began: float  # its first Offline callback (push-fed), or the drop itself (polled)
    claimed: float | None  # its group's first check claimed since
    alerted: float | None  # its alert reached Slack

    @property
    def latency(self) -> float:
        return math.inf if self.alerted is None else self.alerted - self.began


@dataclass
class Observed:
    """A scale run's events, from the bot's start, ready to be cut into periods."""

    t0: float
    count_calls: Counter[int]  # online counts the simulator answered, by second
    any_calls: Counter[int]  # every API's
    info_calls: Counter[int]  # get_group_info's (the alerts' group names)
    rate_limited: list[float]  # the bot's 60007 answers
    checks: list[tuple[float, bool]]  # (claimed at, push-fed group?)
    polled_gaps: list[tuple[float, float]]  # a polled group's check: (at, since its last)
    drops: list[Seen]  # that began after the bot's start
    false_alerts: list[tuple[int, float]]  # (group, arrival): outside any drop of its group
    sent: list[tuple[float, float | None]]  # (callback sent, ack if answered 200)
    first_full: float  # every group checked once, this long after the bot's start
    never_checked: int

    @classmethod
    def of(cls, run: ScaleRun, plan: ScalePlan) -> Observed:
        count_calls: Counter[int] = Counter()
        any_calls: Counter[int] = Counter()
        info_calls: Counter[int] = Counter()
        for (service, command, second), calls in run.calls.items():
            any_calls[second] += calls
            if (service, command) == COUNT_CALL:
                count_calls[second] += calls
            elif (service, command) == INFO_CALL:
                info_calls[second] += calls
        index_of = {scale_group(i): i for i in range(len(plan.push_fed))}
        taken = checks_by_group(run.checks)
        checks, gaps = [], []
        for group, times in taken.items():
            i = index_of.get(group)
            if i is None:
                continue
            checks += [(at, plan.push_fed[i]) for at in times]
            if not plan.push_fed[i]:
                gaps += [(b, b - a) for a, b in pairwise(times)]
        firsts = [times[0] for group, times in taken.items() if group in index_of]
        drops, false_alerts = _drops_seen(run, plan, taken)
        return cls(
            t0=run.t0,
            count_calls=count_calls,
            any_calls=any_calls,
            info_calls=info_calls,
            rate_limited=run.rate_limited,
            checks=checks,
            polled_gaps=gaps,
            drops=drops,
            false_alerts=false_alerts,
            sent=[
                (run.wall(r.sent), r.answered - r.sent if r.status == 200 else None)
                for r in run.sent
            ],
            first_full=max(firsts, default=math.nan) - run.t0,
            never_checked=len(index_of) - len(firsts),
        )


def _drops_seen(
    run: ScaleRun, plan: ScalePlan, taken: dict[str, list[float]]
) -> tuple[list[Seen], list[tuple[int, float]]]:
    """Each drop after the bot's start with its first alert (one from 2 s before it to
    MISS_SLACK after its recovery), and the alerts that match no drop (or one already
    alerted)."""
    falls_of: defaultdict[int, list[int]] = defaultdict(list)
    for k, fall in enumerate(plan.falls):
        falls_of[fall.index].append(k)
    first_sent: dict[int, float] = {}  # fall -> its first Offline callback left
    for r in run.sent:
        tag = r.callback.tag
        if tag >= 0 and (tag not in first_sent or run.wall(r.sent) < first_sent[tag]):
            first_sent[tag] = run.wall(r.sent)
    alerted: dict[int, float] = {}
    false_alerts: list[tuple[int, float]] = []
    for watch_id, at in sorted(run.alerts, key=lambda alert: alert[1]):
        index = watch_id - 1
        during = [
            k
            for k in falls_of.get(index, [])
            if run.origin + plan.falls[k].at - 2
            <= at
            <= run.origin + plan.falls[k].recover_at + MISS_SLACK
        ]
        if not during or during[0] in alerted:
            false_alerts.append((index, at))
        else:
            alerted[during[0]] = at
    drops = []
    for k, fall in enumerate(plan.falls):
        began = first_sent.get(k, run.origin + fall.at) if fall.push_fed else run.origin + fall.at
        if began < run.t0:
            continue
        drops.append(
            Seen(fall, began, claimed_after(taken, scale_group(fall.index), began), alerted.get(k))
        )
    return drops, false_alerts


@dataclass
class Period:
    """A scale run's figures from ``start`` to ``end`` (wall times)."""

    start: float
    end: float
    count_per_s: list[int]
    most_any: int  # every API's calls in one second, the most
    info: int
    limited: int  # 60007 answers
    push_checks: int
    polled_checks: int
    late: int  # polled groups' checks later than the interval allows
    longest_gap: float  # between two checks of a polled group
    push: list[Seen]  # drops of push-fed groups that began in the period
    polled: list[Seen]  # ... of polled groups
    callbacks: int  # sent
    acks: list[float]  # of those answered 200

    @classmethod
    def of(cls, seen: Observed, start: float, end: float) -> Period:
        def inside(at: float) -> bool:
            return start <= at < end

        seconds = range(int(start), int(end))
        allowed = SCALE_INTERVAL + PUSH_TICK + LATE_SLACK
        gaps = [gap for at, gap in seen.polled_gaps if inside(at)]
        drops = [d for d in seen.drops if inside(d.began)]
        sent = [ack for at, ack in seen.sent if inside(at)]
        return cls(
            start=start,
            end=end,
            count_per_s=[seen.count_calls.get(s, 0) for s in seconds],
            most_any=max((seen.any_calls.get(s, 0) for s in seconds), default=0),
            info=sum(seen.info_calls.get(s, 0) for s in seconds),
            limited=sum(1 for at in seen.rate_limited if inside(at)),
            push_checks=sum(1 for at, fed in seen.checks if fed and inside(at)),
            polled_checks=sum(1 for at, fed in seen.checks if not fed and inside(at)),
            late=sum(1 for gap in gaps if gap > allowed),
            longest_gap=max(gaps, default=0.0),
            push=[d for d in drops if d.fall.push_fed],
            polled=[d for d in drops if not d.fall.push_fed],
            callbacks=len(sent),
            acks=[ack for ack in sent if ack is not None],
        )

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def count_rate(self) -> float:
        return sum(self.count_per_s) / self.seconds

    @property
    def most(self) -> int:
        return max(self.count_per_s, default=0)

    def latencies(self, push: bool = True) -> list[float]:
        return [d.latency for d in (self.push if push else self.polled) if d.alerted is not None]

    def phases(self) -> tuple[list[float], list[float]]:
        """Push-fed drops' time to their check's claim, and from the claim to Slack."""
        claim, slack = [], []
        for d in self.push:
            if d.alerted is not None and d.claimed is not None and d.claimed <= d.alerted:
                claim.append(d.claimed - d.began)
                slack.append(d.alerted - d.claimed)
        return claim, slack


def show_timeline(seen: Observed, end: float, step: float) -> None:
    print(
        f"\n   timeline, every {step:g} s from the bot's start: online counts a second (the "
        "most in one second, 60007 answers); checks a second of push-fed and polled groups, "
        f"polled ones later than {SCALE_INTERVAL} + {PUSH_TICK} + {LATE_SLACK:g} s; drops of "
        "push-fed groups alerted / begun, latency p50 and max (first callback -> alert), the "
        "most to the claim and from it to Slack; drops of polled groups, the most latency"
    )
    print(
        f"   {'from':>7} | {'counts/s':>8} {'most':>4} {'60007':>5} | {'push/s':>6} "
        f"{'poll/s':>6} {'late':>5} | {'push':>7} {'p50':>5} {'max':>5} {'claim':>5} "
        f"{'Slack':>5} | {'polled':>7} {'max':>5}"
    )
    at = seen.t0
    while at < end - 1:
        p = Period.of(seen, at, min(at + step, end))
        push, (claim, slack) = p.latencies(), p.phases()
        polled = p.latencies(push=False)
        print(
            f"   {at - seen.t0:+5.0f} s | {p.count_rate:8.1f} {p.most:4d} {p.limited:5d} | "
            f"{p.push_checks / p.seconds:6.1f} {p.polled_checks / p.seconds:6.1f} {p.late:5d} | "
            f"{f'{len(push)}/{len(p.push)}':>7} {percentile(push, 50):5.1f} "
            f"{max(push, default=math.nan):5.1f} {max(claim, default=math.nan):5.1f} "
            f"{max(slack, default=math.nan):5.1f} | {f'{len(polled)}/{len(p.polled)}':>7} "
            f"{max(polled, default=math.nan):5.1f}"
        )
        at += step


def show_scale(
    seen: Observed, run: ScaleRun, plan: ScalePlan, args: argparse.Namespace, polling: float
) -> bool:
    n = len(plan.push_fed)
    fed = sum(plan.push_fed)
    t0 = run.t0
    show_timeline(seen, run.end, 60.0 if args.minutes <= 30 else 120.0)
    w = Period.of(seen, max(t0, run.end - args.window * 60), run.end)
    print(
        f"\n== scale: the last {w.seconds / 60:g} minutes "
        f"(+{w.start - t0:.0f} s to +{run.end - t0:.0f} s from the bot's start)"
    )
    print(
        f"   first check     every group checked once by +{seen.first_full:.0f} s"
        + (f"; {seen.never_checked} never checked" if seen.never_checked else "")
        + f" (polling's floor: {n / polling:.0f} s)"
    )
    print(
        f"   Tencent calls   {w.count_rate:6.1f}/s online counts "
        f"({100 * w.count_rate / args.rate:.0f} % of {args.rate}/s), most in one second "
        f"{w.most}; get_group_info {w.info / w.seconds:.2f}/s; every API together, most in one "
        f"second {w.most_any} (the simulator's log, by the second answered)"
    )
    print(
        f"   60007           {w.limited} in the window, {len(run.rate_limited)} in the run"
        + "".join(f"; at +{at - t0:.0f} s" for at in run.rate_limited[:3])
    )
    print(
        f"   checks          {w.push_checks / w.seconds:6.1f}/s of push-fed groups (resyncs: "
        f"{fed:,} / {SCALE_RESYNC} s = {fed / SCALE_RESYNC:.1f}/s, and what callbacks asked), "
        f"{w.polled_checks / w.seconds:.1f}/s of polled ones ({n - fed:,} / {SCALE_INTERVAL} s "
        f"= {(n - fed) / SCALE_INTERVAL:.1f}/s)"
    )
    print(
        f"   polled late     {w.late} of {w.polled_checks} checks of polled groups more than "
        f"{SCALE_INTERVAL} + {PUSH_TICK} + {LATE_SLACK:g} s after the one before; longest gap "
        f"{w.longest_gap:.0f} s"
    )
    judged = [d for d in seen.drops if d.began <= run.end - MISS_SLACK]
    missed = [d for d in judged if d.alerted is None]
    early = sum(1 for d in missed if d.began < t0 + seen.first_full)
    in_window = [d for d in judged if d.began >= w.start]
    missed_in = [d for d in in_window if d.alerted is None]
    false_in = [(index, at) for index, at in seen.false_alerts if at >= w.start]
    print(
        f"   drops           {len(in_window)} in the window ({MISS_SLACK:g} s or more before the "
        f"end): {len(in_window) - len(missed_in)} alerted, {len(missed_in)} missed, "
        f"{len(false_in)} false alerts; over the run {len(judged)}: {len(missed)} missed ("
        f"{early} began before every group had been checked once), "
        f"{len(seen.false_alerts)} false alerts"
    )
    for d in missed[:5]:
        print(
            f"     missed: {scale_group(d.fall.index)} "
            f"({'push-fed' if d.fall.push_fed else 'polled'}) down at "
            f"+{run.origin + d.fall.at - t0:.0f} s, back at "
            f"+{run.origin + d.fall.recover_at - t0:.0f} s, next check claimed at "
            + (f"+{d.claimed - t0:.0f} s" if d.claimed is not None else "none")
        )
    for index, at in seen.false_alerts[:5]:
        print(f"     false: {scale_group(index)} alerted at +{at - t0:.0f} s")
    latencies = w.latencies()
    claim, slack = w.phases()
    run_wide = [d.latency for d in seen.drops if d.fall.push_fed and d.alerted is not None]
    print(
        f"   push latency    {spread(latencies, digits=2)}  ({len(latencies)} drops of "
        f"push-fed groups in the window, first Offline callback -> alert; over the run: "
        f"{spread(run_wide, digits=2)})"
    )
    print(f"     to the claim  {spread(claim, digits=2)}  (first callback -> check claimed)")
    print(f"     to Slack      {spread(slack, digits=2)}  (claimed -> fetched, judged, posted)")
    polled = w.latencies(push=False)
    print(
        f"   poll latency    {spread(polled)}  ({len(polled)} drops of polled groups in the "
        "window, the drop itself -> alert)"
    )
    p99 = percentile(latencies, 99)
    worst = max(n / polling, SCALE_INTERVAL)
    print(
        f"   vs polling      push-fed drops alerted at p99 {p99:.1f} s against up to {worst:.0f} s "
        f"by polling alone ({worst / p99:.0f}x sooner), with {w.count_rate:.0f} count calls/s "
        f"({100 * w.count_rate / polling:.0f} % of the {polling:.1f}/s polling alone would use, "
        "all the time)"
    )
    not_ok = sum(1 for _, ack in seen.sent if ack is None)
    print(
        f"   callbacks       {w.callbacks / w.seconds:6.1f}/s in the window ({len(seen.sent):,} "
        f"in the run, {not_ok} not answered 200); ack {spread(w.acks, 1000, 'ms')}"
    )
    print(f"   CPU             {run.cpu}")
    print(f"   bot memory      peak RSS {run.peak_mb:.0f} MB (at the end {run.rss_mb:.0f} MB)")
    targets = {
        "0 60007": w.limited == 0,
        "0 missed": not missed_in,
        "0 false": not false_in,
        f"push p99 {p99:.2f} s <= 15 s": p99 <= 15.0,
        f"at most {args.rate} count calls in a second": w.most <= args.rate,
    }
    print(
        f"RESULT mode=scale groups={n} push_fed={fed} count_calls_per_s={w.count_rate:.1f} "
        f"max_per_s={w.most} rate_limited={w.limited} "
        f"push_p50_s={percentile(latencies, 50):.2f} push_p99_s={p99:.2f} "
        f"poll_p50_s={percentile(polled, 50):.1f} missed={len(missed_in)} "
        f"false={len(false_in)} missed_run={len(missed)} false_run={len(seen.false_alerts)} "
        f"late_polled={w.late} bot_peak_rss_mb={run.peak_mb:.0f}"
    )
    print("TARGET " + "; ".join(f"{met(ok)}: {what}" for what, ok in targets.items()))
    return all(targets.values())


if __name__ == "__main__":
    sys.exit(main())
