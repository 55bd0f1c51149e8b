"""/online history end to end in HTTP mode: signed requests into the running app, samples
from real poll cycles in a real store (SQLite and PostgreSQL), the chart uploaded to the
fake Slack (files.getUploadURLExternal, the bytes, files.completeUploadExternal), the
reader's time zone from users.info, and every fallback."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from slack_sdk import WebClient
from support.alerting import GROUP
from support.slackapp import start_app

from bot import drawing
from bot.alerts.history import HistoryReader
from bot.alerts.names import GroupNames
from bot.handlers import Caller, HistoryAnswer
from bot.simulator import Faults
from bot.slack.listeners import _chart_answer
from bot.slack.userzones import UserZones
from bot.zones import parse_zone

FILENAME = "history-TGS-live-1h.png"


@pytest.fixture
def app(env, fake_slack):
    """The app over the alerting env's store, after a few checks of GROUP."""
    env.watch(f"watch {GROUP} below 100")  # checks at once: 500
    for count in (480, 40, 450):  # the alert fires at 40, resolves at 450
        env.sim.set_audience(GROUP, count)
        env.cycle()
    history = HistoryReader(env.sessions, env.names, clock=env.clock)
    running, stop = start_app(env.sim, fake_slack.api_url, env.watches, history=history)
    yield running
    stop()


def ask(app, fake_slack, text, *, user="U1", channel="C1", name="h1"):
    response = app.command(text, fake_slack.response_url(name), user=user, channel=channel)
    assert response.status_code == 200
    ack = response.json()
    (answer,) = [c.params for c in fake_slack.wait_for(f"response_url:{name}", timeout=20)]
    return ack, answer


def blocks_text(payload):
    return json.dumps(payload["blocks"], ensure_ascii=False)


def assert_chart(content: bytes):
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG" and image.size == (1200, 600)


def test_an_ephemeral_answer_puts_the_chart_in_the_dm_in_the_reader_s_zone(app, fake_slack):
    fake_slack.users["U1"] = {"tz": "Asia/Tokyo"}

    ack, answer = ask(app, fake_slack, f"history {GROUP} 1h")

    assert ack["response_type"] == "ephemeral"
    assert "Drawing the audience of `@TGS#live` over the last 1h" in ack["text"]
    assert [c.params["user"] for c in fake_slack.calls("users.info")] == ["U1"]
    assert [c.params["users"] for c in fake_slack.calls("conversations.open")] == ["U1"]
    (upload_url_call,) = fake_slack.calls("files.getUploadURLExternal")
    assert upload_url_call.params["filename"] == FILENAME
    assert "times in Asia/Tokyo" in upload_url_call.params["alt_txt"]
    (chart,) = fake_slack.uploaded_files()
    assert chart.channel_id == "DU1" and chart.filename == FILENAME
    assert chart.title == "Audience of Evening <Stream>, last 1h"
    assert_chart(chart.content)
    assert answer["response_type"] == "ephemeral"
    text = blocks_text(answer)
    assert f"Chart attached in your direct messages with the bot as `{FILENAME}`." in text
    assert "Times on the chart are in Asia/Tokyo, your Slack time zone." in text
    assert "Drawn: this channel's 1 watch: #1 fewer than 100 online. Shaded: 1 alert " in text
    assert "*Min*\\n40" in text and "*Max*\\n500" in text and "*Last*\\n450" in text


def test_a_public_answer_puts_the_chart_in_the_channel(app, fake_slack):
    fake_slack.users["U1"] = {"tz": "Europe/Paris"}

    _, answer = ask(app, fake_slack, f"history {GROUP} 1h public")

    (chart,) = fake_slack.uploaded_files()
    assert chart.channel_id == "C1"
    assert_chart(chart.content)
    assert fake_slack.calls("conversations.open") == []
    assert answer["response_type"] == "in_channel"
    assert f"Chart attached in this channel as `{FILENAME}`." in blocks_text(answer)


@pytest.mark.parametrize(
    ("user_fields", "failure", "note"),
    [
        (
            None,
            None,
            "Times on the chart are in UTC: your Slack time zone could not be read "
            "(Slack says `user_not_found`).",
        ),
        ({}, None, "Times on the chart are in UTC: your Slack profile has no time zone."),
        ({"tz": "Mars/Olympus_Mons"}, None, "your Slack time zone Mars/Olympus_Mons is unknown"),
        (
            {"tz": "Asia/Tokyo"},
            "missing_scope",
            "reinstall the app, whose manifest asks for users:read",
        ),
        (
            {"tz": "Asia/Tokyo"},
            500,
            "Times on the chart are in UTC: your Slack time zone could "
            "not be read (Slack says `fatal_error`).",
        ),
    ],
)
def test_an_unknown_zone_draws_in_utc_and_says_why(app, fake_slack, user_fields, failure, note):
    if user_fields is not None:
        fake_slack.users["U1"] = user_fields
    if failure == 500:
        fake_slack.fail_next("users.info", status=500, times=3)  # through the retries
    elif failure:
        fake_slack.fail_next("users.info", failure)

    _, answer = ask(app, fake_slack, f"history {GROUP} 1h")

    assert note in blocks_text(answer)
    (chart,) = fake_slack.uploaded_files()
    assert_chart(chart.content)
    (upload_url_call,) = fake_slack.calls("files.getUploadURLExternal")
    assert "times in UTC" in upload_url_call.params["alt_txt"]


