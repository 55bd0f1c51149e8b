"""Targets (bot/alerts/targets.py): one per watched (group, mark), in step with the
watches, claimed by one replica at a time and due again one interval on."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from support.alerting import GROUP

from bot.alerts.poller import Poller
from bot.store import Outbox, Watch
from bot.store.models import NO_MARK, TargetRow


def test_targets_follow_the_watches(env, sim):
    sim.add_group("@TGS#other", "Other", "AVChatRoom")
    env.watch(f"watch {GROUP} below 100", channel="C1")
    env.watch(f"watch {GROUP} below 50", channel="C2")  # the same target
    env.watch(f"watch {GROUP} below 100 mark 1000", channel="C1")  # its own
    env.watch("watch @TGS#other below 5", channel="C1")

    def targets():
        with env.sessions() as session:
            return {(t.group_id, t.mark_key): t.id for t in session.scalars(select(TargetRow))}

    env.poller.sync_targets()
    first = targets()
    assert set(first) == {(GROUP, NO_MARK), (GROUP, 1000), ("@TGS#other", NO_MARK)}
    with env.sessions.begin() as session:
        session.get(Watch, 1).deleted_at = session.get(Watch, 1).created_at  # C2 still watches
        session.get(Watch, 3).deleted_at = session.get(Watch, 3).created_at
        session.get(Watch, 4).paused_reason = "channel_not_found"
    env.poller.sync_targets()
    assert targets() == {(GROUP, NO_MARK): first[(GROUP, NO_MARK)]}  # kept, not re-created


def test_replicas_adding_the_same_targets_at_once_agree(env):
    with env.sessions.begin() as session:
        session.add_all(
            Watch(
                channel_id="C1",
                group_id=f"@TGS#s{i:04d}",
                rule_kind="below",
                threshold=5,
                created_by="U1",
            )
            for i in range(3000)
        )
    pollers = [
        Poller(env.sessions, env.tencent, names=env.names, clock=env.clock, owner=f"r{i}")
        for i in range(3)
    ]
    barrier = threading.Barrier(3)
    failures = []

    def sync(poller):
        barrier.wait()
        try:
            poller.sync_targets()
        except Exception as error:  # pragma: no cover - the assertion below shows it
            failures.append(error)

    threads = [threading.Thread(target=sync, args=(p,)) for p in pollers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for poller in pollers:
        poller.close()
    assert failures == []
    with env.sessions() as session:
        assert session.scalar(select(func.count(TargetRow.id))) == 3000


def test_two_replicas_share_the_targets_and_check_each_once(migrated_database_url, env, sim):
    groups = [f"@TGS#g{i:02d}" for i in range(40)]
    for group in groups:
        sim.add_group(group, group, "AVChatRoom")
        sim.set_audience(group, 10)
        env.watch(f"watch {group} below 100")
    replicas = [
        Poller(env.sessions, env.tencent, names=env.names, clock=env.clock, owner=owner, batch=4)
        for owner in ("replica-a", "replica-b")
    ]
    env.clock.advance(60)
    before = sim.stats().get_online_member_num.calls
    barrier = threading.Barrier(2)
    reports = {}

    def run(poller):
        barrier.wait()
        reports[poller.owner] = poller.run_cycle()

    threads = [threading.Thread(target=run, args=(p,)) for p in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for poller in replicas:
        poller.close()
    assert sim.stats().get_online_member_num.calls - before == 40  # each target once
    assert sum(r.targets for r in reports.values()) == 40
    assert sum(r.notifications for r in reports.values()) == 40  # one alert per watch
    if migrated_database_url.startswith("postgresql"):
        assert all(r.targets > 0 for r in reports.values())  # shared, not only failed over
    with env.sessions() as session:
        assert session.scalar(select(func.count(Outbox.id)).where(Outbox.kind != "chart")) == 40
    # Nothing is due again until the interval has passed.
    assert replicas[0].run_cycle().targets == 0


def test_a_new_watch_is_checked_in_the_first_cycle_on_a_real_clock(env, sim):
    env.watch(f"watch {GROUP} below 100")
    poller = Poller(env.sessions, env.tencent, names=env.names, clock=time.time)
    try:
        assert poller.run_cycle().targets == 1  # time moves on while the cycle starts
    finally:
        poller.close()
