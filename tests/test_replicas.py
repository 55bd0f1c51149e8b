"""Three ``python -m bot run`` replicas on one PostgreSQL database (issue 5): every target
checked once per interval, the work shared, every alert posted once, and a replica may die
(kill -9) mid-cycle or between its Slack post and the record of it.

The replicas are real subprocesses in HTTP mode; the Tencent simulator runs in this process
(its own app ID per test, so the shared rate limit's Redis keys never collide), Slack is the
fake. Every wait is bounded polling of something observable (samples in the database,
messages in the fake, a lease in ``targets``), never a sleep taken as synchronisation.

Timing, from the settings the replicas get (POLL_INTERVAL=1 against a loopback simulator,
and LEASE_SECONDS=4 instead of the leases fitted to the interval, 10 s and 30 s):

- ``INTERVAL`` 1 s: a target is next due one interval after the claim that checked it;
- ``TICK`` 1 s: each replica's scheduler looks for due targets every min(interval, 15) s;
- ``LEASE`` 4 s: a claimed target is leased for LEASE_SECONDS;
- ``OUTBOX_LEASE`` 4 s: a claimed outbox row is leased for LEASE_SECONDS too.

What "checked once per interval" means on the samples table (one row per check, ``taken_at``
= the time of the claim that made it):

- no duplicate: consecutive samples of a target are at least ``INTERVAL - EARLY`` apart. A
  claim takes only targets whose ``next_due_at`` (previous claim + interval) has passed, so
  the bound is exact; ``EARLY`` (1 ms) only absorbs the microsecond rounding of timestamps.
- no miss: at most ``MAX_GAP`` = interval + tick + ``SLACK`` apart. Once due, a target is
  claimed by whichever replica ticks first, within one tick; ``SLACK`` (2 s) covers a cycle's
  own duration and scheduling delays on a loaded machine.
- across a kill -9: at most ``MAX_GAP + LEASE``: the dead replica's lease on the targets it
  had claimed must run out before another replica takes them; and every target has a new
  sample within ``LEASE + TICK + SLACK`` of the kill.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from slack_sdk import WebClient
from sqlalchemy import select, text
from support.databases import MigratedTemplates, fresh_postgres_database
from support.fakeslack import Call, FakeSlack
from support.replicas import Replica, replica_of, start_replicas, stop_replicas
from support.waiting import wait_until

from bot.alerts.names import GroupNames
from bot.commands.grammar import parse
from bot.simulator import Faults, Scenario, Simulator
from bot.store import Outbox, SampleRow, make_engine, session_factory, upgrade
from bot.tencent.callbacks import MEMBER_STATE_CHANGE, signed_query
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Actor, Watches
from bot.webhook import CALLBACK_PATH

INTERVAL = 1.0
TICK = 1.0
LEASE = 4.0
OUTBOX_LEASE = LEASE
EARLY = 0.001
SLACK = 2.0
MAX_GAP = INTERVAL + TICK + SLACK
MAX_GAP_ACROSS_KILL = MAX_GAP + LEASE

REDIS_URL = "redis://127.0.0.1:6379/15"
REPLICAS = 3
HIGH, LOW = 500, 40
GROUPS = [f"@TGS#replica-{i:02d}" for i in range(20)]
#: One channel per group, and three more channels watching the first group.
WATCHES = [(f"C{i:02d}", group) for i, group in enumerate(GROUPS)] + [
    (f"CS{i}", GROUPS[0]) for i in range(1, 4)
]
CHANNELS = [channel for channel, _ in WATCHES]
#: How long alerts may take: a target lease and an outbox lease left by a killed replica.
ALERT_DEADLINE = LEASE + OUTBOX_LEASE + 20


def top_level(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel) if m.get("thread_ts", m["ts"]) == m["ts"]]


def replies(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The messages in threads (the alerts' charts apart: ``shares``)."""
    return [
        m
        for m in fake.messages(channel)
        if m.get("thread_ts", m["ts"]) != m["ts"] and not m.get("upload")
    ]


