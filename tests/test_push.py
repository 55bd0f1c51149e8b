"""Push (bot/alerts/push.py, bot/webhook.py): Tencent's callbacks move an estimate, ask
for a debounced check where a watch may change state, and let polling step back; the
endpoint refuses junk. On SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from support.alerting import GROUP, posts
from support.serving import served

from bot.alerts import targets
from bot.alerts.mapping import to_ts
from bot.alerts.poller import Poller
from bot.alerts.push import DEBOUNCE, Inbox, InboxUnavailable
from bot.alerts.quiet import Quiet
from bot.alerts.targets import Checked, Moves
from bot.httpserver import MAX_BODY_BYTES, routes_app
from bot.metrics import Metrics
from bot.store.models import TargetRow, Watch
from bot.tencent.callbacks import MEMBER_STATE_CHANGE, MemberStateChange, sign, signed_query
from bot.watches import Actor
from bot.webhook import CALLBACK_PATH, callback_app

TOKEN = "push-test-token"


def offline(count: int, group: str = GROUP) -> MemberStateChange:
    return MemberStateChange(group, "Offline", "Quit", count)


def online(count: int, group: str = GROUP) -> MemberStateChange:
    return MemberStateChange(group, "Online", "Join", count)


@pytest.fixture
def inbox(env):
    box = Inbox(env.sessions, clock=env.clock)
    yield box
    box.close()


def target_row(env, group: str = GROUP, mark_key: int = -1) -> TargetRow:
    with env.sessions() as session:
        return session.scalars(
            select(TargetRow).where(TargetRow.group_id == group, TargetRow.mark_key == mark_key)
        ).one()


def count_calls(sim) -> int:
    return sim.stats().get_online_member_num.calls


# -- the estimate and the debounced check ---------------------------------------------


def test_a_fall_past_the_line_is_checked_once_after_the_debounce_and_alerted(
    env, sim, fake_slack, inbox
):
    env.watch(f"watch {GROUP} below 100")
    assert env.poller.run_cycle().targets == 1  # 500 online: OK, quiet from 105 up
    row = target_row(env)
    assert (row.last_value, row.quiet_low, row.quiet_high) == (500, 105, targets.UNBOUNDED["high"])
    calls = count_calls(sim)

    env.clock.advance(5)
    inbox.add(offline(10))  # 490: still well inside
    assert target_row(env).push_due_at is None
    assert env.poller.run_cycle().targets == 0

    sim.set_audience(GROUP, 40)
    inbox.add(offline(450))  # the estimate falls to 40, under 105: a check is asked for
    asked = target_row(env)
    assert asked.push_delta == -460
    assert to_ts(asked.push_due_at) == pytest.approx(env.clock() + DEBOUNCE)
    env.clock.advance(DEBOUNCE - 1)
    assert env.poller.run_cycle().targets == 0  # not before Tencent's count caught up
    assert count_calls(sim) == calls
    env.clock.advance(1)
    report = env.poller.run_cycle()
    assert report.targets == 1 and report.notifications == 1
    assert count_calls(sim) == calls + 1
    env.deliverer.deliver_due()
    (alert,) = posts(fake_slack)
    assert "40" in alert["text"]
    after = target_row(env)
    assert after.push_due_at is None and after.push_delta == 0 and after.last_value == 40


def test_a_storm_of_ten_thousand_offline_callbacks_costs_one_count_call(env, sim, inbox):
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()
    sim.set_audience(GROUP, 0)
    calls = count_calls(sim)
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda _: inbox.add(offline(1)), range(10_000)))
    assert inbox.stats.callbacks == 10_000
    assert inbox.stats.writes < 10_000  # written in groups
    assert target_row(env).push_delta == -10_000
    env.clock.advance(DEBOUNCE)
    assert env.poller.run_cycle().notifications == 1
    for _ in range(5):  # nothing more is asked for: the storm is over
        assert env.poller.run_cycle().targets == 0
    assert count_calls(sim) == calls + 1


def test_callbacks_during_a_check_are_not_lost_to_its_completion(env, sim):
    env.watch(f"watch {GROUP} below 100")
    now = env.clock()
    targets.sync(env.sessions, due_at=now)
    ((target_id, _),) = targets.claim(env.sessions, now=now, owner="me", lease=60, limit=10)
    with env.sessions.begin() as session:  # a callback while the check runs
        targets.record_push(session, {GROUP: Moves(-1, now + 1, now + 1)}, debounce=DEBOUNCE)
    targets.complete(
        env.sessions,
        [Checked(target_id, 500, Quiet(low=105, high=None, settled=True))],
        owner="me",
        claimed_at=now,
        interval=60,
        resync=600,
        checked_at=now + 2,
    )
    row = target_row(env)
    # no quiet range was known while the check ran: the callback's check still comes
    assert to_ts(row.next_due_at) == pytest.approx(now + 1 + DEBOUNCE)
    assert row.push_delta == -1


def test_a_callback_during_a_known_targets_check_asks_for_another(env, sim):
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()  # 500 online: quiet from 105 up
    env.clock.advance(60)
    now = env.clock()
    sim.set_audience(GROUP, 40)
    ((target_id, _),) = targets.claim(env.sessions, now=now, owner="me", lease=60, limit=10)
    with env.sessions.begin() as session:  # it rises back while the check reads the fall
        targets.record_push(session, {GROUP: Moves(+460, now + 1, now + 1)}, debounce=DEBOUNCE)
    # 500 + 460 is inside the range being replaced: it asks all the same
    assert to_ts(target_row(env).push_due_at) == pytest.approx(now + 1 + DEBOUNCE, abs=0.001)
    targets.complete(
        env.sessions,
        [Checked(target_id, 40, Quiet(low=None, high=95, settled=False))],  # firing now
        owner="me",
        claimed_at=now,
        interval=60,
        resync=600,
        checked_at=now + 2,
    )
    row = target_row(env)  # 40 + 460 is out of the new range: its check comes
    assert to_ts(row.next_due_at) == pytest.approx(now + 1 + DEBOUNCE, abs=0.001)


def test_callbacks_a_check_had_counted_already_do_not_hide_the_return(env, sim, fake_slack, inbox):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 40)  # the fall reaches Tencent's count before its callbacks
    assert env.poller.run_cycle().notifications == 1  # polled: firing at 40
    assert target_row(env).quiet_low == targets.UNBOUNDED["low"]  # firing: no floor

    inbox.add(offline(460))  # the same fall, again: 40 - 460 cannot be
    assert to_ts(target_row(env).push_due_at) == pytest.approx(env.clock() + DEBOUNCE)
    env.clock.advance(DEBOUNCE)
    assert env.poller.run_cycle().notifications == 0  # still 40: the estimate starts over
    assert target_row(env).push_delta == 0

    sim.set_audience(GROUP, 500)
    inbox.add(online(460))  # the return: 40 + 460, past the line
    env.clock.advance(DEBOUNCE)
    assert env.poller.run_cycle().notifications == 1  # resolved by push, not the next poll
    env.deliverer.deliver_due()
    assert any(m["text"].startswith("Resolved:") for m in posts(fake_slack))


def test_on_a_start_callbacks_for_targets_not_checked_yet_wait_behind_a_known_fall(env, sim):
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()  # known: 500 online, quiet from 105 up
    new = [f"@TGS#new{i:03d}" for i in range(300)]
    with env.sessions.begin() as session:  # a start: 300 more watches, none checked yet
        session.add_all(
            Watch(channel_id="C1", group_id=g, rule_kind="below", threshold=5, created_by="U1")
            for g in new
        )
    now = env.clock()
    targets.sync(env.sessions, due_at=now)
    with env.sessions.begin() as session:  # their callbacks first, then the known one's fall
        targets.record_push(session, {g: Moves(-1, now, now) for g in new}, debounce=DEBOUNCE)
        targets.record_push(session, {GROUP: Moves(-460, now + 1, now + 1)}, debounce=DEBOUNCE)
    with env.sessions() as session:
        asked = session.scalars(
            select(TargetRow.group_id).where(TargetRow.push_due_at.is_not(None))
        )
        assert list(asked) == [GROUP]  # the new ones' first check answers theirs
    ((_, first),) = targets.claim(
        env.sessions, now=now + 1 + DEBOUNCE, owner="me", lease=60, limit=1
    )
    assert first.group_id == GROUP  # the fall goes before the first pass's 300


def test_a_check_a_callback_asked_for_runs_beside_a_poll_cycle_held_mid_batch(
    env, sim, fake_slack, inbox
):
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()  # known: 500 online
    for i in range(4):  # due by interval: the cycle's
        sim.add_group(f"@TGS#p{i}", f"P{i}", "AVChatRoom")
        sim.set_audience(f"@TGS#p{i}", 50)
        env.watch(f"watch @TGS#p{i} below 5")
    env.clock.advance(5)
    sim.set_audience(GROUP, 40)
    inbox.add(offline(460))
    env.clock.advance(DEBOUNCE)
    cycle = Poller(env.sessions, env.tencent, names=env.names, clock=env.clock, batch=2)
    held, go = threading.Event(), threading.Event()
    fetch = cycle.check_targets

    def check_held(batch, now):
        held.set()
        go.wait(timeout=30)
        return fetch(batch, now)

    cycle.check_targets = check_held
    reports = []
    running = threading.Thread(target=lambda: reports.append(cycle.run_cycle(asked=False)))
    running.start()
    try:
        assert held.wait(timeout=30)  # the cycle's batches wait, fetching
        woken = []
        pushed = env.poller.run_pushed(wrote_outbox=lambda: woken.append(1))
        assert pushed.targets == 1 and pushed.notifications == 1 and woken == [1]
    finally:
        go.set()
        running.join(timeout=30)
        cycle.close()
    assert reports[0].targets == 4 and reports[0].notifications == 0  # not the asked one
    env.deliverer.deliver_due()
    (alert,) = posts(fake_slack)
    assert "40" in alert["text"]


def test_a_cycle_beside_the_push_lane_leaves_it_the_asked_checks(env, sim, inbox):
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()
    sim.set_audience(GROUP, 40)
    inbox.add(offline(460))
    env.clock.advance(DEBOUNCE)
    assert env.poller.run_cycle(asked=False).targets == 0
    assert env.poller.run_pushed().notifications == 1
    assert env.poller.run_pushed().targets == 0  # answered
    assert target_row(env).push_due_at is None


def test_a_marked_target_is_checked_on_any_callback(env, sim, inbox):
    env.watch(f"watch {GROUP} mark 1001 below 10")
    env.poller.run_cycle()
    env.clock.advance(1)
    inbox.add(online(1))  # callbacks carry no marks: the estimate says nothing
    row = target_row(env, mark_key=1001)
    assert to_ts(row.push_due_at) == pytest.approx(env.clock() + DEBOUNCE)


def test_callbacks_for_unwatched_groups_touch_nothing(env, inbox):
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()
    inbox.add(offline(5, group="@TGS#nobody"))
    assert inbox.stats.targets_touched == 0
    assert target_row(env).last_push_at is None


# -- polling steps back, and comes back ------------------------------------------------


def test_settled_push_fed_targets_are_resynced_and_silent_ones_polled_again(env, sim, inbox):
    env.poller.resync = 600
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()
    start = env.clock()
    assert to_ts(target_row(env).next_due_at) == pytest.approx(start + 60)  # no push yet

    env.clock.advance(1)
    inbox.add(online(2))  # push-fed from now on
    env.clock.advance(59)
    assert env.poller.run_cycle().targets == 1
    resync_due = to_ts(target_row(env).next_due_at)
    assert resync_due == pytest.approx(env.clock() + 600)  # polling steps back
    env.clock.advance(300)
    assert env.poller.run_cycle().targets == 0

    env.clock.advance(300)  # the last callback is now 600 s old: silent
    assert env.poller.run_cycle().targets == 1
    assert to_ts(target_row(env).next_due_at) == pytest.approx(env.clock() + 60)


def test_a_firing_watch_is_polled_at_the_interval_even_when_push_fed(env, sim, inbox):
    env.watch(f"watch {GROUP} below 100 recover 200")
    sim.set_audience(GROUP, 40)
    inbox.add(offline(1))
    env.poller.run_cycle()
    assert to_ts(target_row(env).next_due_at) == pytest.approx(env.clock() + 60)
    env.clock.advance(5)
    sim.set_audience(GROUP, 300)
    inbox.add(online(260))  # back past the recover level (minus its margin): checked soon
    assert to_ts(target_row(env).push_due_at) == pytest.approx(env.clock() + DEBOUNCE)


def test_watch_list_says_which_watches_are_push_fed(env, sim, inbox):
    sim.add_group("@TGS#other", "Other", "AVChatRoom")
    env.watch(f"watch {GROUP} below 100")
    env.watch("watch @TGS#other below 5")
    env.poller.run_cycle()
    env.clock.advance(3)
    inbox.add(online(1))
    env.clock.advance(12.5)  # (times go through the database: microseconds)
    listing = json.dumps(env.watches.list(Actor("U1", "C1")).blocks)
    assert "push-fed, last callback 12s ago" in listing, listing[:1500]
    assert listing.count("push-fed") == 1
    env.clock.advance(3600)
    listing = json.dumps(env.watches.list(Actor("U1", "C1")).blocks)
    assert "polled (no callback since 1h" in listing


# -- the inbox ----------------------------------------------------------------------------


def test_an_inbox_that_cannot_write_says_so(tmp_path):
    from sqlalchemy import create_engine

    broken = sessionmaker(create_engine(f"sqlite:///{tmp_path}/no-tables.db"))
    box = Inbox(broken)
    try:
        with pytest.raises(InboxUnavailable, match="refused"):
            box.add(offline(1))
        assert box.stats.failed_writes == 1
    finally:
        box.close()
    with pytest.raises(InboxUnavailable, match="stopping"):
        box.add(offline(1))


# -- the endpoint, over HTTP ---------------------------------------------------------------


@pytest.fixture
def endpoint(env, inbox):
    metrics = Metrics()
    app = callback_app(
        inbox, sdkappid=env.sim.scenario.sdkappid, token=TOKEN, clock=env.clock, metrics=metrics
    )
    with served(routes_app({CALLBACK_PATH: app})) as base:
        yield base + CALLBACK_PATH, Callbacks(metrics)


class Callbacks:
    """The endpoint's callbacks as its metrics count them."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def count(self, outcome: str, status: int) -> float:
        labels = {"outcome": outcome, "status": str(status)}
        return self.metrics.value("online_bot_tencent_callbacks_total", labels) or 0.0

    @property
    def accepted(self) -> float:
        return self.count("accepted", 200)

    @property
    def ignored(self) -> float:
        return self.count("ignored", 200)


