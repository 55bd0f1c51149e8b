"""The App Home over signed requests into the running app (HTTP mode): opened by an
``app_home_opened`` event, its buttons pressed as Slack sends them from the published
view, its lookup modal opened and submitted; the views checked as the fake Slack
received them (views.publish, views.open), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import insert, select, update
from support.alerting import GROUP
from support.slackapp import start_app

from bot.alerts.mapping import to_dt
from bot.render.home import (
    HOME_LOOKUP_ACTION,
    HOME_MUTE_ACTION,
    HOME_NEXT_ACTION,
    HOME_PREVIOUS_ACTION,
    HOME_REFRESH_ACTION,
    HOME_UNMUTE_ACTION,
    HOME_UNWATCH_ACTION,
    LOOKUP_CALLBACK,
)
from bot.render.text import blocks_to_text
from bot.simulator import Faults, Scenario, Simulator
from bot.store import AlertStateRow, TargetRow, Watch, WatchChange
from bot.tencent.models import Member
from bot.watches import Actor


@pytest.fixture
def app(env, sim, fake_slack):
    running, stop = start_app(sim, fake_slack.api_url, env.watches)
    yield running
    stop()


def published(fake_slack, count=1, user="U1"):
    """The Home published for ``user`` once ``count`` views.publish have arrived."""
    calls = fake_slack.wait_for("views.publish", count)
    assert len(calls) == count and calls[-1].params["user_id"] == user
    view = fake_slack.home_view(user)
    assert view is not None and view["type"] == "home"
    assert len(view["blocks"]) <= 100
    return view


def text_of(view):
    return blocks_to_text(view["blocks"])


def buttons(view):
    """(action_id, value) -> button, for every button of the view."""
    return {
        (element["action_id"], element["value"]): element
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def watch_section(view, watch_id):
    """The text of watch ``watch_id``'s section."""
    (text,) = [
        block["text"]["text"]
        for block in view["blocks"]
        if block["type"] == "section"
        and block.get("text", {}).get("text", "").startswith(f"*#{watch_id}* ")
    ]
    return text


# -- what the Home shows ----------------------------------------------------------------


def test_opening_the_home_shows_every_watch_by_channel(env, app, sim, fake_slack):
    sim.add_group("@TGS#quiet", "Quiet <room> & co", "AVChatRoom")
    sim.set_audience("@TGS#quiet", 40)
    env.watch(f"watch {GROUP} below 100", channel="C0B")
    env.watch("watch @TGS#quiet above 1000", channel="C0A")
    env.watch(f"watch {GROUP} drop 30% within 10m", channel="C0A")
    for audience in (450, 470, 10):  # three checks: the sparkline, and #1 fires
        sim.set_audience(GROUP, audience)
        env.cycle()
    env.watches.mute(2, 7200, "maintenance", Actor("U1", "C0A"))
    with env.sessions.begin() as session:  # a callback came 12 s ago: push-fed
        session.execute(
            update(TargetRow)
            .where(TargetRow.group_id == GROUP)
            .values(last_push_at=to_dt(env.clock() - 12.5))
        )

    assert app.open_home(user="U1").status_code == 200
    view = published(fake_slack)
    text = text_of(view)

    # grouped by channel (C0A before C0B), each with its count of watches
    listed = text.split("────")[-1]
    assert listed.index("#C0A* · 2 watches") < listed.index("#C0B* · 1 watch")
    assert listed.index("*#2* ") < listed.index("*#3* ") < listed.index("*#1* ")
    assert "*3 watches* in 2 channels" in text and "🔴 2 firing" in text
    firing = watch_section(view, 1)
    assert "🔴 firing · 10 online" in firing and "Rule: fewer than 100 online" in firing
    assert "Recent counts: `" in firing and "min 10 · max 500" in firing
    assert "📡 push-fed, last callback 12s ago" in firing
    muted = watch_section(view, 2)
    assert "🔇 muted until <!date^" in muted and "(maintenance)" in muted
    assert "Quiet &lt;room&gt; &amp; co" in muted  # Tencent's name, escaped
    assert "Needs attention" in text and "in <#C0B>" in json.dumps(view)
    # each watch's buttons: Unmute for the muted one, Mute 1h for the others
    found = buttons(view)
    assert (HOME_UNMUTE_ACTION, "2") in found and (HOME_MUTE_ACTION, "2") not in found
    assert (HOME_MUTE_ACTION, "1") in found and (HOME_MUTE_ACTION, "3") in found
    assert found[(HOME_UNWATCH_ACTION, "1")]["confirm"]["title"]["text"] == "Stop watching?"
    assert any(action == HOME_LOOKUP_ACTION for action, _ in found)


