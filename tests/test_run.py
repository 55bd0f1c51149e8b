"""``online-bot run`` as a real subprocess (``python -m bot run``).

Slack's Web API and response_url are the fake (``fake_slack``); with no TENCENT_* set the
bot answers from its in-process simulator and the demo groups. Each run gets a controlled
environment (no Slack, Tencent or store settings inherited) and a temporary working
directory, so no ``.env`` file is read.

Each start of ``run`` costs a second or more of CPU: where several stories need the same
settings and leave the process as they found it, one test starts it once and tells them in
turn (each a function of its own, named for what it shows).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from support.processes import STARTUP_SECONDS, STOP_SECONDS, BotProcess, bot_env, free_port
from support.slackapp import slash_command

SECRET = "run-test-signing-secret"


def _run_to_exit(tmp_path: Path, **values: str) -> subprocess.CompletedProcess[str]:
    """``run`` that is expected to stop by itself (a configuration error)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=bot_env(tmp_path, **values),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
        check=False,
    )


@pytest.fixture
def start_bot(tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """Start ``run`` with some settings; every process started is stopped at teardown.

    Processes started by one test share its data directory (XDG_DATA_HOME), so its SQLite file.
    """
    started: list[BotProcess] = []

    def start(**values: str) -> BotProcess:
        bot = BotProcess(tmp_path, f"bot{len(started)}", **values)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()


def _http_settings(fake_slack, port: int) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(port),
    }


CALLBACK_TOKEN = "run-test-callback-token"
DEMO_APP = 1400000000  # the built-in simulator's SDKAppID


def _callback(url: str, query: dict[str, str]) -> requests.Response:
    body = {
        "CallbackCommand": "Group.CallbackOnMemberStateChange",
        "GroupId": "@TGS#demo-drop",
        "EventType": "Offline",
        "EventCause": "Quit",
        "MemberList": [{"Member_Account": "jared"}],
    }
    return requests.post(url + "/tencent/callback", params=query, json=body, timeout=10)


# -- configuration errors: exit 2, one sentence, no traceback ------------------------------------


def test_missing_bot_token_says_where_to_get_one(tmp_path):
    done = _run_to_exit(tmp_path, SLACK_SIGNING_SECRET=SECRET)
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN" in done.stderr
    assert "api.slack.com/apps" in done.stderr and "OAuth & Permissions" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_rejected_bot_token_names_the_reason_not_the_token(tmp_path, fake_slack):
    done = _run_to_exit(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-bad",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake_slack.api_url,
    )
    assert done.returncode == 2
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in done.stderr
    assert "xoxb-bad" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    (call,) = fake_slack.calls("auth.test")
    assert call.token == "xoxb-bad"


def test_token_of_the_wrong_kind_names_the_variable(tmp_path, fake_slack):
    done = _run_to_exit(
        tmp_path,
        SLACK_BOT_TOKEN="xoxp-user-token",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake_slack.api_url,
    )
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN" in done.stderr and "xoxb-" in done.stderr
    assert "xoxp-user-token" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert fake_slack.calls() == []  # refused before any network call


def test_no_app_token_and_no_signing_secret_explains_both_modes(tmp_path, fake_slack):
    done = _run_to_exit(tmp_path, SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=fake_slack.api_url)
    assert done.returncode == 2
    assert "SLACK_APP_TOKEN" in done.stderr and "Socket Mode" in done.stderr
    assert "SLACK_SIGNING_SECRET" in done.stderr and "HTTP mode" in done.stderr
    assert "Traceback" not in done.stderr


# -- HTTP mode, end to end -----------------------------------------------------------------------


def test_http_mode(start_bot, fake_slack):
    """One HTTP-mode process with the defaults (no push, a SQLite file) for three stories."""
    port = free_port()
    bot = start_bot(**_http_settings(fake_slack, port))
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)
    _answers_a_slash_command(bot, fake_slack, port)
    _takes_no_callback_without_push(url)
    _a_second_process_on_the_same_sqlite_file_exits_2(bot, start_bot, fake_slack, port)


def _answers_a_slash_command(bot, fake_slack, port):
    url = f"http://127.0.0.1:{port}"
    (auth,) = fake_slack.calls("auth.test")
    assert auth.token == "xoxb-test"

    response = slash_command(url, "@TGS#demo-small", fake_slack.response_url("r"), secret=SECRET)
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert "Looking up" in ack["text"]
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:r", timeout=10)]
    assert "Office Hours" in answer["text"] + str(answer["blocks"])
    assert "@TGS#demo-small" in str(answer)

    forged = slash_command(url, "@TGS#demo-small", fake_slack.response_url("f"), secret="not-it")
    assert forged.status_code == 401
    assert fake_slack.calls("response_url:f") == []

    output = bot.output()
    assert f"HTTP mode on port {port}" in output
    assert "Connected to Slack as online-bot in Fake Team" in output
    assert "built-in simulator" in output
    assert SECRET not in output and "xoxb-test" not in output
    assert "Traceback" not in output