def callback_body(group: str = GROUP, event: str = "Offline", members: int = 3) -> bytes:
    return json.dumps(
        {
            "CallbackCommand": MEMBER_STATE_CHANGE,
            "GroupId": group,
            "EventType": event,
            "EventCause": "Quit" if event == "Offline" else "Join",
            "MemberList": [{"Member_Account": f"user{i}"} for i in range(members)],
        }
    ).encode()


def post(url, query, body=b"", **kwargs):
    return requests.post(url, params=query, data=body, timeout=10, **kwargs)


def test_a_signed_callback_is_answered_ok_and_recorded(env, endpoint):
    url, counts = endpoint
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()
    query = signed_query(env.sim.scenario.sdkappid, TOKEN, env.clock())
    answer = post(url, query, callback_body(members=3))
    assert answer.status_code == 200
    assert answer.json() == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert target_row(env).push_delta == -3 and counts.accepted == 1


def test_junk_is_refused_and_the_token_never_logged(env, endpoint, caplog):
    url, counts = endpoint
    app_id = env.sim.scenario.sdkappid
    good = signed_query(app_id, TOKEN, env.clock())
    caplog.set_level(logging.DEBUG, logger="bot")
    cases = [
        ({**good, "Sign": sign("forged", good["RequestTime"])}, callback_body(), 401),
        ({k: v for k, v in good.items() if k != "Sign"}, callback_body(), 401),
        (signed_query(app_id, TOKEN, env.clock() - 3600), callback_body(), 401),  # replay
        (signed_query(app_id + 1, TOKEN, env.clock()), callback_body(), 403),
        (good, b"{not json", 400),
        (good, json.dumps({"GroupId": GROUP, "EventType": "Up"}).encode(), 400),
    ]
    for query, body, status in cases:
        assert post(url, query, body).status_code == status, (query, body)
    assert [counts.count("refused", status) for status in (401, 403, 400)] == [3, 1, 2]
    assert counts.accepted == 0
    assert TOKEN not in caplog.text
    assert good["Sign"] not in caplog.text