def test_the_messages_tab_publishes_nothing(app, fake_slack):
    app.event({"type": "app_home_opened", "user": "U1", "channel": "DU1", "tab": "messages"})
    app.open_home(user="U2")  # (the next event, to know the first was handled)
    published(fake_slack, user="U2")
    assert [call.params["user_id"] for call in fake_slack.calls("views.publish")] == ["U2"]


def test_an_empty_workspace_says_how_to_start(app, fake_slack):
    app.open_home()
    text = text_of(published(fake_slack))
    assert "No watches yet" in text and "/online watch" in text
    assert "[Look up a group]" in text


def insert_watches(env, count, channels):
    now = to_dt(env.clock())
    with env.sessions.begin() as session:
        session.execute(
            insert(Watch),
            [
                {
                    "channel_id": f"C{1 + i % channels:04d}",
                    "group_id": f"@TGS#g{i:04d}",
                    "rule_kind": "below",
                    "threshold": 100,
                    "for_seconds": 0,
                    "created_by": "U1",
                    "created_at": now,
                }
                for i in range(count)
            ],
        )
        ids = session.scalars(select(Watch.id).order_by(Watch.id)).all()
        session.execute(
            insert(AlertStateRow),
            [{"watch_id": i, "status": "ok", "last_value": 500} for i in ids],
        )


@pytest.mark.parametrize(
    ("channels", "expected_pages", "last_page"),
    [
        (1, 8, "281 to 300"),  # 40 watches a page at most
        (7, 8, "281 to 300"),
        (300, 10, "271 to 300"),  # a heading for each watch's channel: 30 a page
    ],
)
def test_300_watches_are_paged_within_100_blocks(
    env, app, fake_slack, channels, expected_pages, last_page
):
    insert_watches(env, 300, channels)
    app.open_home()
    view = published(fake_slack)
    pages, seen = 0, []
    while True:  # page through with Next, as a user would
        pages += 1
        assert len(view["blocks"]) <= 100
        seen += [
            block["text"]["text"].split("*", 2)[1]
            for block in view["blocks"]
            if block["type"] == "section" and block["text"]["text"].startswith("*#")
        ]
        following = [v for action, v in buttons(view) if action == HOME_NEXT_ACTION]
        if not following:
            break
        app.press_in_view(HOME_NEXT_ACTION, following[0], view)
        view = published(fake_slack, pages + 1)
    assert sorted(seen, key=lambda s: int(s[1:])) == [f"#{i}" for i in range(1, 301)]
    assert len(seen) == 300  # each watch on one page only
    assert pages == expected_pages
    text = text_of(view)
    assert f"Page {pages} of {pages} · watches {last_page} of 300" in text
    previous = [v for action, v in buttons(view) if action == HOME_PREVIOUS_ACTION]
    app.press_in_view(HOME_PREVIOUS_ACTION, previous[0], view)
    assert f"Page {pages - 1} of {pages}" in text_of(published(fake_slack, pages + 1))


def test_a_channel_cut_by_the_page_says_how_many_more(env, app, fake_slack):
    insert_watches(env, 50, 1)
    app.open_home()
    first = text_of(published(fake_slack))
    assert "…and 10 more watches in #C0001 on the next page" in first
    app.press_in_view(HOME_NEXT_ACTION, '{"page":1}', fake_slack.home_view("U1"))
    second = text_of(published(fake_slack, 2))
    assert "#C0001* (continued) · 50 watches" in second


# -- its buttons ------------------------------------------------------------------------


def test_mute_unmute_and_unwatch_from_the_home(env, app, fake_slack):
    env.watch(f"watch {GROUP} below 100", channel="C0007")
    app.open_home(user="U0ALICE")
    view = published(fake_slack, user="U0ALICE")

    app.press_in_view(HOME_MUTE_ACTION, "1", view, user="U0ALICE")
    view = published(fake_slack, 2, user="U0ALICE")
    with env.sessions() as session:
        watch = session.get(Watch, 1)
        assert watch.muted_until.timestamp() == pytest.approx(env.clock() + 3600, abs=1)
        assert watch.mute_reason == "muted from the App Home"
    assert "<@U0ALICE> muted `@TGS#live` (#1) until" in json.dumps(view)  # the notice, on top
    assert (HOME_UNMUTE_ACTION, "1") in buttons(view)
    (told,) = [c.params for c in fake_slack.wait_for("chat.postMessage")]
    assert told["channel"] == "C0007" and "<@U0ALICE> muted" in told["text"]
    assert "from the App Home" in json.dumps(told["blocks"])

    app.press_in_view(HOME_UNMUTE_ACTION, "1", view, user="U0ALICE")
    view = published(fake_slack, 3, user="U0ALICE")
    assert "<@U0ALICE> unmuted" in json.dumps(view) and (HOME_MUTE_ACTION, "1") in buttons(view)

    app.press_in_view(HOME_UNWATCH_ACTION, "1", view, user="U0ALICE")
    view = published(fake_slack, 4, user="U0ALICE")
    assert "<@U0ALICE> stopped watching" in json.dumps(view)
    assert "No watches yet" in text_of(view)
    fake_slack.wait_for("chat.postMessage", 3)
    with env.sessions() as session:
        assert session.get(Watch, 1).deleted_at is not None
        changes = session.scalars(select(WatchChange).order_by(WatchChange.id)).all()
    assert [(c.action, c.actor) for c in changes] == [
        ("created", "U1"),
        ("muted", "U0ALICE"),
        ("unmuted", "U0ALICE"),
        ("unwatched", "U0ALICE"),
    ]
    assert changes[1].detail == "for 1h: muted from the App Home"
    assert changes[2].detail == changes[3].detail == "from the App Home"


