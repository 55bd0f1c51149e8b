"""End to end in HTTP mode: signed requests into the running app (waitress + bolt),
Tencent answered by the simulator, Slack's Web API and response_url by the fake."""

import csv
import inspect
import io
import json
import logging
import time
from urllib.parse import urlencode

import pytest
import requests
from support.slackapp import start_app

from bot.httpserver import MAX_BODY_BYTES
from bot.simulator import Faults, Scenario, Simulator
from bot.tencent.models import Member

HOSTILE = ["<!channel>", "<https://evil.example|click me>", "Tom & Jerry", "*bold*"]


def _members(n, prefix="user"):
    return [
        Member(
            f"{prefix}{i:04d}",
            HOSTILE[i % len(HOSTILE)] if i < 8 else f"Guest {i}",
            "",
            1_700_000_000 + i,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def sim():
    scenario = Scenario(cache_seconds=0, page_size=500, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group("@TGS#small", "Office <Hours> & more", "AVChatRoom")
        running.set_members("@TGS#small", _members(6))
        running.add_group("@TGS#big", "Friday Live", "AVChatRoom")
        running.set_members("@TGS#big", _members(1200))
        running.add_group("@TGS#team", "Team chat", "Public")
        running.set_members("@TGS#team", _members(5, "team"))
        yield running


@pytest.fixture
def app(sim, fake_slack):
    running, stop = start_app(sim, fake_slack.api_url)
    yield running
    stop()


def _texts(payload):
    """Every piece of text in a message payload, flattened."""
    return json.dumps(payload, ensure_ascii=False)


def test_the_app_is_named_not_found_by_walking_the_stack(sim, fake_slack, monkeypatch):
    """Unnamed, bolt names its app from inspect.stack(), which reads every frame's source:
    a quarter of a second per app under a test's deep stack."""

    def walked(*args, **kwargs):
        raise AssertionError("inspect.stack() was called")

    monkeypatch.setattr(inspect, "stack", walked)
    running, stop = start_app(sim, fake_slack.api_url)
    try:
        assert running.session.get(running.url + "/healthz", timeout=5).text == "ok"
    finally:
        stop()


def test_healthz(app):
    response = requests.get(app.url + "/healthz", timeout=5)
    assert response.status_code == 200 and response.text == "ok"


def test_ack_first_then_answer_on_response_url(app, fake_slack):
    url = fake_slack.response_url("q1")
    response = app.command("@TGS#small", url)
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert "Looking up" in ack["text"]
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:q1")]
    assert answer["response_type"] == "ephemeral"
    body = _texts(answer)
    assert "Office &lt;Hours&gt; &amp; more" in body
    assert "@TGS#small" in body
    assert "6" in answer["text"]
    assert len(answer["blocks"]) <= 50
    # a small list needs no file
    assert fake_slack.calls("files.completeUploadExternal") == []


def test_nicknames_are_escaped(app, fake_slack):
    url = fake_slack.response_url("esc")
    app.command("@TGS#small", url)
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:esc")]
    body = _texts(answer)
    assert "<!channel>" not in body
    assert "<https://evil.example|click me>" not in body
    assert "&lt;!channel&gt;" in body
    assert "&lt;https://evil.example|click me&gt;" in body
    assert "Tom &amp; Jerry" in body


def test_large_group_csv_in_dm_and_paging_button(app, fake_slack):
    url = fake_slack.response_url("big")
    app.command("@TGS#big", url, user="U7")
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:big", timeout=10)]
    opened = fake_slack.calls("conversations.open")
    assert opened and opened[0].params["users"] == "U7"
    (upload,) = fake_slack.uploaded_files()
    assert upload.channel_id == "DU7"
    rows = list(csv.reader(io.StringIO(upload.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 1000  # header + the 1,000 Tencent returns
    assert rows[0][0] == "account"
    body = _texts(answer)
    assert "1,200" in body or "1200" in body  # the exact count
    assert "1,000" in body  # capped note
    assert upload.filename in body
    actions = [b for b in answer["blocks"] if b["type"] == "actions"]
    assert actions, "a Next button to page through"
    button = actions[0]["elements"][0]
    assert button["action_id"] == "online_next_page"

    page_url = fake_slack.response_url("page")
    assert app.press(button["action_id"], button["value"], page_url).status_code == 200
    (page,) = [c.params for c in fake_slack.wait_for("response_url:page")]
    assert page["replace_original"] is True
    assert "51" in _texts(page)  # "Showing 51-100 of ..."


def test_public_answer_shares_in_channel_with_csv_there(app, fake_slack):
    url = fake_slack.response_url("pub")
    ack = app.command("@TGS#big public", url, channel="C9").json()
    assert ack["response_type"] == "ephemeral"  # the "looking up" stays private
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:pub", timeout=10)]
    assert answer["response_type"] == "in_channel"
    (upload,) = fake_slack.uploaded_files()
    assert upload.channel_id == "C9"


def test_bot_not_in_channel_falls_back_to_paging(app, fake_slack):
    fake_slack.fail_next("files.completeUploadExternal", "not_in_channel")
    url = fake_slack.response_url("nic")
    app.command("@TGS#big public", url, channel="C8")
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:nic", timeout=10)]
    body = _texts(answer)
    assert "not_in_channel" in body and "invite the bot" in body
    assert any(b["type"] == "actions" for b in answer["blocks"])


def _file_note(answer):
    (note,) = [
        element["text"]
        for block in answer["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
        if ":paperclip:" in element["text"]
    ]
    return note


@pytest.mark.parametrize(
    ("method", "body", "why"),
    [
        ("conversations.open", "{not json", "Slack's answer could not be read"),
        ("conversations.open", {"ok": True}, "Slack's answer could not be read"),
        ("files.getUploadURLExternal", "<html>Bad Gateway</html>", "answer could not be read"),
        ("files.completeUploadExternal", "{not json", "Slack's answer could not be read"),
        ("conversations.open", "[1]", "something went wrong inside the bot, ref "),
    ],
)
def test_the_count_arrives_whatever_stops_the_csv(app, fake_slack, caplog, method, body, why):
    fake_slack.reply_next(method, body)
    url = fake_slack.response_url("odd")
    with caplog.at_level(logging.WARNING):
        assert app.command("@TGS#big", url, user="U7").status_code == 200
        (answer,) = [c.params for c in fake_slack.wait_for("response_url:odd", timeout=10)]
    assert "1,200 online" in _texts(answer)
    note = _file_note(answer)
    assert "could not be attached" in note and why in note
    assert "Traceback" not in _texts(answer)
    assert fake_slack.uploaded_files() == []
    if "ref " in why:  # the same reference in the log, with the traceback
        ref = note.split("ref ")[1][:6]
        (logged,) = [r for r in caplog.records if f"ref {ref}" in r.getMessage()]
        assert logged.levelno == logging.ERROR and logged.exc_info is not None


def test_the_count_arrives_when_slack_does_not_answer_in_time(sim, fake_slack):
    running, stop = start_app(sim, fake_slack.api_url, slack_timeout=1)
    fake_slack.hold("conversations.open", times=3)
    try:
        running.command("@TGS#big", fake_slack.response_url("slow"), user="U7")
        (answer,) = [c.params for c in fake_slack.wait_for("response_url:slow", timeout=15)]
    finally:
        fake_slack.release()
        stop()
    assert "1,200 online" in _texts(answer)
    assert "Slack did not answer in time" in _file_note(answer)
    assert fake_slack.uploaded_files() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@TGS#nope", "does not exist"),
        ("@TGS#team 1000", "marks cannot be counted here"),
        ("@TGS#team is alice", "only for audio-video groups (AVChatRoom)"),
    ],
)
def test_tencent_errors_become_replies(app, fake_slack, text, expected):
    url = fake_slack.response_url("err")
    app.command(text, url)
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:err")]
    assert expected in answer["text"]
    assert "Traceback" not in _texts(answer)


def test_bad_credentials_reply_without_secrets(sim, fake_slack, monkeypatch):
    sim.inject_error("get_group_info", 70009, times=1)
    running, stop = start_app(sim, fake_slack.api_url)
    try:
        url = fake_slack.response_url("cred")
        running.command("@TGS#small", url)
        (answer,) = [c.params for c in fake_slack.wait_for("response_url:cred")]
    finally:
        stop()
    assert "TENCENT_IM_SECRET_KEY" in answer["text"] and "70009" in answer["text"]
    assert sim.scenario.secret_key not in _texts(answer)


def test_tencent_busy_says_try_again(sim, app, fake_slack):
    sim.inject_error("get_group_info", 60007, times=10)
    url = fake_slack.response_url("busy")
    try:
        app.command("@TGS#small", url)
        (answer,) = [c.params for c in fake_slack.wait_for("response_url:busy", timeout=30)]
    finally:
        sim.clear_injections()
    assert "try again" in answer["text"].lower()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Usage of /online"),
        ("help", "Usage of /online"),
        ("watch", "watch &lt;groupId&gt;"),
        ("frobnicate the thing", "Usage"),
    ],
)
def test_help_and_nonsense_answer_in_the_ack(app, fake_slack, text, expected):
    response = app.command(text, fake_slack.response_url("h"))
    assert response.status_code == 200
    assert expected.lower() in response.json()["text"].lower()
    assert fake_slack.calls("response_url:h") == []


def test_forged_signature_rejected(app, fake_slack):
    response = app.command("@TGS#small", fake_slack.response_url("f"), signature="v0=" + "0" * 64)
    assert response.status_code == 401
    response = app.command(
        "@TGS#small", fake_slack.response_url("f"), timestamp=int(time.time()) - 301
    )
    assert response.status_code == 401
    assert fake_slack.calls() == []  # nothing was done


def test_no_warning_at_start_with_the_bot_token_in_the_environment(
    sim, fake_slack, monkeypatch, caplog
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    with caplog.at_level(logging.INFO):
        _running, stop = start_app(sim, fake_slack.api_url)
        stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_group_without_a_list_gets_its_exact_count(app, fake_slack):
    url = fake_slack.response_url("count")
    app.command("@TGS#team", url)
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:count")]
    text = _texts(answer)
    assert "*5 online*" in text and "Team chat" in text
    assert "this is a Public group: count only" in text
    assert "Traceback" not in text


def test_is_checks_accounts_beyond_the_list_cap(app, fake_slack):
    url = fake_slack.response_url("is")
    # @TGS#big has 1,200 members: user0000, the first to join, is past the list's 1,000.
    app.command("@TGS#big is user0000, ghost,user1199", url)
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:is")]
    text = _texts(answer)
    assert "*2 of 3* are in *Friday Live*" in text
    in_group, not_in = text.split("Not in the group")
    assert "`user0000`" in in_group and "`user1199`" in in_group
    assert "`ghost`" in not_in
    assert "up to 40 s old" in text
    assert answer.get("response_type") != "in_channel"


def test_is_shows_accounts_escaped(app, fake_slack):
    url = fake_slack.response_url("is-esc")
    app.command("@TGS#small is a&lt;!channel&gt;,b&amp;c", url)  # as Slack sends < > &
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:is-esc")]
    text = _texts(answer)
    assert "<!channel>" not in text and "b&c" not in text
    assert "`a&lt;!channel&gt;`, `b&amp;c`" in text


def test_without_online_status_the_count_is_explained_and_communities_still_counted(
    fake_slack,
):
    scenario = Scenario(
        cache_seconds=0, community_refresh_seconds=0, online_status=False, faults=Faults()
    )
    with Simulator(scenario).start() as sim:
        sim.add_group("@TGS#team", "Team chat", "Public")
        sim.add_group("@TGS#_fans", "Fan club", "Community")
        sim.set_members("@TGS#_fans", _members(30, "fan"))
        running, stop = start_app(sim, fake_slack.api_url)
        try:
            running.command("@TGS#team", fake_slack.response_url("team"))
            running.command("@TGS#_fans", fake_slack.response_url("fans"))
            (team,) = [c.params for c in fake_slack.wait_for("response_url:team")]
            (fans,) = [c.params for c in fake_slack.wait_for("response_url:fans")]
        finally:
            stop()
    assert '"Group Member Online Status"' in team["text"] and "Pro edition" in team["text"]
    assert "Tencent error 10007" in team["text"]
    assert "not an audio-video group" not in team["text"]
    fans_text = _texts(fans)
    assert "*30 online*" in fans_text and "about every 4 minutes" in fans_text
    assert sim.stats().million_group_get_online_member_num.ok == 1


# -- junk is refused cheaply: 413, 401, 400, and never a traceback -------------------------------


def _no_traceback(caplog) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text


def _still_serving(app, fake_slack) -> None:
    response = app.command("help", fake_slack.response_url("alive"))
    assert response.status_code == 200
    assert "Usage of /online" in response.json()["text"]


def _chunks(total: int, size: int = 64 * 1024):
    while total > 0:
        yield b"a" * min(size, total)
        total -= size


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_1mb_gets_413_before_it_is_read(app, fake_slack, caplog, chunked):
    size = MAX_BODY_BYTES + 1
    body = _chunks(size) if chunked else b"a" * size
    response = requests.post(
        app.url + "/slack/events",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 413
    _still_serving(app, fake_slack)
    _no_traceback(caplog)


FORM = "application/x-www-form-urlencoded"
UNSIGNED_JUNK = [
    pytest.param("payload=notjson", FORM, id="payload-not-json"),
    pytest.param(urlencode({"payload": "[1]"}), FORM, id="payload-a-list"),
    pytest.param("[1]", "application/json", id="json-a-list"),
    pytest.param(b"\xff\xfe not utf-8", FORM, id="not-utf-8"),
]


@pytest.mark.parametrize(("body", "content_type"), UNSIGNED_JUNK)
@pytest.mark.parametrize(
    "timestamp", [None, "yesterday", "-5", "1e9"], ids=["now", "word", "negative", "float"]
)
def test_unsigned_junk_gets_401(app, fake_slack, caplog, body, content_type, timestamp):
    with caplog.at_level(logging.INFO):
        response = app.post(
            "/slack/events",
            body,
            content_type=content_type,
            timestamp=timestamp,
            signature="v0=" + "0" * 64,
        )
    assert response.status_code == 401
    assert fake_slack.calls() == []
    _no_traceback(caplog)
    _still_serving(app, fake_slack)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        *UNSIGNED_JUNK,
        pytest.param('"text"', "application/json", id="json-a-string"),
        pytest.param(
            urlencode({"payload": json.dumps({"type": "block_actions", "actions": 5})}),
            FORM,
            id="press-actions-a-number",
        ),
        pytest.param(
            urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{}]})}),
            FORM,
            id="press-without-action-id",
        ),
        pytest.param(
            json.dumps({"type": "event_callback", "event": 5}),
            "application/json",
            id="event-a-number",
        ),
        pytest.param(
            json.dumps({"type": "view_submission", "view": None}),
            "application/json",
            id="view-null",
        ),
    ],
)
def test_signed_but_malformed_gets_400_and_one_log_line(
    app, fake_slack, caplog, body, content_type
):
    with caplog.at_level(logging.INFO):
        response = app.post("/slack/events", body, content_type=content_type)
    assert response.status_code == 400
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "\n" not in line.getMessage() and "HTTP 400" in line.getMessage()
    _no_traceback(caplog)
    _still_serving(app, fake_slack)


def test_only_post_to_the_events_path(app):
    assert requests.get(app.url + "/slack/events", timeout=5).status_code == 404
    assert requests.post(app.url + "/elsewhere", data=b"x", timeout=5).status_code == 404