def test_a_body_over_a_megabyte_gets_413(env, endpoint):
    url, _ = endpoint
    query = signed_query(env.sim.scenario.sdkappid, TOKEN, env.clock())
    assert post(url, query, b"x" * (MAX_BODY_BYTES + 1)).status_code == 413


def test_other_commands_are_answered_ok_and_ignored(env, endpoint):
    url, counts = endpoint
    query = {
        **signed_query(env.sim.scenario.sdkappid, TOKEN, env.clock()),
        "CallbackCommand": "Group.CallbackAfterSendMsg",
    }
    answer = post(url, query, b'{"whatever": 1}')
    assert answer.status_code == 200 and answer.json()["ActionStatus"] == "OK"
    assert counts.ignored == 1 and counts.accepted == 0


def test_only_post_is_taken(endpoint):
    url, _ = endpoint
    assert requests.get(url, timeout=10).status_code == 405


def test_a_new_watch_on_a_resynced_target_is_judged_at_once_with_the_others(env, sim, inbox):
    env.poller.resync = 600
    env.watch(f"watch {GROUP} below 100")
    env.poller.run_cycle()
    inbox.add(online(1))
    env.clock.advance(60)
    env.poller.run_cycle()
    assert to_ts(target_row(env).next_due_at) == pytest.approx(env.clock() + 600)
    env.clock.advance(5)
    env.watch(f"watch {GROUP} below 1000", channel="C2")  # 500 online: this one fires
    row = target_row(env)
    assert to_ts(row.next_due_at) == pytest.approx(env.clock())
    assert row.quiet_low is None and row.quiet_high is None
    report = env.poller.run_cycle()
    assert report.targets == 1 and report.notifications == 1
    assert to_ts(target_row(env).next_due_at) == pytest.approx(env.clock() + 60)  # firing