def test_a_zone_is_asked_once_an_hour(app, fake_slack):
    fake_slack.users["U1"] = {"tz": "Asia/Tokyo"}

    ask(app, fake_slack, f"history {GROUP} 1h", name="first")
    _, again = ask(app, fake_slack, f"history {GROUP} 6h", name="second")

    assert len(fake_slack.calls("users.info")) == 1
    assert "Asia/Tokyo, your Slack time zone" in blocks_text(again)


@pytest.mark.parametrize(
    ("fail", "said"),
    [
        (
            ("files.completeUploadExternal", "not_in_channel"),
            "The chart could not be attached in this channel (Slack says `not_in_channel`): invite "
            "the bot to the channel; meanwhile the counts below stand in for it.",
        ),
        (
            ("files.getUploadURLExternal", "invalid_arguments"),
            "The chart could not be attached (Slack says `invalid_arguments`); the counts below "
            "stand in for it.",
        ),
    ],
)
def test_a_refused_upload_falls_back_to_a_sparkline_and_says_why(app, fake_slack, fail, said):
    fake_slack.users["U1"] = {"tz": "Asia/Tokyo"}
    fake_slack.fail_next(*fail)

    _, answer = ask(app, fake_slack, f"history {GROUP} 1h public")

    text = blocks_text(answer)
    assert said in text
    assert "one character for each 1m 30s" in text and "▁" in text
    assert "*Min*\\n40" in text and "*Last*\\n450" in text
    assert fake_slack.uploaded_files() == []
    assert answer["response_type"] == "in_channel"


def test_an_upload_that_fails_on_the_wire_falls_back_too(app, fake_slack):
    fake_slack.users["U1"] = {"tz": "Asia/Tokyo"}
    fake_slack.fail_next("upload", status=500)

    _, answer = ask(app, fake_slack, f"history {GROUP} 1h")

    assert "The chart could not be attached (Slack could not be reached)" in blocks_text(answer)
    assert fake_slack.uploaded_files() == []


def test_a_group_without_samples_is_one_sentence(app, fake_slack):
    _, answer = ask(app, fake_slack, "history @TGS#unwatched 24h")

    text = blocks_text(answer)
    assert "No samples exist for `@TGS#unwatched`" in text
    assert "`/online watch @TGS#unwatched below &lt;N&gt;` starts them" in text
    assert fake_slack.calls("files.getUploadURLExternal") == []


def test_a_usage_error_is_answered_at_once(app, fake_slack):
    response = app.command(f"history {GROUP} 40d", fake_slack.response_url("u"))

    assert "The range must be from 5m to 31d, not 40d." in response.json()["text"]


def test_the_same_chart_asked_twice_is_drawn_once(app):
    handlers = app.handlers
    caller = Caller("U1", "C1")
    first = handlers.command(f"history {GROUP} 1h", caller).work()
    second = handlers.command(f"history {GROUP} 1h", caller).work()
    assert isinstance(first, HistoryAnswer) and isinstance(second, HistoryAnswer)

    zone = parse_zone("Asia/Tokyo")
    assert first.view is second.view  # read once
    assert first.chart(zone).content is second.chart(zone).content  # drawn once
    assert first.chart(parse_zone("UTC")).content != first.chart(zone).content


def test_a_chart_that_cannot_be_drawn_still_gets_an_answer(env, fake_slack, caplog, monkeypatch):
    def broken(chart):
        raise RuntimeError("the renderer broke")

    monkeypatch.setattr(drawing, "render_png", broken)
    env.watch(f"watch {GROUP} below 100")
    env.cycle()
    view = HistoryReader(env.sessions, clock=env.clock).read(GROUP, None, 3600, "C1")
    assert len(view.points) == 2
    answer = HistoryAnswer(view, public=False, draw=drawing.draw_here)
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)

    message = _chart_answer(answer, Caller("U1", "C1"), client, UserZones())

    text = json.dumps(message.blocks)
    assert "The chart could not be drawn (something went wrong inside the bot, ref " in text
    assert "the counts below stand in for it" in text
    assert fake_slack.calls("files.getUploadURLExternal") == []
    assert "unexpected failure drawing a chart" in caplog.text


@pytest.fixture
def app_without_names(env, fake_slack):
    """The app after a restart: the group's name not known yet."""
    env.watch(f"watch {GROUP} below 100")
    names = GroupNames(env.tencent, clock=env.clock)
    history = HistoryReader(env.sessions, names, clock=env.clock)
    running, stop = start_app(env.sim, fake_slack.api_url, env.watches, history=history)
    yield running, names
    stop()


def test_the_group_s_name_is_asked_of_tencent_when_not_known(app_without_names, fake_slack, sim):
    app, names = app_without_names
    before = sim.stats().get_group_info.calls

    _, answer = ask(app, fake_slack, f"history {GROUP} 1h")

    assert sim.stats().get_group_info.calls == before + 1
    assert names.peek(GROUP) == "Evening <Stream>"
    assert answer["blocks"][0]["text"]["text"] == "Audience of Evening <Stream>, last 1h"


def test_a_slow_tencent_does_not_hold_up_the_chart(app_without_names, fake_slack, sim):
    app, _ = app_without_names
    sim.set_faults(Faults(latency_ms=5000))  # longer than the handlers wait for a name
    try:
        _, answer = ask(app, fake_slack, f"history {GROUP} 1h")
    finally:
        sim.set_faults(Faults())

    assert answer["blocks"][0]["text"]["text"] == f"Audience of {GROUP}, last 1h"  # the ID
    (chart,) = fake_slack.uploaded_files()
    assert_chart(chart.content)