def shares(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The files shared in the channel: the alerts' charts."""
    return [m for m in fake.messages(channel) if m.get("upload")]


def updates(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls("chat.update") if c.params.get("channel") == channel]


class Cluster:
    """The database with the watches, the simulator, the fake Slack, and the replicas."""

    def __init__(self, url: str, sim: Simulator, fake: FakeSlack, root: Path) -> None:
        self.url, self.sim, self.fake, self.root = url, sim, fake, root
        upgrade(url)  # before the replicas, so they do not all migrate at once
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)
        self.replicas: list[Replica] = []
        self.start_time = 0.0  # when start() returned
        self.watch_of: dict[str, int] = {}
        tencent = TencentClient(
            sdkappid=sim.scenario.sdkappid,
            secret_key=sim.scenario.secret_key,
            base_url=sim.url,
            rate_limits=RateLimits(50),
        )
        try:
            watches = Watches(self.sessions, tencent, GroupNames(tencent))
            for channel, group in WATCHES:
                watches.create(parse(f"watch {group} below 100"), Actor("U1", channel))
        finally:
            tencent.close()
        with self.sessions() as session:
            for channel, watch_id in session.execute(
                text("SELECT channel_id, id FROM watches")
            ).all():
                self.watch_of[channel] = watch_id

    def start(self, **more: str) -> float:
        """Start the replicas (``more`` settings, if any); returns when all of them serve."""
        scenario = self.sim.scenario
        self.replicas = start_replicas(
            self.root,
            REPLICAS,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET="x",
            SLACK_API_URL=self.fake.api_url,
            DATABASE_URL=self.url,
            REDIS_URL=REDIS_URL,
            TENCENT_IM_BASE_URL=self.sim.url,
            TENCENT_IM_SDKAPPID=str(scenario.sdkappid),
            TENCENT_IM_SECRET_KEY=scenario.secret_key,
            **{"POLL_INTERVAL": str(int(INTERVAL)), "LEASE_SECONDS": str(int(LEASE)), **more},
        )
        self.start_time = time.time()
        return self.start_time

    def stop(self) -> None:
        stop_replicas(self.replicas)
        self.engine.dispose()

    def set_audience(self, count: int, groups: Sequence[str] = GROUPS) -> float:
        """Every group in ``groups`` has ``count`` online from now on; returns when that is."""
        for group in groups:
            self.sim.set_audience(group, count)
        return time.time()

    # -- reading the database --------------------------------------------------------------

    def samples(self, since: float) -> dict[tuple[str, int | None], list[float]]:
        """When each target was checked (sample ``taken_at``) from ``since`` on, in order."""
        with self.sessions() as session:
            rows = session.execute(
                select(SampleRow.group_id, SampleRow.mark, SampleRow.taken_at).order_by(
                    SampleRow.taken_at
                )
            ).all()
        taken: dict[tuple[str, int | None], list[float]] = defaultdict(list)
        for group, mark, at in rows:
            if at.timestamp() >= since:
                taken[(group, mark)].append(at.timestamp())
        return taken

    def wait_cycles(self, cycles: int, *, timeout: float | None = None) -> float:
        """Wait until every target has been checked ``cycles`` more times; returns the time."""
        since = time.time()

        def done() -> bool:
            taken = self.samples(since)
            return all(len(taken[(group, None)]) >= cycles for group in GROUPS)

        wait_until(
            done,
            timeout=timeout or cycles * MAX_GAP + LEASE,
            what=f"every target checked {cycles} more times",
        )
        return time.time()

    def outbox(self) -> list[Outbox]:
        """The messages' rows (not their charts')."""
        with self.sessions() as session:
            query = select(Outbox).where(Outbox.kind != "chart").order_by(Outbox.id)
            return list(session.scalars(query).all())

    def lease_owner_since(self, claimed_at: float) -> str | None:
        """A replica holding targets it claimed at ``claimed_at`` or later, if any."""
        with self.engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT lease_owner FROM targets WHERE lease_owner IS NOT NULL "
                    "AND lease_until >= to_timestamp(:at) LIMIT 1"
                ),
                {"at": claimed_at + LEASE},
            ).scalar()

    def targets_checked(self) -> int:
        """How many targets a replica has checked and completed (their count is the base
        of push's estimates; a watch's creation stores a sample, but checks no target)."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM targets "
                        "WHERE last_checked_at IS NOT NULL AND lease_owner IS NULL"
                    )
                ).scalar_one()
            )

    def leases_of(self, replica: Replica) -> int:
        """How many targets ``replica`` holds (claimed, not yet completed)."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM targets WHERE lease_owner = :owner"),
                    {"owner": replica.owner},
                ).scalar_one()
            )

    # -- what the replicas did ---------------------------------------------------------------

    def wait_alerts(self, count: int, timeout: float) -> None:
        """Wait until every watch channel shows ``count`` top-level messages."""
        wait_until(
            lambda: all(len(top_level(self.fake, c)) >= count for c in CHANNELS),
            timeout=timeout,
            what=lambda: (
                f"{count} alert(s) in every channel: "
                + str({c: len(top_level(self.fake, c)) for c in CHANNELS})
            ),
            every=0.1,
        )

    def wait_resolves(self, count: int, timeout: float) -> None:
        wait_until(
            lambda: all(
                len(replies(self.fake, c)) >= count and len(updates(self.fake, c)) >= count
                for c in CHANNELS
            ),
            timeout=timeout,
            what=lambda: (
                f"{count} resolve(s) and update(s) in every channel: "
                + str(
                    {c: (len(replies(self.fake, c)), len(updates(self.fake, c))) for c in CHANNELS}
                )
            ),
            every=0.1,
        )

    def assert_alerted_once(self, incidents: int) -> None:
        """Each channel: ``incidents`` alert messages, each for the channel's own watch, and
        no message key twice."""
        for channel in CHANNELS:
            alerts = top_level(self.fake, channel)
            assert len(alerts) == incidents, (channel, [m["text"] for m in alerts])
            for alert in alerts:
                payload = alert["metadata"]["event_payload"]
                assert (payload["watch_id"], payload["kind"]) == (self.watch_of[channel], "firing")
            posted = [m for m in self.fake.messages(channel) if not m.get("upload")]
            keys = [m["metadata"]["event_payload"]["key"] for m in posted]
            assert len(keys) == len(set(keys)), (channel, keys)

    def assert_charted_once(self, charts: int) -> None:
        """Each channel: ``charts`` charts, each in the thread of one of its alerts, and
        no chart twice (waiting for the last ones: they follow their messages)."""
        wait_until(
            lambda: all(len(shares(self.fake, c)) >= charts for c in CHANNELS),
            timeout=60,  # 23 alerts at once: their charts queue behind each other
            what=lambda: (
                f"{charts} chart(s) in every channel: "
                + str({c: len(shares(self.fake, c)) for c in CHANNELS})
            ),
            every=0.1,
        )
        for channel in CHANNELS:
            alerts = {m["ts"] for m in top_level(self.fake, channel)}
            shared = shares(self.fake, channel)
            assert len(shared) == charts and {m["thread_ts"] for m in shared} <= alerts
            names = [f["name"] for m in shared for f in m["files"]]
            assert len(names) == len(set(names)) == charts, (channel, names)

    def assert_resolved_once(self, incidents: int) -> None:
        for channel in CHANNELS:
            alerts = {m["ts"] for m in top_level(self.fake, channel)}
            threaded = [m["thread_ts"] for m in replies(self.fake, channel)]
            assert len(threaded) == incidents and set(threaded) <= alerts, (channel, threaded)
            assert all(m["text"].startswith("Resolved:") for m in replies(self.fake, channel))
            updated = [u["ts"] for u in updates(self.fake, channel)]
            assert sorted(updated) == sorted(threaded), (channel, updated, threaded)

    def assert_checked_every_interval(
        self, since: float, until: float, kills: Sequence[float] = ()
    ) -> None:
        """No target checked twice within an interval, none left unchecked (module doc)."""
        taken = self.samples(since)
        assert set(taken) == {(group, None) for group in GROUPS}
        problems = []
        for (group, _), times in taken.items():
            times = [t for t in times if t <= until]
            if not times or until - times[-1] > MAX_GAP:
                problems.append(f"{group}: not checked since {times[-1:]} (until {until})")
            if times and times[0] - since > MAX_GAP:
                problems.append(f"{group}: first checked {times[0] - since:.2f}s after the start")
            for a, b in pairwise(times):
                across_kill = any(a <= k <= b for k in kills)
                allowed = MAX_GAP_ACROSS_KILL if across_kill else MAX_GAP
                if b - a < INTERVAL - EARLY:
                    problems.append(f"{group}: checked twice {b - a:.3f}s apart (duplicate)")
                if b - a > allowed:
                    problems.append(f"{group}: {b - a:.2f}s between checks (> {allowed})")
            for k in kills:
                after = [t for t in times if t > k]
                if after and after[0] - k > LEASE + TICK + SLACK:
                    problems.append(f"{group}: next check {after[0] - k:.2f}s after the kill")
        assert not problems, "\n".join(problems)

    def assert_never_rate_limited(self) -> None:
        stats = self.sim.stats()
        assert stats.total_calls > 0
        assert {c: s.rate_limited for c, s in stats.commands.items()} == dict.fromkeys(
            stats.commands, 0
        )

    def assert_no_tracebacks(self) -> None:
        for replica in self.replicas:
            assert "Traceback" not in replica.stderr(), replica.stderr()[-3000:]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def postgres_url(migrated_templates: MigratedTemplates) -> Iterator[str]:
    """A PostgreSQL database of the test's own, already at head."""
    yield from fresh_postgres_database(migrated_templates.postgres_template())


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """The simulator, answering as an app of its own: the replicas' shared rate-limit keys in
    Redis (``online-bot:<sdkappid>:...``) are this test's alone, and deleted afterwards."""
    sdkappid = random.randrange(1_500_000_000, 1_600_000_000)
    scenario = Scenario(sdkappid=sdkappid, cache_seconds=0, rate_limit=200)
    with Simulator(scenario).start() as running:
        for i, group in enumerate(GROUPS):
            running.add_group(group, f"Stream {i}", "AVChatRoom")
            running.set_audience(group, HIGH)
        yield running
    store = redis.Redis.from_url(REDIS_URL)
    try:
        for key in store.scan_iter(match=f"online-bot:{sdkappid}:*"):
            store.delete(key)
    finally:
        store.close()


