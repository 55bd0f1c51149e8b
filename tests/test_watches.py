"""Watch commands (bot/watches.py): create, permissions, a watch changed only from its
channel, acknowledge, and the alert's buttons over signed requests."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select
from support.alerting import GROUP, Clock, Env, posts
from support.slackapp import start_app

from bot.commands.grammar import parse
from bot.render.home import Listed
from bot.store import Watch, WatchChange
from bot.store.models import AlertStateRow
from bot.watches import Actor, WatchError


def test_create_replies_with_id_rule_and_current_count(env):
    message = env.watch(f"watch {GROUP} below 100 for 2m recover 120")
    text = json.dumps(message.blocks)
    assert "#1" in message.text or "#1" in text
    assert "fewer than 100 online for 2m" in text
    assert "500" in text
    with env.sessions() as session:
        (change,) = session.scalars(select(WatchChange)).all()
        assert (change.actor, change.action) == ("U1", "created")


def test_watch_admins_refuse_with_reason(migrated_database_url, sim, fake_slack):
    fake_slack.usergroups = {"S1": ["U5"]}
    environment = Env(
        migrated_database_url, sim, fake_slack, Clock(), admins=frozenset({"U9", "S1"})
    )
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


def test_a_marked_watch_on_a_group_without_a_list_is_refused(env, sim):
    sim.add_group("@TGS#team", "Team chat", "Public")
    with pytest.raises(WatchError, match="marks are counted from the online list") as caught:
        env.watch("watch @TGS#team below 5 mark 1000")
    assert "Leave the mark out" in str(caught.value)


def test_acknowledge_records_who(env, sim):
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 10)
    env.cycle()
    with env.sessions() as session:
        incident = session.get(AlertStateRow, 1).incident_id
    message = env.watches.acknowledge(1, incident, Actor("U0ACK3", "C1"))
    assert "<@U0ACK3>" in json.dumps(message.blocks)
    assert env.watches.acknowledge(1, "old-incident", Actor("U0ACK3", "C1")) is None
    with env.sessions() as session:
        state = session.get(AlertStateRow, 1)
        assert state.acknowledged_by == "U0ACK3"
        actions = [c.action for c in session.scalars(select(WatchChange)).all()]
        assert "acknowledged" in actions


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
        assert session.get(AlertStateRow, 1).acknowledged_by == "U0ACK7"


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
        watch, state = session.get(Watch, 1), session.get(AlertStateRow, 1)
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


# -- the App Home: every channel's watches, and changes from no channel -------------------


def test_the_home_lists_every_live_watch_and_reads_those_it_shows(env, sim):
    env.watch(f"watch {GROUP} below 100", channel="C0002")
    env.watch(f"watch {GROUP} above 900", channel="C0001")
    env.watch(f"watch {GROUP} drop 30%", channel="C0002")
    env.watches.unwatch(3, Actor("U1", "C0002"))
    env.watches.mute(2, 30, None, Actor("U1", "C0001"))
    listed = sorted(env.watches.listing(), key=lambda item: item.watch_id)
    assert listed == [Listed(1, "C0002", "ok"), Listed(2, "C0001", "ok", muted=True)]
    env.clock.advance(60)
    sim.set_audience(GROUP, 450)
    env.cycle()
    rows = sorted(env.watches.shown([1, 2, 3]), key=lambda row: row.watch_id)
    assert [(r.watch_id, r.channel_id, r.last_value) for r in rows] == [
        (1, "C0002", 450),
        (2, "C0001", 450),
    ]
    # each new watch's check, then the poll's; the group's name, learnt
    assert [r.samples for r in rows] == [(500, 500, 500, 450)] * 2
    assert {r.group_name for r in rows} == {"Evening <Stream>"}
    assert rows[0].rule_text == "fewer than 100 online" and rows[1].muted_until is None  # ran out


def test_watches_are_made_in_their_channel_not_from_the_home(env):
    with pytest.raises(WatchError, match="made in the channel they alert"):
        env.watches.create(parse(f"watch {GROUP} below 100"), Actor.home("U1"))


def test_the_home_changes_a_watch_of_any_channel_and_says_so(env):
    env.watch(f"watch {GROUP} below 100", channel="C0009")
    env.watches.unmute(1, Actor.home("U0BOB"))
    with pytest.raises(WatchError, match="no watch #7 any more"):
        env.watches.mute(7, 60, None, Actor.home("U0BOB"))
    assert env.watches.channel_of(1) == "C0009" and env.watches.channel_of(7) is None
    with env.sessions() as session:
        change = session.scalars(select(WatchChange).order_by(WatchChange.id.desc())).first()
    assert (change.actor, change.action, change.detail) == ("U0BOB", "unmuted", "from the App Home")
