"""Watches and alerts end to end: the simulator's scripted audiences, the real store
(SQLite and PostgreSQL), the outbox delivered to the fake Slack Web API."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
from slackapp import start_app
from sqlalchemy import func, select, update

from bot.alerts.delivery import Deliverer
from bot.alerts.names import GroupNames
from bot.alerts.poller import BATCHES_AHEAD, Poller
from bot.commands.grammar import parse
from bot.simulator import Faults, Scenario, Simulator
from bot.slack.poster import SlackPoster, poster_client
from bot.store import Outbox, Watch, WatchChange, make_engine, session_factory, upgrade
from bot.store.models import AlertState
from bot.tencent.client import RetryPolicy, TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Actor, WatchError, Watches

GROUP = "@TGS#live"


class Clock:
    """The bot's clock, set an hour back so Slack's real-time ts are "after" its events."""

    def __init__(self) -> None:
        self.now = time.time() - 3600

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Env:
    """The alerting services over one database, the simulator and the fake Slack."""

    def __init__(self, database_url, sim, fake, clock, admins=frozenset()):
        upgrade(database_url)
        self.engine = make_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.sim, self.fake, self.clock = sim, fake, clock
        self.tencent = TencentClient(
            sdkappid=sim.scenario.sdkappid,
            secret_key=sim.scenario.secret_key,
            base_url=sim.url,
            rate_limits=RateLimits(200),
            retry=RetryPolicy(attempts=2, deadline=5, initial_wait=0.01, max_wait=0.01),
        )
        self.names = GroupNames(self.tencent, clock=clock)
        self.watches = Watches(
            self.sessions,
            self.tencent,
            self.names,
            admins=admins,
            clock=clock,
            usergroup_members=lambda g: frozenset(fake.usergroups.get(g, [])),
        )
        self.poller = Poller(self.sessions, self.tencent, names=self.names, clock=clock)
        self.poster = SlackPoster(poster_client("xoxb-test", fake.api_url))
        self.deliverer = self.new_deliverer("replica-1")

    def new_deliverer(self, owner):
        return Deliverer(self.sessions, self.poster, owner=owner, clock=self.clock)

    def watch(self, text, channel="C1", user="U1"):
        return self.watches.create(parse(text), Actor(user, channel))

    def cycle(self):
        report = self.poller.run_cycle()
        delivered = self.deliverer.deliver_due()
        self.clock.advance(60)
        return report, delivered

    def outbox(self):
        with self.sessions() as session:
            return session.scalars(select(Outbox).order_by(Outbox.id)).all()

    def close(self):
        self.poller.close()
        self.tencent.close()
        self.engine.dispose()


@pytest.fixture
def sim():
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group(GROUP, "Evening <Stream>", "AVChatRoom")
        running.set_audience(GROUP, 500)
        yield running


@pytest.fixture
def env(database_url, sim, fake_slack):
    environment = Env(database_url, sim, fake_slack, Clock())
    yield environment
    environment.close()


def posts(fake, **match):
    return [
        c.params
        for c in fake.calls("chat.postMessage")
        if all(c.params.get(k) == v for k, v in match.items())
    ]


def test_create_replies_with_id_rule_and_current_count(env):
    message = env.watch(f"watch {GROUP} below 100 for 2m recover 120")
    text = json.dumps(message.blocks)
    assert "#1" in message.text or "#1" in text
    assert "fewer than 100 online for 2m" in text
    assert "500" in text
    with env.sessions() as session:
        (change,) = session.scalars(select(WatchChange)).all()
        assert (change.actor, change.action) == ("U1", "created")


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


def test_three_channels_one_group_one_call_per_cycle(env, sim, fake_slack):
    for channel in ("C1", "C2", "C3"):
        env.watch(f"watch {GROUP} below 100", channel=channel)
    before = sim.stats().get_online_member_num.calls
    sim.set_audience(GROUP, 10)
    report, _ = env.cycle()
    assert report.targets == 1 and report.watches == 3
    assert sim.stats().get_online_member_num.calls - before == 1
    assert sorted(p["channel"] for p in posts(fake_slack)) == ["C1", "C2", "C3"]


def test_marked_rule_counts_the_marked_list(env, sim, fake_slack):
    sim.set_audience(GROUP, 20)
    env.watch(f"watch {GROUP} above 5 mark 1000")
    members_before = sim.stats().get_members.calls
    env.cycle()
    assert sim.stats().get_members.calls > members_before
    assert posts(fake_slack) == []  # no member carries mark 1000 yet: 0 is not above 5


def test_ratelimited_then_delivered_once(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    fake_slack.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    env.poller.run_cycle()
    report = env.deliverer.deliver_due()
    assert report.retried == 1 and report.delivered == 0
    (row,) = env.outbox()
    assert row.status == "pending" and row.last_error == "ratelimited"
    assert row.next_attempt_at.timestamp() >= env.clock.now + 29.999  # (microseconds)
    env.clock.advance(10)
    assert env.deliverer.deliver_due().delivered == 0  # Retry-After is honoured
    env.clock.advance(25)
    assert env.deliverer.deliver_due().delivered == 1
    assert len(posts(fake_slack)) == 2  # the refused one, then the one that went through
    assert len(fake_slack.messages("C1")) == 1


def test_channel_not_found_pauses_the_watch(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100", channel="CGONE")
    sim.set_audience(GROUP, 10)
    fake_slack.fail_next("chat.postMessage", "channel_not_found")
    env.poller.run_cycle()
    assert env.deliverer.deliver_due().failed == 1
    with env.sessions() as session:
        watch = session.scalars(select(Watch)).one()
        assert "channel_not_found" in watch.paused_reason
    listing = json.dumps(env.watches.list(Actor("U1", "CGONE")).blocks)
    assert "channel_not_found" in listing
    report, _ = env.cycle()
    assert report.watches == 0  # a paused watch is not checked
    env.watches.unmute(1, Actor("U1", "CGONE"))  # resumes it
    assert env.poller.run_cycle().watches == 1


@pytest.mark.parametrize(
    "answer",
    ["{not json", {"ok": True, "channel": "C1"}, "[1]"],
    ids=["malformed-json", "ok-without-ts", "not-an-object"],
)
def test_one_unreadable_answer_holds_up_no_other_channel(env, sim, fake_slack, answer):
    for channel in ("C1", "C2", "C3"):
        env.watch(f"watch {GROUP} below 100", channel=channel)
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    fake_slack.reply_next("chat.postMessage", answer)
    report = env.deliverer.deliver_due()
    assert (report.delivered, report.retried, report.failed) == (2, 1, 0)
    odd = fake_slack.calls("chat.postMessage")[0].params["channel"]
    rows = {row.channel_id: row for row in env.outbox()}
    assert all(rows[c].status == "delivered" for c in rows if c != odd)
    assert all(len(fake_slack.messages(c)) == 1 for c in rows if c != odd)
    row = rows[odd]
    assert row.status == "pending" and row.attempts == 1 and row.claimed_by is None
    assert row.last_error and row.next_attempt_at.timestamp() > env.clock.now
    env.clock.advance(5)  # its backoff
    assert env.deliverer.deliver_due().delivered == 1
    assert len(fake_slack.messages(odd)) == 1  # looked for first, then posted once
    with env.sessions() as session:
        assert all(w.paused_reason is None for w in session.scalars(select(Watch)))


def test_unexpected_answers_count_against_max_attempts_and_never_pause(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    deliverer = Deliverer(env.sessions, env.poster, owner="r", clock=env.clock, max_attempts=2)
    fake_slack.reply_next("chat.postMessage", "[1]", times=2)
    assert deliverer.deliver_due().retried == 1
    env.clock.advance(5)
    assert deliverer.deliver_due().failed == 1
    (row,) = env.outbox()
    assert row.status == "failed" and row.attempts == 2
    assert row.last_error.startswith("unexpected AttributeError (ref ")
    with env.sessions() as session:
        assert session.scalars(select(Watch)).one().paused_reason is None


@pytest.mark.parametrize("error", ["missing_scope", "channel_not_found", "ratelimited"])
@pytest.mark.parametrize("channel", ["D0DM", "G0GROUPDM"])
def test_a_failed_lookup_after_a_failed_post_never_pauses_the_watch(
    env, sim, fake_slack, channel, error
):
    env.watch(f"watch {GROUP} below 100", channel=channel)
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    fake_slack.fail_next("chat.postMessage", status=500)
    assert env.deliverer.deliver_due().retried == 1
    env.clock.advance(5)
    fake_slack.fail_next("conversations.history", error)  # was it posted? unknown
    report = env.deliverer.deliver_due()
    assert (report.retried, report.failed, report.delivered) == (1, 0, 0)
    (row,) = env.outbox()
    assert row.status == "pending" and error in row.last_error
    with env.sessions() as session:
        assert session.scalars(select(Watch)).one().paused_reason is None
    assert len(fake_slack.calls("chat.postMessage")) == 1  # not posted blindly
    env.clock.advance(60)
    assert env.deliverer.deliver_due().delivered == 1
    assert len(fake_slack.messages(channel)) == 1


def test_a_resumed_watch_posts_its_alert_again_while_it_fires(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    fake_slack.fail_next("chat.postMessage", "not_in_channel")
    env.cycle()  # fires; Slack refuses; the watch is paused
    with env.sessions() as session:
        assert "not_in_channel" in session.scalars(select(Watch)).one().paused_reason
    assert fake_slack.messages("C1") == []
    env.watches.unmute(1, Actor("U1", "C1"))  # the bot was invited: resume
    env.cycle()
    (alert,) = fake_slack.messages("C1")
    assert "Alerts back on; still firing" in json.dumps(alert["blocks"])
    assert "10" in alert["text"] and "alert_ack" in json.dumps(alert["blocks"])
    env.cycle()  # still firing: said once
    sim.set_audience(GROUP, 150)
    env.cycle()
    alert_then_resolve = fake_slack.messages("C1")
    assert [m.get("thread_ts") for m in alert_then_resolve] == [alert["ts"], alert["ts"]]
    assert "Resolved" in alert_then_resolve[1]["text"]
    assert "alert_ack" not in json.dumps(alert_then_resolve[0]["blocks"])  # updated: over


def test_restart_between_commit_and_delivery_delivers_once(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()  # committed, then the process "dies" before delivering
    restarted = env.new_deliverer("replica-after-restart")
    assert restarted.deliver_due().delivered == 1
    assert restarted.deliver_due().delivered == 0
    assert len(posts(fake_slack)) == 1


def test_crash_between_post_and_record_is_not_posted_twice(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    # Replica 1 claims the row and posts it, then dies before recording the delivery.
    (row_id,) = env.deliverer._claim(10)
    with env.sessions() as session:
        row = session.get(Outbox, row_id)
        env.poster.post(
            row.channel_id,
            {k: row.payload[k] for k in ("text", "blocks", "metadata")},
            thread_ts=None,
            broadcast=False,
        )
    assert len(posts(fake_slack)) == 1
    env.clock.advance(200)  # its lease runs out
    report = env.new_deliverer("replica-2").deliver_due()
    assert report.delivered == 1 and report.found_already_posted == 1
    assert len(posts(fake_slack)) == 1
    assert fake_slack.calls("conversations.history")
    (row,) = env.outbox()
    assert row.status == "delivered" and row.message_ts


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


def alert_state(env, watch_id=1):
    with env.sessions() as session:
        return session.get(AlertState, watch_id)


def test_a_count_answer_without_its_count_is_an_error_not_zero(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_faults(Faults(missing_fields_rate=1.0))
    for _ in range(2):
        report, _ = env.cycle()
        assert report.failed_checks == 1
    assert posts(fake_slack) == []  # never "0 online, below 100"
    state = alert_state(env)
    assert (state.status, state.errors_in_row) == ("ok", 2)
    assert "OnlineMemberNum" in state.last_error
    env.cycle()
    (alert,) = posts(fake_slack)
    assert "OnlineMemberNum" in json.dumps(alert["blocks"])
    assert alert_state(env).status == "error"
    sim.set_faults(Faults())
    env.cycle()
    ts = fake_slack.messages("C1")[0]["ts"]
    assert len(posts(fake_slack, thread_ts=ts)) == 1  # the recovery notice
    assert (alert_state(env).status, alert_state(env).last_value) == ("ok", 500)


def test_a_marked_list_cut_short_is_a_failed_check_not_a_count(env, sim, fake_slack):
    sim.set_audience(GROUP, 20)
    env.watch(f"watch {GROUP} below 10 mark 1000")
    sim.inject_cursor_loop(GROUP)
    report, _ = env.cycle()
    assert report.failed_checks == 1
    state = alert_state(env)
    assert state.errors_in_row == 1 and "incomplete" in state.last_error
    assert posts(fake_slack) == []


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


def test_watch_admins_refuse_with_reason(database_url, sim, fake_slack):
    fake_slack.usergroups = {"S1": ["U5"]}
    environment = Env(database_url, sim, fake_slack, Clock(), admins=frozenset({"U9", "S1"}))
    try:
        with pytest.raises(WatchError, match="Only the watch admins"):
            environment.watch(f"watch {GROUP} below 100", user="U1")
        environment.watch(f"watch {GROUP} below 100", user="U5")  # via the user group
        environment.watch(f"watch {GROUP} above 900", user="U9")
        with pytest.raises(WatchError, match="Only the watch admins"):
            environment.watches.unwatch(1, Actor("U1", "C1"))
    finally:
        environment.close()


def test_changes_only_from_the_watchs_channel(env):
    env.watch(f"watch {GROUP} below 100", channel="C1")
    for change in (
        lambda actor: env.watches.mute(1, 600, None, actor),
        lambda actor: env.watches.unmute(1, actor),
        lambda actor: env.watches.unwatch(1, actor),
        lambda actor: env.watches.acknowledge(1, "any", actor),
    ):
        with pytest.raises(WatchError) as refused:
            change(Actor("U1", "C2"))
        assert str(refused.value).startswith("There is no watch #1 in this channel;")
        assert "C1" not in str(refused.value)  # the owner's channel is not named
    with pytest.raises(WatchError, match="no watch #7 in this channel"):
        env.watches.unwatch(7, Actor("U1", "C1"))


def test_duplicate_and_unsupported_group_refused(env):
    env.watch(f"watch {GROUP} below 100")
    with pytest.raises(WatchError, match="already watches"):
        env.watch(f"watch {GROUP} below 100")
    with pytest.raises(WatchError, match="does not exist"):
        env.watch("watch @TGS#nope below 100")


def test_acknowledge_records_who(env, sim):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.cycle()
    with env.sessions() as session:
        incident = session.get(AlertState, 1).incident_id
    message = env.watches.acknowledge(1, incident, Actor("U0ACK3", "C1"))
    assert "<@U0ACK3>" in json.dumps(message.blocks)
    assert env.watches.acknowledge(1, "old-incident", Actor("U0ACK3", "C1")) is None
    with env.sessions() as session:
        state = session.get(AlertState, 1)
        assert state.acknowledged_by == "U0ACK3"
        actions = [c.action for c in session.scalars(select(WatchChange)).all()]
        assert "acknowledged" in actions


def test_prune_removes_old_samples(env, sim):
    env.watch(f"watch {GROUP} below 100")
    env.cycle()
    env.clock.advance(15 * 86400)
    env.poller.run_cycle()
    assert env.poller.prune(14) == 2  # the creation check and the first cycle's


def test_two_replicas_share_the_targets_and_check_each_once(database_url, env, sim):
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
    if database_url.startswith("postgresql"):
        assert all(r.targets > 0 for r in reports.values())  # shared, not only failed over
    with env.sessions() as session:
        assert session.scalar(select(func.count(Outbox.id))) == 40
    # Nothing is due again until the interval has passed.
    assert replicas[0].run_cycle().targets == 0


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


@pytest.fixture
def firing(env, sim, fake_slack):
    """A watch whose alert fired and was posted; yields (running app, the alert's buttons)."""
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.cycle()
    (alert,) = posts(fake_slack)
    buttons = {
        element["action_id"]: element["value"]
        for block in alert["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
    running, stop = start_app(sim, fake_slack.api_url, env.watches)
    yield running, buttons
    stop()


def test_acknowledge_button_over_signed_request(env, firing, fake_slack):
    running, buttons = firing
    url = fake_slack.response_url("ack")
    assert running.press("alert_ack", buttons["alert_ack"], url, user="U0ACK7").status_code == 200
    (reply,) = [c.params for c in fake_slack.wait_for("response_url:ack")]
    assert reply["replace_original"] is True
    assert "<@U0ACK7>" in json.dumps(reply["blocks"])
    assert "alert_ack" not in json.dumps(reply["blocks"])  # no second Acknowledge
    with env.sessions() as session:
        assert session.get(AlertState, 1).acknowledged_by == "U0ACK7"


def test_mute_button_mutes_for_an_hour(env, firing, fake_slack):
    running, buttons = firing
    running.press("alert_mute", buttons["alert_mute"], fake_slack.response_url("mute"))
    (reply,) = [c.params for c in fake_slack.wait_for("response_url:mute")]
    assert reply["response_type"] == "in_channel" and "muted" in reply["text"]
    with env.sessions() as session:
        watch = session.get(Watch, 1)
        assert watch.muted_until.timestamp() == pytest.approx(env.clock.now + 3600, abs=1)


def test_unwatch_button_honours_watch_admins(env, firing, fake_slack):
    running, buttons = firing
    env.watches.admins = frozenset({"U0ADMIN"})
    running.press(
        "alert_unwatch", buttons["alert_unwatch"], fake_slack.response_url("no"), user="U0OTHER"
    )
    (refused,) = [c.params for c in fake_slack.wait_for("response_url:no")]
    assert "Only the watch admins" in refused["text"]
    assert refused["response_type"] == "ephemeral"
    running.press(
        "alert_unwatch", buttons["alert_unwatch"], fake_slack.response_url("yes"), user="U0ADMIN"
    )
    (done,) = [c.params for c in fake_slack.wait_for("response_url:yes")]
    assert "stopped watching" in done["text"]
    with env.sessions() as session:
        assert session.get(Watch, 1).deleted_at is not None


@pytest.mark.parametrize("action", ["alert_ack", "alert_mute", "alert_unwatch"])
def test_buttons_copied_into_another_channel_do_nothing_and_show_nothing(
    env, firing, fake_slack, action
):
    running, buttons = firing
    url = fake_slack.response_url("elsewhere")
    running.press(action, buttons[action], url, user="U0OTHER", channel="C2")
    (reply,) = [c.params for c in fake_slack.wait_for("response_url:elsewhere")]
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "There is no watch #1 in this channel" in reply["text"]
    assert "C1" not in json.dumps(reply) and "Evening" not in json.dumps(reply)
    with env.sessions() as session:
        watch, state = session.get(Watch, 1), session.get(AlertState, 1)
        assert state.acknowledged_by is None
        assert watch.muted_until is None and watch.deleted_at is None


@pytest.mark.parametrize("watch_id", [2**31, 99999999999999999999999, 0, -1])
def test_a_button_with_a_watch_id_out_of_range_is_out_of_date(
    env, firing, fake_slack, caplog, watch_id
):
    running, _ = firing
    value = json.dumps({"w": watch_id, "i": "x"})
    with caplog.at_level(logging.ERROR):
        running.press("alert_ack", value, fake_slack.response_url("range"))
        (reply,) = [c.params for c in fake_slack.wait_for("response_url:range")]
    assert reply["text"] == "That button is out of date."
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_watch_commands_over_signed_requests(env, sim, fake_slack):
    running, stop = start_app(sim, fake_slack.api_url, env.watches)
    try:
        url = fake_slack.response_url("w")
        ack = running.command(f"watch {GROUP} below 100 for 5m", url, channel="C7").json()
        assert "Looking up" in ack["text"]
        (created,) = [c.params for c in fake_slack.wait_for("response_url:w")]
        assert created["response_type"] == "in_channel"
        assert "fewer than 100 online for 5m" in json.dumps(created)
        listing = running.command("watches", fake_slack.response_url("l"), channel="C7").json()
        assert "#1" in json.dumps(listing) and listing["response_type"] == "ephemeral"
        refused = running.command("unwatch 1", fake_slack.response_url("u"), channel="C8").json()
        assert "no watch #1 in this channel" in refused["text"] and "C7" not in refused["text"]
    finally:
        stop()


def test_an_unexpected_failure_answers_with_a_reference_that_is_in_the_log(
    env, sim, fake_slack, caplog
):
    env.watch(f"watch {GROUP} below 100", channel="C7")
    with env.engine.begin() as connection:  # the database breaks under the bot
        connection.exec_driver_sql("DROP TABLE watch_changes")
    running, stop = start_app(sim, fake_slack.api_url, env.watches)
    try:
        with caplog.at_level(logging.ERROR):
            answer = running.command("watches", fake_slack.response_url("l"), channel="C7").json()
    finally:
        stop()
    assert answer["text"].startswith("Something went wrong inside the bot (ref ")
    assert "Traceback" not in json.dumps(answer)
    ref = answer["text"].split("(ref ")[1][:6]
    (logged,) = [r for r in caplog.records if f"(ref {ref})" in r.getMessage()]
    assert logged.levelno == logging.ERROR and logged.exc_info is not None


def test_a_new_watch_is_checked_in_the_first_cycle_on_a_real_clock(env, sim):
    env.watch(f"watch {GROUP} below 100")
    poller = Poller(env.sessions, env.tencent, names=env.names, clock=time.time)
    try:
        assert poller.run_cycle().targets == 1  # time moves on while the cycle starts
    finally:
        poller.close()


def test_replicas_adding_the_same_targets_at_once_agree(env):
    from bot.store.models import Target as TargetRow

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


def test_targets_follow_the_watches(env, sim):
    from bot.store.models import NO_MARK
    from bot.store.models import Target as TargetRow

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


class RacedPoller(Poller):
    """A poller that another writer beats to watch #1: that writer commits a change to the
    watch's state after the poller loaded it and before the poller writes."""

    def _decide(self, session, watch, sample, now):
        if watch.id == 1:
            with self.sessions.begin() as other:
                other.execute(
                    update(AlertState)
                    .where(AlertState.watch_id == 1)
                    .values(version=AlertState.version + 1, last_value=7)
                )
        return super()._decide(session, watch, sample, now)


@pytest.mark.parametrize("audience", [500, 10], ids=["nothing-to-send", "alerting"])
def test_a_state_changed_by_another_writer_meanwhile_is_not_overwritten(env, sim, audience):
    env.watch(f"watch {GROUP} below 100", channel="C1")
    env.watch(f"watch {GROUP} below 100", channel="C2")
    raced = RacedPoller(env.sessions, env.tencent, names=env.names, clock=env.clock)
    try:
        sim.set_audience(GROUP, audience)
        env.clock.advance(60)
        report = raced.run_cycle()
    finally:
        raced.close()
    assert report.conflicts == 1 and report.evaluated == 1
    with env.sessions() as session:
        first, second = session.get(AlertState, 1), session.get(AlertState, 2)
        assert first.last_value == 7  # the other writer's, kept
        assert second.last_value == audience
        assert second.version > 0
        assert [o.watch_id for o in session.scalars(select(Outbox))] == (
            [2] if audience < 100 else []
        )


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
    from bot.store.models import Target as TargetRow

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


# --- group types: every countable group can be watched ------------------------------------


def test_a_public_group_is_watched_by_its_exact_count(env, sim, fake_slack):
    sim.add_group("@TGS#team", "Team chat", "Public")
    sim.set_audience("@TGS#team", 8)
    message = env.watch("watch @TGS#team below 5")
    assert "8" in json.dumps(message.blocks)
    sim.set_audience("@TGS#team", 3)
    env.cycle()
    (alert,) = posts(fake_slack)
    assert "Team chat" in alert["text"]


def test_a_marked_watch_on_a_group_without_a_list_is_refused(env, sim):
    sim.add_group("@TGS#team", "Team chat", "Public")
    with pytest.raises(WatchError, match="marks are counted from the online list") as caught:
        env.watch("watch @TGS#team below 5 mark 1000")
    assert "Leave the mark out" in str(caught.value)


def test_a_community_is_polled_on_its_own_count_endpoint(database_url, fake_slack):
    """Without "Group Member Online Status" the ordinary count refuses a Community:
    the poller must ask the million_group endpoint, told by the @TGS#_ prefix."""
    scenario = Scenario(
        cache_seconds=0, community_refresh_seconds=0, online_status=False, faults=Faults()
    )
    with Simulator(scenario).start() as sim:
        sim.add_group("@TGS#_fans", "Fan club", "Community")
        sim.set_audience("@TGS#_fans", 300)
        env = Env(database_url, sim, fake_slack, Clock())
        try:
            env.watch("watch @TGS#_fans below 100")
            sim.set_audience("@TGS#_fans", 40)
            before = sim.stats().million_group_get_online_member_num.ok
            report, _ = env.cycle()
            assert report.failed_checks == 0
            assert sim.stats().million_group_get_online_member_num.ok == before + 1
            assert sim.stats().get_online_member_num.calls == 0
            with env.sessions() as session:
                (state,) = session.scalars(select(AlertState)).all()
            assert state.last_value == 40 and state.last_error is None
        finally:
            env.close()