@pytest.fixture
def cluster(
    postgres_url: str, sim: Simulator, fake_slack: FakeSlack, tmp_path: Path
) -> Iterator[Cluster]:
    running = Cluster(postgres_url, sim, fake_slack, tmp_path)
    try:
        yield running
    finally:
        running.stop()


# -- the fake's hold, which the replicas' test relies on --------------------------------------


def test_fake_slack_holds_a_response_until_released(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, user_agent_suffix="me/1")
    answers: list[str] = []
    fake_slack.hold("chat.postMessage")
    sender = threading.Thread(
        target=lambda: answers.append(client.chat_postMessage(channel="C1", text="hi")["ts"])
    )
    sender.start()
    (held,) = fake_slack.wait_for_held("chat.postMessage")
    assert "me/1" in held.headers["user-agent"]
    (stored,) = fake_slack.messages("C1")  # Slack has it, the client does not know yet
    assert answers == [] and sender.is_alive()
    history = client.conversations_history(channel="C1")  # other methods are not held
    assert [m["ts"] for m in history["messages"]] == [stored["ts"]]
    assert fake_slack.release("chat.postMessage") == 1
    sender.join(5)
    assert answers == [stored["ts"]]
    assert fake_slack.held() == []
    client.chat_postMessage(channel="C1", text="not held")  # the hold was for one request


