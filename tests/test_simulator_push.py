"""The simulator's member-state webhook (bot/simulator/push.py), over real loopback HTTP.

A stdlib receiver on port 0 records every callback; the bot's own reader
(bot.tencent.callbacks' ``authenticate`` and ``parse``) judges them. The simulator
runs on a fake clock and the tests call ``push_once()``; the background thread is
watched with ``wait_until``, never with a sleep.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner
from support.waiting import wait_until

from bot.cli import main
from bot.simulator import Drop, GroupSpec, Ramp, Scenario, Simulator, Steady, Walk
from bot.simulator.push import (
    MAX_MEMBERS_PER_CALLBACK,
    WARN_EVERY,
    CallbackPusher,
    PushStats,
)
from bot.tencent.callbacks import (
    MEMBER_STATE_CHANGE,
    OK_ANSWER,
    CallbackRefused,
    MemberStateChange,
    authenticate,
    parse,
)
from bot.tencent.client import TencentClient
from bot.tencent.models import Member
from bot.tencent.ratelimit import RateLimits

T0 = 1_700_000_000.0
APP = 1400000777
TOKEN = "webhook-token-4f1c9a"
GROUP = "@TGS#push"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Arrival:
    """One callback as the receiver saw it."""

    path: str
    query: dict[str, str]
    body: bytes
    content_type: str

    @property
    def change(self) -> MemberStateChange:
        change = parse(self.query.get("CallbackCommand", ""), self.body)
        assert change is not None
        return change

    @property
    def accounts(self) -> list[str]:
        return [entry["Member_Account"] for entry in json.loads(self.body)["MemberList"]]


class Receiver:
    """A webhook endpoint on loopback that records what arrives and answers ``status``."""

    def __init__(self, port: int = 0) -> None:
        self.arrivals: list[Arrival] = []
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                with receiver._lock:
                    receiver.arrivals.append(
                        Arrival(
                            parts.path,
                            dict(parse_qsl(parts.query)),
                            body,
                            self.headers.get("Content-Type", ""),
                        )
                    )
                    status = receiver.status
                answer = OK_ANSWER if status == 200 else b"no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/tencent/callback") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def taken(self) -> list[Arrival]:
        """What arrived since the last call."""
        with self._lock:
            arrivals, self.arrivals = self.arrivals, []
        return arrivals

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Callable[..., Simulator]]:
    """A serving simulator on the fake clock (live lists), stopped afterwards."""
    started: list[Simulator] = []

    def _make(*groups: GroupSpec, seed: int = 0) -> Simulator:
        scenario = Scenario(sdkappid=APP, cache_seconds=0, seed=seed, groups=groups)
        sim = Simulator(scenario, clock=clock).start()
        started.append(sim)
        return sim

    yield _make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim(GroupSpec(GROUP, "Push", curve=Steady(0)))


@pytest.fixture
def pushers() -> Iterator[Callable[..., CallbackPusher]]:
    """Make pushers (not started); every one is stopped afterwards."""
    made: list[CallbackPusher] = []

    def _make(sim: Simulator, url: str, token: str | None = TOKEN, **kwargs) -> CallbackPusher:
        pusher = CallbackPusher(sim, url, token, **kwargs)
        made.append(pusher)
        return pusher

    yield _make
    for pusher in made:
        pusher.stop()


@pytest.fixture
def clients(clock: FakeClock) -> Iterator[Callable[[Simulator], TencentClient]]:
    """The bot's Tencent client aimed at a simulator (the count API, the member list)."""
    made: list[TencentClient] = []

    def _make(sim: Simulator) -> TencentClient:
        client = TencentClient(
            sdkappid=APP,
            secret_key=sim.scenario.secret_key,
            base_url=sim.url,
            rate_limits=RateLimits(200),
            clock=clock,
        )
        made.append(client)
        return client

    yield _make
    for client in made:
        client.close()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures the root logger for its own stderr; undo that after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _accounts(client: TencentClient, group_id: str) -> set[str]:
    members = client.online_members(group_id).members
    assert len(members) < 1000  # the whole list, not the capped one
    return {member.account for member in members}


# --------------------------------------------------------------------------- wire format