def _a_second_process_on_the_same_sqlite_file_exits_2(first, start_bot, fake_slack, port):
    second = start_bot(**_http_settings(fake_slack, free_port()))
    assert second.process.wait(STARTUP_SECONDS) == 2
    stderr = second.stderr()
    assert "already in use" in stderr and f"process {first.process.pid}" in stderr
    assert "PostgreSQL" in stderr
    assert "Traceback" not in stderr
    assert first.process.poll() is None  # the first one carries on
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def _takes_no_callback_without_push(url):
    from bot.tencent.callbacks import signed_query

    refused = _callback(url, signed_query(DEMO_APP, None, time.time()))
    assert refused.status_code == 404  # no push configured: no endpoint


def test_sigterm_stops_it_and_a_new_process_can_take_over(start_bot, fake_slack):
    port = free_port()
    first = start_bot(**_http_settings(fake_slack, port))
    first.wait_until_healthy(f"http://127.0.0.1:{port}")
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(STOP_SECONDS)  # raises TimeoutExpired if it hangs on
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    # the SQLite lock died with the process: a new one on the same data directory starts
    second = start_bot(**_http_settings(fake_slack, port))
    second.wait_until_healthy(f"http://127.0.0.1:{port}")


# -- Socket Mode ---------------------------------------------------------------------------------


def test_socket_mode(start_bot, fake_slack):
    """One Socket Mode process, push on (the callbacks on PORT), for two stories."""
    port = free_port()
    bot = start_bot(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_API_URL=fake_slack.api_url,
        PORT=str(port),
        TENCENT_IM_CALLBACK_TOKEN=CALLBACK_TOKEN,
    )
    _app_token_selects_socket_mode(bot, fake_slack)
    _serves_callbacks_on_port_when_push_is_on(bot, fake_slack, port)


def _app_token_selects_socket_mode(bot, fake_slack):
    # The fake answers {"ok": true} without a WebSocket URL: the SDK fails to connect and
    # retries, which is enough to see that Socket Mode was chosen with the app-level token.
    # (STARTUP_SECONDS: the start-up comes first; a bound, not a wait)
    opened = fake_slack.wait_for("apps.connections.open", timeout=STARTUP_SECONDS)
    assert {call.token for call in opened} == {"xapp-1-test"}
    (auth,) = fake_slack.calls("auth.test")
    assert auth.token == "xoxb-test"
    assert bot.process.poll() is None, bot.stderr()
    output = bot.output()
    assert "Socket Mode" in output
    assert "HTTP mode on port" not in output
    assert "xapp-1-test" not in output and "xoxb-test" not in output


def _serves_callbacks_on_port_when_push_is_on(bot, fake_slack, port):
    from bot.tencent.callbacks import signed_query

    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)
    answer = _callback(url, signed_query(DEMO_APP, CALLBACK_TOKEN, time.time()))
    assert answer.status_code == 200 and answer.json()["ActionStatus"] == "OK"
    assert requests.post(url + "/slack/events", timeout=5).status_code == 404  # Slack: Socket Mode
    fake_slack.wait_for("apps.connections.open", timeout=15)
    output = bot.output()
    assert f"POST /tencent/callback, GET /readyz, GET /healthz on port {port}" in output
    assert CALLBACK_TOKEN not in output


# -- Push: Tencent's callbacks ---------------------------------------------------------------


def test_http_mode_takes_signed_callbacks_beside_slack(start_bot, fake_slack):
    from bot.tencent.callbacks import signed_query

    port = free_port()
    bot = start_bot(**_http_settings(fake_slack, port), TENCENT_IM_CALLBACK_TOKEN=CALLBACK_TOKEN)
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)
    good = _callback(url, signed_query(DEMO_APP, CALLBACK_TOKEN, time.time()))
    assert good.status_code == 200
    assert good.json() == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert _callback(url, signed_query(DEMO_APP, "guessed", time.time())).status_code == 401
    assert _callback(url, signed_query(DEMO_APP, None, time.time())).status_code == 401
    output = bot.output()
    assert "POST /tencent/callback" in output
    assert CALLBACK_TOKEN not in output and "Traceback" not in output


def test_unsigned_callbacks_only_when_explicitly_insecure_and_with_a_warning(start_bot, fake_slack):
    from bot.tencent.callbacks import signed_query

    port = free_port()
    bot = start_bot(**_http_settings(fake_slack, port), TENCENT_IM_CALLBACK_INSECURE="1")
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)
    assert _callback(url, signed_query(DEMO_APP, None, time.time())).status_code == 200
    assert _callback(url, signed_query(DEMO_APP + 1, None, time.time())).status_code == 403
    assert "TENCENT_IM_CALLBACK_INSECURE=1" in bot.output()
    # and without either: test_http_mode, _takes_no_callback_without_push