# -- the replicas -----------------------------------------------------------------------------


def replicas_that_checked(cluster: Cluster) -> dict[str, int]:
    """Each replica that has checked targets: how many, over the poll cycles it logged."""
    shares = {r.name: sum(r.cycle_targets()) for r in cluster.replicas}
    return {name: checked for name, checked in shares.items() if checked}


def test_replicas_share_the_checks_alert_once_and_survive_two_kills(cluster: Cluster) -> None:
    """One cluster (three replicas to start, a second or more of CPU each) for two stories in
    turn: the replicas share the checks and post every alert, its chart and its resolve
    once, with one of them killed mid-cycle; then one of the two left is killed between its
    Slack post and the record of it, and the last one finds the post rather than repeat it."""
    started = cluster.start()
    killed = _share_and_alert_once_across_a_kill_mid_cycle(cluster)
    killed_after_posting, until = _a_replica_killed_between_its_post_and_the_record(cluster)
    cluster.assert_checked_every_interval(started, until, kills=[killed, killed_after_posting])
    cluster.assert_never_rate_limited()
    cluster.assert_no_tracebacks()


def _share_and_alert_once_across_a_kill_mid_cycle(cluster: Cluster) -> float:
    """From the start: the checks shared, then a replica killed while it holds targets, and
    an incident on every group alerted, charted and resolved once. Returns when it died."""
    cluster.wait_cycles(2)
    # The work is shared: checks made by two replicas at least, before any is killed.
    wait_until(
        lambda: len(replicas_that_checked(cluster)) >= 2,
        timeout=MAX_GAP,
        what="checks made by two replicas",
    )
    # Each check now takes 300 ms, so a cycle holds its lease long enough to be caught.
    cluster.sim.set_faults(Faults(latency_ms=300))

    dropped = cluster.set_audience(LOW)
    owner = wait_until(
        lambda: cluster.lease_owner_since(dropped),
        timeout=MAX_GAP,
        what="a replica claiming targets after the drop",
        every=0.005,
    )
    (victim,) = [r for r in cluster.replicas if r.owner == owner]
    victim.kill()
    killed = time.time()
    assert cluster.leases_of(victim), "killed after its cycle, not in it"
    # Back to no latency: the first cycle of an incident also asks for the name of each
    # alerting group, one call at a time, while it holds its targets (300 ms each would
    # keep them 6 s: longer than MAX_GAP).
    cluster.sim.set_faults(Faults())
    survivors = [r for r in cluster.replicas if r is not victim]
    assert all(r.process.poll() is None for r in survivors)

    cluster.wait_alerts(1, timeout=ALERT_DEADLINE)
    cluster.wait_cycles(2)  # firing still, checked again and again: nothing new
    cluster.assert_alerted_once(1)
    assert [r.kind for r in cluster.outbox()] == ["firing"] * len(WATCHES)
    for call in cluster.fake.calls("chat.postMessage"):
        assert replica_of(call, cluster.replicas) is not victim  # it died before posting

    cluster.set_audience(HIGH)
    cluster.wait_resolves(1, timeout=MAX_GAP + 15)
    until = cluster.wait_cycles(2)
    cluster.assert_alerted_once(1)
    cluster.assert_resolved_once(1)
    cluster.assert_charted_once(2)  # the alert's, and the incident's
    assert all(r.status == "delivered" for r in cluster.outbox())

    cluster.assert_checked_every_interval(cluster.start_time, until, kills=[killed])
    assert all(sum(r.cycle_targets()) for r in survivors)  # both took over checks
    return killed