def test_a_callback_is_signed_accepted_and_names_the_members_who_joined(
    sim, receiver, pushers, clients, clock
):
    tencent = clients(sim)
    pusher = pushers(sim, receiver.url("/tencent/callback?tenant=blue"))
    sim.set_audience(GROUP, 30)

    assert pusher.push_once() == 1
    (arrival,) = receiver.taken()
    assert arrival.path == "/tencent/callback"
    assert arrival.query["tenant"] == "blue"  # the URL's own query is kept
    assert arrival.content_type == "application/json"
    authenticate(arrival.query, sdkappid=APP, token=TOKEN, now=clock())
    assert arrival.query["CallbackCommand"] == MEMBER_STATE_CHANGE
    assert arrival.change == MemberStateChange(GROUP, "Online", "Join", 30)
    assert set(arrival.accounts) == _accounts(tencent, GROUP)
    assert json.loads(arrival.body)["CallbackCommand"] == MEMBER_STATE_CHANGE
    assert pusher.stats == PushStats(callbacks=1, members=30)

    assert pusher.push_once() == 0  # nothing moved since
    assert receiver.taken() == []


def test_a_foreign_token_or_none_fails_authenticate(sim, receiver, pushers, clock):
    signed = pushers(sim, receiver.url(), TOKEN)
    sim.set_audience(GROUP, 3)
    signed.push_once()
    (arrival,) = receiver.taken()
    with pytest.raises(CallbackRefused) as foreign:
        authenticate(arrival.query, sdkappid=APP, token="someone-elses-token", now=clock())
    assert foreign.value.status == 401
    with pytest.raises(CallbackRefused) as other_app:
        authenticate(arrival.query, sdkappid=APP + 1, token=TOKEN, now=clock())
    assert other_app.value.status == 403
    with pytest.raises(CallbackRefused):  # RequestTime is the simulator's now
        authenticate(arrival.query, sdkappid=APP, token=TOKEN, now=clock() + 61)
    signed.stop()

    unsigned = pushers(sim, receiver.url(), None)
    sim.set_audience(GROUP, 5)
    unsigned.push_once()
    (arrival,) = receiver.taken()
    assert "Sign" not in arrival.query and "RequestTime" not in arrival.query
    with pytest.raises(CallbackRefused) as missing:
        authenticate(arrival.query, sdkappid=APP, token=TOKEN, now=clock())
    assert missing.value.status == 401
    authenticate(arrival.query, sdkappid=APP, token=None, now=clock())  # a bot without a token
    assert arrival.change == MemberStateChange(GROUP, "Online", "Join", 2)


def test_big_moves_go_in_batches_of_50_each_group_in_order(make_sim, receiver, pushers):
    groups = [f"@TGS#batch-{i}" for i in range(3)]
    sim = make_sim(*(GroupSpec(g, g, curve=Steady(0)) for g in groups))
    pusher = pushers(sim, receiver.url(), workers=4)
    for i, group_id in enumerate(groups):
        sim.set_audience(group_id, 120 + i)
    for i, group_id in enumerate(groups):
        sim.set_audience(group_id, i)

    sent = pusher.push_once()

    arrivals = receiver.taken()
    assert sent == len(arrivals) == 3 * 6
    assert max(len(a.accounts) for a in arrivals) == MAX_MEMBERS_PER_CALLBACK
    for i, group_id in enumerate(groups):
        mine = [a.change for a in arrivals if a.change.group_id == group_id]
        assert [(c.event, c.members) for c in mine] == [
            ("Online", 50),
            ("Online", 50),
            ("Online", 20 + i),
            ("Offline", 50),
            ("Offline", 50),
            ("Offline", 20),
        ]
    assert pusher.stats == PushStats(callbacks=18, members=2 * (120 + 121 + 122) - 3)


# --------------------------------------------------------------------------- exactness


