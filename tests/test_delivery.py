"""Delivering the outbox (bot/alerts/delivery.py) to the fake Slack Web API: every alert
message sent once, none lost, retries and pauses decided by what Slack answered."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from support.alerting import GROUP, posts

from bot.alerts.delivery import Deliverer, DeliveryReport
from bot.store import AlertStateRow, Outbox, Watch
from bot.watches import Actor


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


def test_recording_a_delivery_never_fails_a_judge_writing_the_state_meanwhile(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    with env.sessions() as judge:  # another replica's judge has read the state...
        (state,) = judge.scalars(select(AlertStateRow)).all()
        read_version = state.version
        state.last_value = 11  # ...and writes it after the delivery is recorded
        assert env.deliverer.deliver_due().delivered == 1
        judge.commit()  # its version check holds: the delivery did not write the state's row
    with env.sessions() as session:
        (state,) = session.scalars(select(AlertStateRow)).all()
        (row,) = env.outbox()
        assert state.version == read_version + 1
        assert (state.alert_channel, state.alert_ts) == (row.channel_id, row.message_ts)


def test_a_row_whose_lease_ran_out_before_its_turn_is_not_sent(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    (row_id,) = env.deliverer._claim(10)
    env.clock.advance(env.deliverer.lease_seconds + 1)  # the rows before it took that long
    report = DeliveryReport()
    env.deliverer._deliver(row_id, report)  # another replica may be posting it now
    assert posts(fake_slack) == [] and report.delivered == 0
    assert env.new_deliverer("replica-2").deliver_due().delivered == 1
    assert len(posts(fake_slack)) == 1


def test_a_lease_is_renewed_for_each_row_as_its_turn_comes(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    (row_id,) = env.deliverer._claim(10)
    env.clock.advance(env.deliverer.lease_seconds - 1)  # still held: renewed, then sent
    report = DeliveryReport()
    env.deliverer._deliver(row_id, report)
    assert report.delivered == 1 and len(posts(fake_slack)) == 1


def test_a_delivery_says_when_it_took_as_many_as_it_could(env, sim, fake_slack):
    for channel in ("C1", "C2", "C3"):
        env.watch(f"watch {GROUP} below 100", channel=channel)
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()
    first = env.deliverer.deliver_due(limit=2)
    assert first.delivered == 2 and first.more
    second = env.deliverer.deliver_due(limit=2)
    assert second.delivered == 1 and not second.more