def _a_replica_killed_between_its_post_and_the_record(cluster: Cluster) -> tuple[float, float]:
    """One group's incident, its alert held by Slack until its poster is killed: the last
    replica finds the post in the channel rather than post again. Returns when it died, and
    when every target had been checked twice more after the resolve. What the story before
    left (messages, calls, outbox rows) is set aside."""
    group, channel = GROUPS[5], "C05"
    earlier = {c: {m["ts"] for m in cluster.fake.messages(c)} for c in CHANNELS}
    earlier_rows = {r.id for r in cluster.outbox()}
    calls_before = {
        method: len(cluster.fake.calls(method))
        for method in ("chat.postMessage", "chat.update", "conversations.history")
    }

    def new_calls(method: str) -> list[Call]:
        return cluster.fake.calls(method)[calls_before[method] :]

    def new(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in messages if m["ts"] not in earlier[channel]]

    cluster.fake.hold("chat.postMessage")
    cluster.set_audience(LOW, [group])
    (held,) = cluster.fake.wait_for_held("chat.postMessage", timeout=MAX_GAP + 5)
    assert held.params["channel"] == channel
    victim = replica_of(held, cluster.replicas)
    victim.kill()  # Slack has the post; the replica never learns its ts
    killed = time.time()
    assert cluster.fake.release("chat.postMessage") == 1
    (posted,) = new(top_level(cluster.fake, channel))
    key = posted["metadata"]["event_payload"]["key"]
    assert key == held.params["metadata"]["event_payload"]["key"]

    def delivered() -> Outbox | None:
        (row,) = [r for r in cluster.outbox() if r.dedup_key == key]
        return row if row.status == "delivered" else None

    # The dead replica's claim on the row runs out (OUTBOX_LEASE); another one claims it, finds the
    # message by its key in the channel's history, and records it instead of posting again.
    row = wait_until(delivered, timeout=OUTBOX_LEASE + 20, what=f"outbox row {key} delivered")
    assert row.attempts == 2 and row.message_ts == posted["ts"]
    assert new(top_level(cluster.fake, channel)) == [posted]
    posts = [c for c in new_calls("chat.postMessage") if c.params["channel"] == channel]
    assert posts == [held]
    lookups = [c for c in new_calls("conversations.history") if c.params["channel"] == channel]
    assert lookups and all(replica_of(c, cluster.replicas) is not victim for c in lookups)

    def updated() -> list[str]:
        return [c.params["ts"] for c in new_calls("chat.update") if c.params["channel"] == channel]

    cluster.set_audience(HIGH, [group])
    wait_until(
        lambda: new(replies(cluster.fake, channel)) and updated(),
        timeout=MAX_GAP + 15,
        what="the resolve",
    )
    until = cluster.wait_cycles(2)
    (resolve,) = new(replies(cluster.fake, channel))
    assert resolve["thread_ts"] == posted["ts"]  # in the thread of the message found
    assert updated() == [posted["ts"]]
    for other in CHANNELS:
        if other != channel:
            assert {m["ts"] for m in cluster.fake.messages(other)} == earlier[other]
    rows = [r.status for r in cluster.outbox() if r.id not in earlier_rows]
    assert rows == ["delivered", "delivered"]
    return killed, until