def test_watch_admins_decide_in_the_home_whatever_the_channel(env, app, fake_slack):
    fake_slack.usergroups = {"S0OPS": ["U0OPS"]}
    env.watches.admins = frozenset({"U0ADMIN", "S0OPS"})
    env.watch(f"watch {GROUP} below 100", channel="C0007", user="U0ADMIN")
    app.open_home(user="U0OTHER")
    view = published(fake_slack, user="U0OTHER")

    app.press_in_view(HOME_UNWATCH_ACTION, "1", view, user="U0OTHER")
    view = published(fake_slack, 2, user="U0OTHER")
    text = json.dumps(view)
    assert "Only the watch admins may remove watches (WATCH_ADMINS)" in text
    assert "<@U0ADMIN>" in text and "<!subteam^S0OPS>" in text
    assert (HOME_UNWATCH_ACTION, "1") in buttons(view)  # still there, unchanged
    with env.sessions() as session:
        assert session.get(Watch, 1).deleted_at is None

    # a member of an admin user group may, from the Home, whichever channel has the watch
    app.press_in_view(HOME_MUTE_ACTION, "1", view, user="U0OPS")
    published(fake_slack, 3, user="U0OPS")
    with env.sessions() as session:
        assert session.get(Watch, 1).muted_by == "U0OPS"
    assert [c.params["channel"] for c in fake_slack.wait_for("chat.postMessage")] == ["C0007"]