def test_the_callbacks_add_up_to_the_count_api_and_the_member_list(
    make_sim, receiver, pushers, clients, clock
):
    sim = make_sim(
        GroupSpec("@TGS#ramp", "Ramp", curve=Ramp(10, 260, 90)),
        GroupSpec("@TGS#drop", "Drop", curve=Drop(300, 40, 30, 150)),
        GroupSpec("@TGS#walk", "Walk", curve=Walk(200, 60, 0, 400, seed=7, every=10)),
        GroupSpec("@TGS#steady", "Steady", curve=Steady(25)),
        GroupSpec("@TGS#public", "Not audio-video", type="Public", curve=Ramp(0, 90, 60)),
    )
    client = clients(sim)
    clock.advance(5)  # moves before the pusher exists are not its business
    pusher = pushers(sim, receiver.url())
    audio_video = ["@TGS#ramp", "@TGS#drop", "@TGS#walk", "@TGS#steady"]
    online = {g: _accounts(client, g) for g in audio_video}
    for step in range(20):
        clock.advance(10)
        if step == 5:
            sim.set_audience("@TGS#steady", 180)
        if step == 9:
            kept = sorted(online["@TGS#steady"])[:60]
            fresh = [Member(f"guest{i}", "", "", int(clock()) - i) for i in range(15)]
            kept_members = [Member(a, "", "", 0) for a in kept]
            sim.set_members("@TGS#steady", kept_members + fresh)
        if step == 12:
            sim.add_group("@TGS#late", "Added later", curve=Ramp(40, 0, 30))
            audio_video.append("@TGS#late")
            online["@TGS#late"] = set()
        pusher.push_once()
        for arrival in receiver.taken():
            change = arrival.change
            assert change.group_id != "@TGS#public"  # AVChatRoom groups only
            assert change.members <= MAX_MEMBERS_PER_CALLBACK
            accounts = set(arrival.accounts)
            if change.event == "Online":
                assert not accounts & online[change.group_id], "already online"
                online[change.group_id] |= accounts
            else:
                assert accounts <= online[change.group_id], "was not online"
                online[change.group_id] -= accounts
        for group_id in audio_video:
            assert len(online[group_id]) == client.online_count(group_id), (step, group_id)
            assert online[group_id] == _accounts(client, group_id), (step, group_id)
    assert len(online["@TGS#steady"]) == 75
    assert online["@TGS#late"] == set()  # joined, then left again


def test_a_drop_curve_sends_offline_callbacks_then_online_on_recovery(
    make_sim, receiver, pushers, clock
):
    sim = make_sim(GroupSpec(GROUP, "Drop", curve=Drop(420, 20, at=60, recover_at=120)))
    pusher = pushers(sim, receiver.url())

    clock.advance(59)
    assert pusher.push_once() == 0
    clock.advance(1)
    pusher.push_once()
    dropped = [a.change for a in receiver.taken()]
    assert {c.event for c in dropped} == {"Offline"}
    assert sum(c.delta for c in dropped) == -400
    assert len(dropped) == 8
    # A fixed mix of the two Offline causes: every fourth is a lost heartbeat.
    assert [c.cause for c in dropped] == ["Quit", "Quit", "Quit", "HeartbeatInterrupt"] * 2

    clock.advance(60)
    pusher.push_once()
    recovered = [a.change for a in receiver.taken()]
    assert {(c.event, c.cause) for c in recovered} == {("Online", "Join")}
    assert sum(c.delta for c in recovered) == 400


# --------------------------------------------------------------------------- failures


def test_a_receiver_answering_500_is_counted_warned_once_and_pushing_goes_on(
    sim, receiver, pushers, caplog
):
    pusher = pushers(sim, receiver.url())
    monotonic = FakeClock(0.0)
    pusher._monotonic = monotonic
    receiver.status = 500
    caplog.set_level(logging.WARNING, logger="bot.simulator.push")

    for count in (60, 160, 10):  # +60, +100, -150: 2 + 2 + 3 callbacks
        sim.set_audience(GROUP, count)
        pusher.push_once()
    assert pusher.stats == PushStats(callbacks=7, members=310, refused=7)
    assert len(caplog.records) == 1  # once a minute at most
    assert "HTTP 500" in caplog.text

    monotonic.advance(WARN_EVERY)
    receiver.status = 200
    sim.set_audience(GROUP, 0)
    pusher.push_once()
    sim.set_audience(GROUP, 1)  # one more 500: the second warning, with the count of the rest
    receiver.status = 500
    pusher.push_once()
    assert pusher.stats == PushStats(callbacks=9, members=321, refused=8)
    assert pusher.stats.delivered == 1
    assert len(caplog.records) == 2
    assert "and 6 more" in caplog.records[1].getMessage()
    assert TOKEN not in caplog.text and "Sign" not in caplog.text


def test_a_receiver_refusing_connections_is_counted_and_pushing_goes_on(
    sim, pushers, caplog, clock
):
    down = Receiver()
    port = down.port
    down.close()  # nothing listens there now
    pusher = pushers(sim, f"http://127.0.0.1:{port}/cb")
    caplog.set_level(logging.WARNING, logger="bot.simulator.push")

    sim.set_audience(GROUP, 120)  # 3 callbacks: the first fails, the rest are not tried
    assert pusher.push_once() == 3
    assert pusher.stats == PushStats(callbacks=3, members=120, unreachable=3)
    assert pusher.stats.failures == 3
    assert "get no answer (ConnectionError)" in caplog.text
    assert TOKEN not in caplog.text and "Sign" not in caplog.text

    up = Receiver(port)  # the receiver comes back: the next push gets through
    try:
        sim.set_audience(GROUP, 100)
        assert pusher.push_once() == 1
        (arrival,) = up.taken()
        assert (arrival.change.event, arrival.change.members) == ("Offline", 20)
        assert pusher.stats.delivered == 1
    finally:
        pusher.stop()
        up.close()


