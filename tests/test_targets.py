"""Targets (bot/alerts/targets.py): one per watched (group, mark), in step with the
watches, claimed by one replica at a time and due again one interval on."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from sqlalchemy import func, select, update
from support.alerting import GROUP

from bot.alerts import targets
from bot.alerts.mapping import to_ts
from bot.alerts.poller import Poller
from bot.alerts.quiet import Quiet
from bot.alerts.targets import Checked
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


def _push_fed(env, group_ids, at):
    """Callbacks for these groups at ``at``: push-fed from then on."""
    with env.sessions.begin() as session:
        targets.record_push(session, {g: targets.Moves(1, at, at) for g in group_ids}, debounce=10)


def _add_watches(env, group_ids):
    with env.sessions.begin() as session:
        session.add_all(
            Watch(channel_id="C1", group_id=g, rule_kind="below", threshold=5, created_by="U1")
            for g in group_ids
        )


def test_polled_targets_are_claimed_before_resyncs_that_fell_due_earlier(env):
    _add_watches(env, ["@TGS#polled", "@TGS#resync1", "@TGS#resync2"])
    t0 = env.clock()
    targets.sync(env.sessions, due_at=t0)
    _push_fed(env, ["@TGS#resync1", "@TGS#resync2"], t0)  # (not checked yet: asks nothing)
    claimed = dict(
        (target.group_id, target_id)
        for target_id, target in targets.claim(env.sessions, now=t0, owner="me", lease=60, limit=10)
    )
    settled = Quiet(low=6, high=None, settled=True)
    rules = {"owner": "me", "interval": 60, "resync": 120}
    targets.complete(
        env.sessions,
        [
            Checked(claimed["@TGS#resync1"], 50, settled),
            Checked(claimed["@TGS#resync2"], 50, settled),
        ],
        claimed_at=t0,
        checked_at=t0,
        **rules,
    )
    # the polled one's check ran late: it falls due after both resyncs (at most 120 s on)
    targets.complete(
        env.sessions,
        [Checked(claimed["@TGS#polled"], 50, settled)],
        claimed_at=t0 + 65,
        checked_at=t0 + 65,
        **rules,
    )
    rows = _rows(env)
    assert rows["@TGS#resync1"].resync_due and rows["@TGS#resync2"].resync_due
    assert not rows["@TGS#polled"].resync_due
    assert max(to_ts(rows[g].next_due_at) for g in ("@TGS#resync1", "@TGS#resync2")) < to_ts(
        rows["@TGS#polled"].next_due_at
    )
    now = t0 + 125  # all three due
    for due in ("any", "scheduled"):
        ((_, first),) = targets.claim(
            env.sessions, now=now, owner=f"first-{due}", lease=60, limit=1, due=due
        )
        assert first.group_id == "@TGS#polled"
        with env.sessions.begin() as session:  # give it back
            session.execute(update(TargetRow).values(lease_owner=None, lease_until=None))
    assert {
        t.group_id for _, t in targets.claim(env.sessions, now=now, owner="me", lease=60, limit=3)
    } == {"@TGS#polled", "@TGS#resync1", "@TGS#resync2"}  # the resyncs come too


def test_resyncs_of_targets_checked_together_are_spread_over_a_share_of_the_interval(env):
    groups = [f"@TGS#r{i:02d}" for i in range(40)]
    _add_watches(env, groups)
    t0 = env.clock()
    targets.sync(env.sessions, due_at=t0)
    _push_fed(env, groups, t0)
    claimed = targets.claim(env.sessions, now=t0, owner="me", lease=60, limit=100)
    resync = 600
    targets.complete(
        env.sessions,
        [Checked(target_id, 50, Quiet(low=6, high=None, settled=True)) for target_id, _ in claimed],
        owner="me",
        claimed_at=t0,
        interval=60,
        resync=resync,
        checked_at=t0,
    )
    due = sorted(to_ts(row.next_due_at) - t0 for row in _rows(env).values())
    assert all(row.resync_due for row in _rows(env).values())
    earliest = resync * (1 - targets.RESYNC_SPREAD)
    assert earliest - 0.001 <= due[0] and due[-1] <= resync + 0.001  # never later than resync
    assert due[-1] - due[0] > 0.9 * (resync - earliest)  # spread over nearly all the share
    gaps = [b - a for a, b in itertools.pairwise(due)]
    assert max(gaps) < 3 * (resync - earliest) / len(due)  # evenly: no bunch, no hole
    # and each target keeps its own: checked together again, they come due as before
    _push_fed(env, groups, t0 + resync - 1)  # inside every quiet range: asks nothing
    claimed = targets.claim(env.sessions, now=t0 + resync, owner="me", lease=60, limit=100)
    assert len(claimed) == 40
    targets.complete(
        env.sessions,
        [Checked(target_id, 50, Quiet(low=6, high=None, settled=True)) for target_id, _ in claimed],
        owner="me",
        claimed_at=t0 + resync,
        interval=60,
        resync=resync,
        checked_at=t0 + resync,
    )
    again = sorted(to_ts(row.next_due_at) - t0 - resync for row in _rows(env).values())
    assert again == pytest.approx(due, abs=0.001)


def _rows(env):
    with env.sessions() as session:
        return {t.group_id: t for t in session.scalars(select(TargetRow))}


def test_a_resync_never_comes_sooner_than_the_poll_interval(env):
    groups = [f"@TGS#q{i:02d}" for i in range(10)]
    _add_watches(env, groups)
    t0 = env.clock()
    targets.sync(env.sessions, due_at=t0)
    _push_fed(env, groups, t0)
    claimed = targets.claim(env.sessions, now=t0, owner="me", lease=60, limit=100)
    targets.complete(
        env.sessions,
        [Checked(target_id, 50, Quiet(low=6, high=None, settled=True)) for target_id, _ in claimed],
        owner="me",
        claimed_at=t0,
        interval=60,
        resync=70,  # a resync interval hardly longer than polling's: no earlier than polling
        checked_at=t0,
    )
    due = [to_ts(row.next_due_at) - t0 for row in _rows(env).values()]
    assert len(due) == 10 and all(60 - 0.001 <= d <= 70 + 0.001 for d in due)
    assert min(due) == pytest.approx(60, abs=0.001)  # some would have come sooner