def test_a_button_for_a_watch_already_removed_says_so(env, app, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    app.open_home()
    view = published(fake_slack)
    app.press_in_view(HOME_UNWATCH_ACTION, "1", view)
    published(fake_slack, 2)
    app.press_in_view(HOME_MUTE_ACTION, "1", view)  # from the old view
    text = json.dumps(published(fake_slack, 3))
    assert "There is no watch #1 any more (it was removed)" in text
    app.press_in_view(HOME_MUTE_ACTION, "99999999999", view)  # an edited value
    assert "That button is out of date" in json.dumps(published(fake_slack, 4))


def test_refresh_shows_the_state_now(env, app, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    app.open_home()
    view = published(fake_slack)
    assert "🟢 ok · 500 online" in watch_section(view, 1)
    sim.set_audience(GROUP, 10)
    env.cycle()
    app.press_in_view(HOME_REFRESH_ACTION, '{"page":0}', view)
    assert "🔴 firing · 10 online" in watch_section(published(fake_slack, 2), 1)


def test_a_failure_inside_shows_a_reference_that_is_in_the_log(env, app, fake_slack, caplog):
    env.watch(f"watch {GROUP} below 100")
    with env.engine.begin() as connection:  # the database breaks under the bot
        connection.exec_driver_sql("DROP TABLE alert_states")
    with caplog.at_level(logging.ERROR):
        app.open_home()
        view = published(fake_slack)
    text = text_of(view)
    assert "Something went wrong inside the bot (ref " in text and "Traceback" not in text
    ref = text.split("(ref ")[1][:6]
    (logged,) = [r for r in caplog.records if f"(ref {ref})" in r.getMessage()]
    assert logged.exc_info is not None
    assert "[Look up a group]" in text


def test_a_home_that_slack_refuses_is_logged_in_one_line(app, fake_slack, caplog):
    fake_slack.fail_next("views.publish", "not_enabled")
    with caplog.at_level(logging.WARNING):
        app.open_home()
        fake_slack.wait_for("views.publish")
        app.open_home(user="U2")  # handled after the first: its warning is logged by now
        published(fake_slack, 2, user="U2")
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line == "could not publish the App Home of U1: not_enabled"


# -- the lookup ---------------------------------------------------------------------------


def opened_modal(app, fake_slack, user="U1"):
    app.open_home(user=user)
    view = published(fake_slack, user=user)
    app.press_in_view(HOME_LOOKUP_ACTION, "lookup", view, user=user)
    (opened,) = fake_slack.wait_for("views.open")
    assert opened.params["trigger_id"].startswith("trigger-")
    modal = opened.params["view"]
    assert modal["type"] == "modal" and modal["callback_id"] == LOOKUP_CALLBACK
    return modal


def dm_answers(fake_slack, user, count=1):
    fake_slack.wait_for("chat.postMessage", count, timeout=10)
    return [
        c.params for c in fake_slack.calls("chat.postMessage") if c.params["channel"] == f"D{user}"
    ]


def test_lookup_answers_in_the_dm(app, fake_slack):
    modal = opened_modal(app, fake_slack, user="U5")
    response = app.submit_view(modal, {"group_id": f" {GROUP} ", "mark": None}, user="U5")
    assert response.status_code == 200 and response.text == ""  # the modal closes
    (answer,) = dm_answers(fake_slack, "U5")
    assert {c.params["users"] for c in fake_slack.calls("conversations.open")} == {"U5"}
    text = json.dumps(answer)
    assert "500 online" in text and "Evening &lt;Stream&gt;" in text


def test_a_long_list_comes_as_a_csv_in_the_dm(fake_slack, env):
    scenario = Scenario(cache_seconds=0, page_size=500, groups=[], faults=Faults())
    with Simulator(scenario).start() as sim:
        sim.add_group("@TGS#big", "Friday Live", "AVChatRoom")
        sim.set_members("@TGS#big", [Member(f"u{i:04d}", f"Guest {i}", "", 0) for i in range(120)])
        running, stop = start_app(sim, fake_slack.api_url, env.watches)
        try:
            modal = opened_modal(running, fake_slack, user="U5")
            running.submit_view(modal, {"group_id": "@TGS#big", "mark": ""}, user="U5")
            (answer,) = dm_answers(fake_slack, "U5")
        finally:
            stop()
    (upload,) = fake_slack.uploaded_files()
    assert upload.channel_id == "DU5" and upload.filename in json.dumps(answer)
    assert "120 online" in json.dumps(answer)


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (
            {"group_id": "@TGS#é", "mark": "x"},
            {
                "group_id": "Group IDs are printable ASCII",
                "mark": "The mark must be a whole number from 0 to 4,294,967,295",
            },
        ),
        ({"group_id": None, "mark": "1000"}, {"group_id": "The group ID is empty"}),
        ({"group_id": GROUP, "mark": "-1"}, {"mark": 'not "-1"'}),
    ],
)
def test_wrong_fields_are_shown_in_the_modal(app, fake_slack, values, errors):
    modal = opened_modal(app, fake_slack)
    response = app.submit_view(modal, values)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == set(errors)
    for field, start in errors.items():
        assert start in answer["errors"][field]
    assert fake_slack.calls("chat.postMessage") == []
    assert fake_slack.calls("conversations.open") == []


def test_a_group_that_does_not_exist_is_answered_in_the_dm(app, fake_slack):
    modal = opened_modal(app, fake_slack)
    app.submit_view(modal, {"group_id": "@TGS#nope", "mark": None})
    (answer,) = dm_answers(fake_slack, "U1")
    assert "does not exist" in answer["text"] and "Traceback" not in json.dumps(answer)


def test_a_form_slack_will_not_open_is_explained_in_the_home(app, fake_slack):
    fake_slack.fail_next("views.open", "expired_trigger_id")
    app.open_home()
    view = published(fake_slack)
    app.press_in_view(HOME_LOOKUP_ACTION, "lookup", view)
    text = text_of(published(fake_slack, 2))
    assert "The lookup form could not be opened (Slack says expired_trigger_id)" in text


def test_without_a_database_the_home_still_looks_up(sim, fake_slack):
    running, stop = start_app(sim, fake_slack.api_url)  # no watches
    try:
        running.open_home()
        view = published(fake_slack)
        assert "Watches need the bot's database" in text_of(view)
        running.press_in_view(HOME_LOOKUP_ACTION, "lookup", view)
        modal = fake_slack.wait_for("views.open")[0].params["view"]
        running.submit_view(modal, {"group_id": GROUP, "mark": None})
        (answer,) = dm_answers(fake_slack, "U1")
    finally:
        stop()
    assert "500 online" in json.dumps(answer)


def test_events_url_verification_is_answered(app):
    """HTTP mode: Slack checks the Events request URL with a signed challenge."""
    body = json.dumps({"token": "legacy", "challenge": "ch4ll3nge", "type": "url_verification"})
    response = app.post("/slack/events", body, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"challenge": "ch4ll3nge"}