# -- push: callbacks to any replica ---------------------------------------------------------

PUSH_TOKEN = "replica-push-token"
PUSH_POLL_INTERVAL = 120  # polling alone would take this long: push must do it
PUSH_DEBOUNCE = 1.0


def send_callbacks(cluster: Cluster, event: str, members: int, rng: random.Random) -> int:
    """Tencent's callbacks for every group: ``members`` going ``event``, in callbacks of up
    to 50, each to a replica picked at random, several at once. Returns how many."""
    scenario = cluster.sim.scenario
    posts = []
    for group in GROUPS:
        for start in range(0, members, 50):
            chunk = min(50, members - start)
            body = {
                "CallbackCommand": MEMBER_STATE_CHANGE,
                "GroupId": group,
                "EventType": event,
                "EventCause": "Quit" if event == "Offline" else "Join",
                "MemberList": [{"Member_Account": f"m{start + i}"} for i in range(chunk)],
            }
            posts.append((rng.choice(cluster.replicas), body))

    def send(item: tuple[Replica, dict[str, Any]]) -> int:
        replica, body = item
        query = signed_query(scenario.sdkappid, PUSH_TOKEN, time.time())
        answer = requests.post(f"{replica.url}{CALLBACK_PATH}", params=query, json=body, timeout=10)
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, posts))
    assert statuses == [200] * len(posts)
    return len(posts)


def test_callbacks_to_any_replica_alert_and_resolve_once_without_polling(
    cluster: Cluster,
) -> None:
    rng = random.Random(7)
    cluster.start(
        POLL_INTERVAL=str(PUSH_POLL_INTERVAL),
        TENCENT_IM_CALLBACK_TOKEN=PUSH_TOKEN,
        PUSH_DEBOUNCE=str(PUSH_DEBOUNCE),
    )
    wait_until(  # the first check of every target (at start): the estimates' base
        lambda: cluster.targets_checked() == len(GROUPS),
        timeout=30,
        what=lambda: f"every target checked once: {cluster.targets_checked()} of {len(GROUPS)}",
    )
    counts = cluster.sim.stats().get_online_member_num.calls

    fell = cluster.set_audience(LOW)
    send_callbacks(cluster, "Offline", HIGH - LOW, rng)
    cluster.wait_alerts(1, timeout=PUSH_DEBOUNCE + 20)
    assert time.time() - fell < PUSH_POLL_INTERVAL / 2  # push, not the next poll
    cluster.assert_alerted_once(1)

    cluster.set_audience(HIGH)
    send_callbacks(cluster, "Online", HIGH - LOW, rng)
    cluster.wait_resolves(1, timeout=PUSH_DEBOUNCE + 20)
    cluster.assert_alerted_once(1)
    cluster.assert_resolved_once(1)
    wait_until(  # recorded just after Slack took the last message
        lambda: all(r.status == "delivered" for r in cluster.outbox()),
        timeout=10,
        what="every outbox row recorded as delivered",
    )
    # Ten callbacks per group and direction, to three replicas: a check or two each
    calls = cluster.sim.stats().get_online_member_num.calls - counts
    assert len(GROUPS) * 2 <= calls <= len(GROUPS) * 4, calls
    cluster.assert_never_rate_limited()
    cluster.assert_no_tracebacks()
