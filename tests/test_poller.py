"""The poll cycle (bot/alerts/poller.py): the pipeline end to end, stopping, pruning,
and the warning when replicas poll without a shared rate limit."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
from sqlalchemy import select
from support.alerting import GROUP, posts

from bot.alerts.poller import BATCHES_AHEAD, Poller
from bot.store.models import TargetRow
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import RateLimits


def test_alert_posted_once_resolved_in_thread_and_original_updated(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    env.cycle()
    assert fake_slack.calls("chat.postMessage") == []
    sim.set_audience(GROUP, 40)
    env.cycle()
    env.cycle()  # still firing: nothing new
    (alert,) = posts(fake_slack)
    assert alert["channel"] == "C1"
    assert alert["metadata"]["event_type"] == "online_bot_alert"
    assert "Evening &lt;Stream&gt;" in json.dumps(alert["blocks"])
    assert "40" in alert["text"]
    first_ts = fake_slack.calls("chat.postMessage")[0]
    ts = fake_slack.messages("C1")[0]["ts"]
    sim.set_audience(GROUP, 150)
    env.cycle()
    replies = posts(fake_slack, thread_ts=ts)
    assert len(replies) == 1 and "Resolved" in replies[0]["text"]
    (update,) = [c.params for c in fake_slack.calls("chat.update")]
    assert update["ts"] == ts and update["channel"] == "C1"
    assert "Resolved" in json.dumps(update["blocks"])
    assert len(fake_slack.calls("chat.postMessage")) == 2
    assert first_ts is not None
    assert all(row.status == "delivered" for row in env.outbox())


class HeldPoller(Poller):
    """A poller whose batches wait for ``go`` before fetching; ``fetching`` tells that as
    many batches as the poller claims ahead are waiting."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fetching, self.go = threading.Event(), threading.Event()
        self._waiting = 0
        self._lock = threading.Lock()

    def check_targets(self, targets, now):
        with self._lock:
            self._waiting += 1
            if self._waiting == BATCHES_AHEAD:
                self.fetching.set()
        self.go.wait(timeout=30)
        return super().check_targets(targets, now)


def test_stop_finishes_the_claimed_batches_and_claims_no_more(env, sim):
    for i in range(10):
        sim.add_group(f"@TGS#h{i}", f"H{i}", "AVChatRoom")
        sim.set_audience(f"@TGS#h{i}", 500)
        env.watch(f"watch @TGS#h{i} below 100")
    env.clock.advance(60)
    poller = HeldPoller(env.sessions, env.tencent, names=env.names, clock=env.clock, batch=2)
    reports = []
    cycle = threading.Thread(target=lambda: reports.append(poller.run_cycle()))
    cycle.start()
    try:
        assert poller.fetching.wait(timeout=30)
        assert poller.stop(timeout=0) is False  # stopping now; the cycle still runs
    finally:
        poller.go.set()
    assert poller.stop(timeout=30) is True
    cycle.join(timeout=30)
    poller.close()
    (report,) = reports
    claimed = 2 * BATCHES_AHEAD  # the batches it had claimed
    assert report.targets == claimed and report.evaluated == claimed
    with env.sessions() as session:
        rows = session.scalars(select(TargetRow)).all()
    assert sum(1 for t in rows if t.last_checked_at is not None) == claimed
    assert all(t.lease_owner is None for t in rows)  # nothing left held
    assert poller.run_cycle().targets == 0  # a stopped poller claims nothing
    assert env.poller.run_cycle().targets == 10 - claimed  # the rest is still due, for anyone


@pytest.mark.parametrize("shared", [False, True], ids=["own-budget", "redis"])
def test_a_replica_without_a_shared_rate_limit_warns_when_others_poll(env, sim, caplog, shared):
    import redis

    for i in range(4):
        sim.add_group(f"@TGS#w{i}", f"W{i}", "AVChatRoom")
        env.watch(f"watch @TGS#w{i} below 5")
    limits = RateLimits(200)
    if shared:
        url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        limits = RateLimits(200, redis=redis.Redis.from_url(url), key_prefix=f"t{time.time()}:")
    tencent = TencentClient(
        sdkappid=sim.scenario.sdkappid,
        secret_key=sim.scenario.secret_key,
        base_url=sim.url,
        rate_limits=limits,
    )
    other = Poller(env.sessions, env.tencent, names=env.names, clock=env.clock, owner="b:7")
    other.batch = 2
    me = Poller(env.sessions, tencent, names=env.names, clock=env.clock, owner="a:1")
    try:
        other.sync_targets()
        with caplog.at_level(logging.WARNING, logger="bot.alerts.poller"):
            for _ in range(2):  # two cycles, the other replica mid-cycle in both
                env.clock.advance(61)
                assert len(other.claim(env.clock())) == 2
                assert me.run_cycle().targets == 2
    finally:
        for poller in (other, me):
            poller.close()
        tencent.close()
    warnings = [r.getMessage() for r in caplog.records if "REDIS_URL" in r.getMessage()]
    if shared:
        assert warnings == []
    else:  # once, naming the other replica
        assert len(warnings) == 1 and "(b:7)" in warnings[0] and "60007" in warnings[0]


def test_prune_removes_old_samples(env, sim):
    env.watch(f"watch {GROUP} below 100")
    env.cycle()
    env.clock.advance(15 * 86400)
    env.poller.run_cycle()
    assert env.poller.prune(14) == 2  # the creation check and the first cycle's