def test_the_background_thread_survives_failures_and_stop_joins_it(sim, receiver, pushers):
    pusher = pushers(sim, receiver.url(), interval=0.02).start()
    receiver.status = 503
    sim.set_audience(GROUP, 10)
    wait_until(lambda: pusher.stats.refused == 1, timeout=10, what="a refused callback")
    receiver.status = 200
    sim.set_audience(GROUP, 15)
    wait_until(lambda: pusher.stats.delivered == 1, timeout=10, what="the next push")
    assert [a.change.delta for a in receiver.taken()] == [10, 5]
    assert pusher.running

    pusher.stop()
    assert not pusher.running
    sim.set_audience(GROUP, 0)
    assert sim.take_member_events()[1] == []  # events are no longer kept
    with pytest.raises(RuntimeError, match="stopped"):
        pusher.push_once()


# --------------------------------------------------------------------------- Simulator


def test_simulator_push_callbacks_is_stopped_with_the_simulator(sim, receiver):
    pusher = sim.push_callbacks(receiver.url(), TOKEN, interval=0.02)
    assert pusher.running
    sim.set_audience(GROUP, 7)
    wait_until(lambda: pusher.stats.delivered == 1, timeout=10, what="a pushed callback")
    sim.stop()
    assert not pusher.running
    sim.start_member_events()  # sim.stop() released the events: no RuntimeError
    sim.stop_member_events()


def test_one_pusher_per_simulator(sim, receiver, pushers):
    first = pushers(sim, receiver.url())
    with pytest.raises(RuntimeError, match="already kept"):
        CallbackPusher(sim, receiver.url(), TOKEN)
    first.stop()
    second = pushers(sim, receiver.url())
    sim.set_audience(GROUP, 4)
    assert second.push_once() == 1


@pytest.mark.parametrize(
    "url",
    ["ftp://bot.example/cb", "bot.example:3000/cb", "http:///cb", "http://bot:99999/cb"],
)
def test_pusher_refuses_a_url_it_cannot_post_to(sim, url):
    with pytest.raises(ValueError):
        CallbackPusher(sim, url, TOKEN)
    CallbackPusher(sim, "https://bot.example/cb", TOKEN).stop()  # nothing kept the events


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://bot.example/cb", "must start with http:// or https://"),
        ("bot.example:3000/cb", "must start with http:// or https://"),
        ("http:///cb", "has no host"),
        ("http://bot:port/cb", "is not a URL"),
    ],
)
def test_cli_refuses_a_bad_callback_url(url, problem):
    result = CliRunner().invoke(main, ["simulator", "--port", "0", "--callback-url", url])
    assert result.exit_code == 2
    assert "Invalid value for '--callback-url'" in result.stderr
    assert problem in result.stderr
    assert result.stdout == ""  # refused before anything started


def test_cli_callback_token_needs_a_url():
    result = CliRunner().invoke(main, ["simulator", "--port", "0", "--callback-token", TOKEN])
    assert result.exit_code == 2
    assert "give --callback-url too" in result.stderr


@pytest.mark.parametrize("token", [TOKEN, None])
def test_cli_says_where_it_pushes_without_the_token(monkeypatch, token):
    made: list[CallbackPusher] = []

    def serve_forever(self: Simulator, host: str, port: int) -> None:
        made.extend(self._pushers)
        raise KeyboardInterrupt  # Ctrl-C at once: no server started

    monkeypatch.setattr(Simulator, "serve_forever", serve_forever)
    args = ["simulator", "--callback-url", "http://user:pw@127.0.0.1:9/hook?key=k1"]
    result = CliRunner().invoke(main, args + (["--callback-token", token] if token else []))

    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("Pushing")]
    assert "http://127.0.0.1:9/hook" in line
    assert ("signed with the token" if token else "unsigned (no --callback-token)") in line
    assert TOKEN not in result.output and "pw" not in line and "k1" not in line
    (pusher,) = made
    assert not pusher.running  # stopped on the way out
