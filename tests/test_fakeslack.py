"""The fake Slack Web API answers the real slack_sdk clients the way Slack would."""

import json
import re
import threading
import time

import pytest
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from support.fakeslack import BOT_USER_ID, FakeSlack

BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*3* online"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Next 50"}, "value": "50"}
        ],
    },
]
METADATA = {"event_type": "audience_alert", "event_payload": {"group_id": "@TGS#a1", "rule": 7}}


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-good", base_url=fake_slack.api_url)


def test_urls_point_at_loopback(fake_slack: FakeSlack) -> None:
    assert fake_slack.base_url.startswith("http://127.0.0.1:")
    assert fake_slack.api_url == fake_slack.base_url + "/api/"
    assert fake_slack.response_url("r9") == fake_slack.base_url + "/response/r9"


def test_auth_test_answers_as_the_bot(fake_slack: FakeSlack, client: WebClient) -> None:
    answer = client.auth_test()

    assert answer["user"] == "online-bot"
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0001", "U0BOT", "B0001")
    (call,) = fake_slack.calls("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-good"
    assert call.token == "xoxb-good"


@pytest.mark.parametrize("token", ["xoxb-bad", "xoxb-revoked"])
def test_invalid_tokens_get_invalid_auth(fake_slack: FakeSlack, token: str) -> None:
    fake_slack.invalid_tokens.add("xoxb-revoked")
    client = WebClient(token=token, base_url=fake_slack.api_url)

    with pytest.raises(SlackApiError) as raised:
        client.auth_test()

    assert raised.value.response["error"] == "invalid_auth"


def test_a_request_without_token_is_not_authed(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=fake_slack.api_url).chat_postMessage(channel="C1", text="hi")

    assert raised.value.response["error"] == "not_authed"


def test_post_message_is_recorded_with_blocks_and_metadata(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    before = time.time()
    first = client.chat_postMessage(channel="C1", text="3 online", blocks=BLOCKS, metadata=METADATA)
    second = client.chat_postMessage(channel="C1", text="again")

    (call, _) = fake_slack.calls("chat.postMessage")
    assert call.params == {
        "channel": "C1",
        "text": "3 online",
        "blocks": BLOCKS,
        "metadata": METADATA,
    }
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"])
    assert before - 1 <= float(first["ts"]) <= time.time() + 1  # the time of posting, like Slack
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == BLOCKS
    assert first["channel"] == "C1"


def test_json_strings_in_form_data_are_decoded(fake_slack: FakeSlack, client: WebClient) -> None:
    client.api_call(
        "chat.postMessage",
        data={
            "channel": "C1",
            "text": "x",
            "blocks": json.dumps(BLOCKS),
            "metadata": json.dumps(METADATA),
            "attachments": "[]",
        },
    )

    (call,) = fake_slack.calls("chat.postMessage")
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.params["blocks"] == BLOCKS
    assert call.params["metadata"] == METADATA
    assert call.params["attachments"] == []


def test_multipart_bodies_are_parsed(fake_slack: FakeSlack, client: WebClient) -> None:
    client.api_call(
        "users.setPhoto",
        files={"image": b"\x89PNG"},
        data={"crop_w": "100", "blocks": json.dumps(BLOCKS)},
    )

    (call,) = fake_slack.calls("users.setPhoto")
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert call.params == {"crop_w": "100", "blocks": BLOCKS, "image": b"\x89PNG"}


def test_query_string_and_form_params_are_parsed(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.users["U1"] = {}
    client.api_call("reactions.add", params={"channel": "C1", "name": "eyes", "timestamp": "1.2"})
    client.api_call("users.info?user=U1")

    assert fake_slack.calls("reactions.add")[0].params == {
        "channel": "C1",
        "name": "eyes",
        "timestamp": "1.2",
    }
    assert fake_slack.calls("users.info")[0].params == {"user": "U1"}


def test_users_info_answers_the_configured_users(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.users["U1"] = {"tz": "Europe/Paris", "tz_offset": 3600}

    answer = client.users_info(user="U1")
    with pytest.raises(SlackApiError) as unknown:
        client.users_info(user="U2")

    assert answer["user"] == {
        "id": "U1",
        "team_id": "T0001",
        "tz": "Europe/Paris",
        "tz_offset": 3600,
    }
    assert unknown.value.response["error"] == "user_not_found"


def test_post_ephemeral_and_update(fake_slack: FakeSlack, client: WebClient) -> None:
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    posted = client.chat_postMessage(channel="C1", text="firing", metadata=METADATA)

    updated = client.chat_update(channel="C1", ts=posted["ts"], text="acknowledged", blocks=[])

    assert ephemeral["message_ts"]
    assert (updated["channel"], updated["ts"]) == ("C1", posted["ts"])
    (message,) = fake_slack.messages("C1")
    assert message["text"] == "acknowledged"
    assert message["metadata"] == METADATA


def test_ratelimited_is_surfaced_with_retry_after(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.fail_next("chat.postMessage")

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")

    response = raised.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]


def test_rate_limit_retry_handler_retries_once(fake_slack: FakeSlack, client: WebClient) -> None:
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    fake_slack.fail_next("chat.postMessage", retry_after=0)

    answer = client.chat_postMessage(channel="C1", text="hi")

    assert answer["ok"]
    assert len(fake_slack.calls("chat.postMessage")) == 2


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_in_channel", "is_archived", "account_inactive"]
)
def test_errors_answer_200_with_ok_false(
    fake_slack: FakeSlack, client: WebClient, error: str
) -> None:
    fake_slack.fail_next("chat.postMessage", error)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hi")

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error


def test_failures_are_queued_per_method(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.fail_next("chat.update", status=500, times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_update(channel="C1", ts="1.2", text="x")
        assert raised.value.response.status_code == 500
    assert client.chat_postMessage(channel="C1", text="other method unaffected")["ok"]
    assert client.chat_update(channel="C1", ts="1.2", text="x")["ok"]


def test_canned_answers_are_sent_verbatim_in_turn(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.reply_next("chat.postMessage", "{not json")
    fake_slack.reply_next("chat.postMessage", {"ok": True, "channel": "C1"})
    fake_slack.fail_next("chat.postMessage", "not_in_channel")

    with pytest.raises(json.JSONDecodeError):
        client.chat_postMessage(channel="C1", text="malformed")
    assert client.chat_postMessage(channel="C1", text="no ts").data == {"ok": True, "channel": "C1"}
    with pytest.raises(SlackApiError, match="not_in_channel"):
        client.chat_postMessage(channel="C1", text="refused")
    assert client.chat_postMessage(channel="C1", text="normal again")["ts"]
    assert len(fake_slack.calls("chat.postMessage")) == 4
    assert [m["text"] for m in fake_slack.messages("C1")] == ["normal again"]


def test_files_upload_v2_goes_through_all_three_steps(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    answer = client.files_upload_v2(
        channel="C1",
        content="a,b\n",
        filename="x.csv",
        title="Members of @TGS#a1",
        initial_comment="42 online",
    )

    assert answer["file"]["title"] == "Members of @TGS#a1"
    methods = [c.method for c in fake_slack.calls()]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert fake_slack.calls("files.getUploadURLExternal")[0].params == {
        "filename": "x.csv",
        "length": "4",
    }
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.file_id == answer["file"]["id"]
    assert (uploaded.filename, uploaded.title) == ("x.csv", "Members of @TGS#a1")
    assert uploaded.content == b"a,b\n"
    assert (uploaded.channel_id, uploaded.initial_comment) == ("C1", "42 online")


def test_a_file_shared_in_a_thread_is_listed_there_as_slack_lists_it(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel="C1", text="alert")["ts"]
    answer = client.files_upload_v2(
        channel="C1", thread_ts=parent, content=b"png", filename="c.png", title="Chart"
    )

    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert replies[0]["ts"] == parent
    (shared,) = replies[1:]
    assert shared["thread_ts"] == parent and shared["upload"] is True
    assert shared["files"] == [{"id": answer["file"]["id"], "name": "c.png", "title": "Chart"}]
    assert fake_slack.uploaded_files()[0].thread_ts == parent
    assert [m["ts"] for m in client.conversations_history(channel="C1")["messages"]] == [parent]


def test_csv_in_a_dm_opened_with_conversations_open(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    dm = client.conversations_open(users="U123")["channel"]["id"]
    client.files_upload_v2(channel=dm, content=b"id\nu1\n", filename="m.csv", title="m.csv")

    assert dm == "DU123"
    assert fake_slack.uploaded_files()[0].channel_id == "DU123"


def test_failed_completion_shares_nothing(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.fail_next("files.completeUploadExternal", "not_in_channel")

    with pytest.raises(SlackApiError):
        client.files_upload_v2(channel="C1", content="a\n", filename="x.csv", title="x")

    assert fake_slack.uploaded_files() == []


def test_response_url_posts_are_recorded(fake_slack: FakeSlack) -> None:
    webhook = WebhookClient(fake_slack.response_url("r1"))

    answer = webhook.send(text="3 online", blocks=BLOCKS, response_type="ephemeral")

    assert (answer.status_code, answer.body) == (200, "ok")
    (call,) = fake_slack.wait_for("response_url:r1")
    assert call.params == {"text": "3 online", "blocks": BLOCKS, "response_type": "ephemeral"}
    assert fake_slack.responses("r1") == [call.params]
    assert fake_slack.responses("r2") == []
    assert fake_slack.responses() == [call.params]


def test_bolt_respond_posts_json_to_the_response_url(fake_slack: FakeSlack) -> None:
    respond = Respond(response_url=fake_slack.response_url("r2"))

    respond(text="3 online", response_type="ephemeral", replace_original=False)

    assert fake_slack.responses("r2") == [
        {"text": "3 online", "response_type": "ephemeral", "replace_original": False}
    ]


@pytest.mark.parametrize(
    ("kwargs", "status", "body"),
    [
        ({}, 429, "ratelimited"),
        ({"error": "expired_url"}, 404, "expired_url"),
        ({"error": "invalid_blocks"}, 400, "invalid_blocks"),
        ({"status": 500}, 500, "fatal_error"),
    ],
)
def test_response_url_failures(fake_slack: FakeSlack, kwargs: dict, status: int, body: str) -> None:
    fake_slack.fail_next("response_url:r1", **kwargs)
    webhook = WebhookClient(fake_slack.response_url("r1"))

    answer = webhook.send(text="x")

    assert (answer.status_code, answer.body) == (status, body)
    assert webhook.send(text="y").status_code == 200


def test_history_returns_posted_messages_newest_first(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    alert = client.chat_postMessage(channel="C1", text="alert", metadata=METADATA)
    client.chat_postMessage(channel="C1", text="resolved", thread_ts=alert["ts"])
    later = client.chat_postMessage(channel="C1", text="later")
    client.chat_postMessage(channel="C2", text="elsewhere")

    with_metadata = client.conversations_history(channel="C1", include_all_metadata=True)
    without = client.conversations_history(channel="C1")
    after_alert = client.conversations_history(channel="C1", oldest=alert["ts"])
    newest_only = client.conversations_history(channel="C1", limit=1)

    assert [m["text"] for m in with_metadata["messages"]] == ["later", "alert"]
    assert with_metadata["messages"][1]["metadata"] == METADATA
    assert with_metadata["messages"][1]["reply_count"] == 1
    assert with_metadata["messages"][1]["user"] == BOT_USER_ID
    assert all("metadata" not in m for m in without["messages"])
    assert [m["ts"] for m in after_alert["messages"]] == [later["ts"]]
    assert [m["text"] for m in newest_only["messages"]] == ["later"]
    assert newest_only["has_more"] is True
    replies = client.conversations_replies(channel="C1", ts=alert["ts"])
    assert [m["text"] for m in replies["messages"]] == ["alert", "resolved"]


def test_usergroup_membership_is_configurable(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.usergroups = {"S123": ["U1", "U2"]}

    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as raised:
        client.usergroups_users_list(usergroup="S404")
    assert raised.value.response["error"] == "no_such_subteam"


def test_other_methods_answer_ok(fake_slack: FakeSlack, client: WebClient) -> None:
    assert client.reactions_add(channel="C1", name="eyes", timestamp="1.2")["ok"]
    assert fake_slack.calls("reactions.add")[0].params["name"] == "eyes"


def test_wait_for_returns_once_calls_arrive_from_another_thread(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    def post_three() -> None:
        for n in range(3):
            client.chat_postMessage(channel="C1", text=str(n))

    poster = threading.Thread(target=post_three)
    poster.start()
    try:
        calls = fake_slack.wait_for("chat.postMessage", count=3)
    finally:
        poster.join()

    assert [c.params["text"] for c in calls] == ["0", "1", "2"]
    assert calls[0].time <= calls[1].time <= calls[2].time


def test_wait_for_timeout_says_what_arrived(fake_slack: FakeSlack, client: WebClient) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        fake_slack.wait_for("chat.postMessage", timeout=0.05)


def test_reset_forgets_calls_and_state(fake_slack: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="x")
    fake_slack.fail_next("auth.test", "invalid_auth")

    fake_slack.reset()

    assert fake_slack.calls() == []
    assert fake_slack.messages() == []
    assert client.auth_test()["ok"]


def test_stop_is_idempotent_and_context_manager_starts() -> None:
    with FakeSlack() as fake:
        assert WebClient(token="xoxb-t", base_url=fake.api_url).auth_test()["ok"]
    fake.stop()


# -- views: the App Home tab and modals ----------------------------------------------------

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
MODAL = {
    "type": "modal",
    "callback_id": "c",
    "title": {"type": "plain_text", "text": "Look up a group"},
    "submit": {"type": "plain_text", "text": "Look up"},
    "blocks": [
        {
            "type": "input",
            "block_id": "g",
            "label": {"type": "plain_text", "text": "Group ID"},
            "element": {"type": "plain_text_input", "action_id": "g"},
        }
    ],
}


def test_views_publish_keeps_each_users_home(fake_slack: FakeSlack, client: WebClient) -> None:
    first = client.views_publish(user_id="U1", view={"type": "home", "blocks": [SECTION]})
    client.views_publish(user_id="U2", view={"type": "home", "blocks": [SECTION] * 2})
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [SECTION] * 3})

    assert first["view"]["id"].startswith("V") and first["view"]["hash"]
    assert len(fake_slack.home_view("U1")["blocks"]) == 3
    assert len(fake_slack.home_view("U2")["blocks"]) == 2
    assert fake_slack.home_view("U3") is None
    assert [c.params["user_id"] for c in fake_slack.calls("views.publish")] == ["U1", "U2", "U1"]


@pytest.mark.parametrize(
    ("view", "why"),
    [
        ({"type": "home", "blocks": [SECTION] * 101}, "at most 100"),
        ({"type": "modal", "blocks": [SECTION]}, "a home view"),
        ({"type": "home", "blocks": [SECTION], "private_metadata": "x" * 3001}, "3000"),
    ],
)
def test_views_publish_refuses_what_slack_would(
    fake_slack: FakeSlack, client: WebClient, view: dict, why: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id="U1", view=view)
    assert refused.value.response["error"] == "invalid_arguments"
    assert why in refused.value.response["response_metadata"]["messages"][0]
    assert fake_slack.home_view("U1") is None


def test_views_open_needs_a_trigger_and_a_modal_slack_takes(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    assert client.views_open(trigger_id="1.2.3", view=MODAL)["view"]["callback_id"] == "c"
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="", view=MODAL)
    assert refused.value.response["error"] == "invalid_trigger_id"
    for wrong in (
        {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}},
        {key: value for key, value in MODAL.items() if key != "submit"},  # an input needs it
        {**MODAL, "blocks": [SECTION] * 101},
    ):
        with pytest.raises(SlackApiError) as refused:
            client.views_open(trigger_id="1.2.3", view=wrong)
        assert refused.value.response["error"] == "invalid_arguments"
    assert len(fake_slack.calls("views.open")) == 5


def test_views_update_needs_the_view(fake_slack: FakeSlack, client: WebClient) -> None:
    assert client.views_update(view_id="V1", view=MODAL)["ok"] is True
    with pytest.raises(SlackApiError) as refused:
        client.api_call("views.update", json={"view": MODAL})
    assert refused.value.response["error"] == "invalid_arguments"


def test_socket_mode_sends_envelopes_and_records_the_acks(fake_slack):
    from slack_sdk import WebClient
    from slack_sdk.socket_mode import SocketModeClient
    from slack_sdk.socket_mode.response import SocketModeResponse

    fake_slack.socket_mode = True
    opener = WebClient(base_url=fake_slack.api_url)
    client = SocketModeClient(app_token="xapp-1-test", web_client=opener)

    def shout(connected, request) -> None:
        answer = {"text": request.payload["text"].upper()}
        connected.send_socket_mode_response(SocketModeResponse(request.envelope_id, answer))

    client.socket_mode_request_listeners.append(shout)
    client.connect()
    try:
        assert fake_slack.socket_event("slash_commands", {"text": "hi"}) == {"text": "HI"}
        assert fake_slack.socket_event("slash_commands", {"text": "again"}) == {"text": "AGAIN"}
    finally:
        client.close()
    (opened,) = fake_slack.calls("apps.connections.open")
    assert opened.token == "xapp-1-test"
    assert len(fake_slack.calls("socket_mode:ack")) == 2
