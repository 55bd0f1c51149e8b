"""Judging (bot/alerts/judging.py): observations -> rules -> transitions -> outbox rows,
each alert enqueued exactly once, whoever calls and however many call at once."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select, update
from support.alerting import GROUP, posts

from bot.alerts.judging import Judge, Observation
from bot.alerts.names import GroupNames
from bot.alerts.poller import Poller
from bot.store import Outbox
from bot.store.models import AlertStateRow, SampleRow
from bot.watches import Actor


def test_error_state_after_three_failed_checks_then_recovery(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.remove_group(GROUP)
    for _ in range(4):
        env.cycle()
    (alert,) = posts(fake_slack)
    assert "10010" in alert["text"] or "does not exist" in json.dumps(alert["blocks"])
    sim.add_group(GROUP, "Evening Stream", "AVChatRoom")
    sim.set_audience(GROUP, 300)
    env.cycle()
    ts = fake_slack.messages("C1")[0]["ts"]
    assert len(posts(fake_slack, thread_ts=ts)) == 1


def test_mute_silences_and_one_reminder_after(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    env.watches.mute(1, 600, "maintenance", Actor("U1", "C1"))
    sim.set_audience(GROUP, 10)
    for _ in range(3):
        env.cycle()
    assert posts(fake_slack) == []
    env.clock.advance(600)
    env.cycle()
    env.cycle()
    (reminder,) = posts(fake_slack)
    assert "Mute over" in json.dumps(reminder) or "mute" in reminder["text"].lower()


def test_a_fresh_process_asks_the_group_name_before_alerting(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    restarted = Poller(
        env.sessions,
        env.tencent,
        names=GroupNames(env.tencent, clock=env.clock),
        clock=env.clock,
    )
    try:
        sim.set_audience(GROUP, 10)
        env.clock.advance(60)
        info_before = sim.stats().get_group_info.calls
        report = restarted.run_cycle()
        assert report.notifications == 1 and report.conflicts == 0
        assert sim.stats().get_group_info.calls == info_before + 1
    finally:
        restarted.close()
    env.deliverer.deliver_due()
    (alert,) = posts(fake_slack)
    assert "Evening &lt;Stream&gt;" in json.dumps(alert["blocks"])


class RacedJudge(Judge):
    """A judge that another writer beats to watch #1: that writer commits a change to the
    watch's state after the judge loaded it and before the judge writes."""

    def _decide(self, session, watch, sample, now):
        if watch.id == 1:
            with self.sessions.begin() as other:
                other.execute(
                    update(AlertStateRow)
                    .where(AlertStateRow.watch_id == 1)
                    .values(version=AlertStateRow.version + 1, last_value=7)
                )
        return super()._decide(session, watch, sample, now)


@pytest.mark.parametrize("audience", [500, 10], ids=["nothing-to-send", "alerting"])
def test_a_state_changed_by_another_writer_meanwhile_is_not_overwritten(env, sim, audience):
    env.watch(f"watch {GROUP} below 100", channel="C1")
    env.watch(f"watch {GROUP} below 100", channel="C2")
    raced = Poller(
        env.sessions,
        env.tencent,
        names=env.names,
        clock=env.clock,
        judge=RacedJudge(env.sessions, env.names),
    )
    try:
        sim.set_audience(GROUP, audience)
        env.clock.advance(60)
        report = raced.run_cycle()
    finally:
        raced.close()
    assert report.conflicts == 1 and report.evaluated == 1
    with env.sessions() as session:
        first, second = session.get(AlertStateRow, 1), session.get(AlertStateRow, 2)
        assert first.last_value == 7  # the other writer's, kept
        assert second.last_value == audience
        assert second.version > 0
        written = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        assert [(o.watch_id, o.kind) for o in written] == (
            [(2, "firing"), (2, "chart")] if audience < 100 else []
        )  # the alert with its chart, pointing at it
        if written:
            assert written[1].parent_id == written[0].id


class ReadsThenWaits(Judge):
    """A judge that, once it has read its watches' states, waits until the other judge
    has read them too: both then decide on the same state before either writes."""

    def __init__(self, sessions, names, both_read):
        super().__init__(sessions, names)
        self.both_read = both_read
        self.waited = False

    def _decide(self, session, watch, sample, now):
        if not self.waited:
            self.waited = True
            self.both_read.wait()
        return super()._decide(session, watch, sample, now)


@pytest.mark.parametrize("audience", [10, 500], ids=["alerting", "nothing-to-send"])
def test_the_same_observation_judged_twice_at_once_alerts_once(env, sim, audience):
    """What a poll and Tencent's push callback (or two replicas) would do: both judge the
    same new value for the same (group, mark) through ``Judge.judge`` (no poller), each
    having read the watches' states before either writes."""
    env.watch(f"watch {GROUP} below 100", channel="C1")
    env.watch(f"watch {GROUP} below 100", channel="C2")
    env.names.remember(GROUP, "Evening <Stream>")  # no Tencent call inside the race
    env.clock.advance(60)
    observation = Observation(GROUP, None, audience, None, env.clock())
    both_read = threading.Barrier(2, timeout=30)
    judges = [ReadsThenWaits(env.sessions, env.names, both_read) for _ in range(2)]
    reports = {}

    def run(judge):
        reports[id(judge)] = judge.judge([observation], env.clock())

    threads = [threading.Thread(target=run, args=(judge,)) for judge in judges]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(reports) == 2
    with env.sessions() as session:
        everything = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        rows = [r for r in everything if r.kind != "chart"]
        charts = [r for r in everything if r.kind == "chart"]
        states = [session.get(AlertStateRow, 1), session.get(AlertStateRow, 2)]
        samples = session.scalar(select(func.count(SampleRow.id)))
    if audience < 100:
        assert sorted(r.watch_id for r in rows) == [1, 2]  # one alert per watch, not two
        assert all(r.kind == "firing" for r in rows)
        assert sorted(c.parent_id for c in charts) == [r.id for r in rows]  # one chart each
        assert all(s.status == "firing" and s.last_value == audience for s in states)
    else:
        assert everything == []
    # The second writer's batch was stale: each watch judged again on its new state.
    assert sum(r.notifications for r in reports.values()) == len(rows)
    assert sum(r.evaluated for r in reports.values()) == 4
    assert samples == 2 + 2  # the creation checks, and the observation stored by each call
