"""What each port serves (``bot.slack.transport.ports``), in each mode."""

from __future__ import annotations

import pytest

from bot.readiness import READY_PATH
from bot.settings import load_settings
from bot.slack.transport import ports

CALLBACKS = {"/tencent/callback": "callbacks"}
STATUS = {"/metrics": "metrics", READY_PATH: "readyz"}
HTTP = {"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_SIGNING_SECRET": "s", "PORT": "3000"}
SOCKET = {"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_APP_TOKEN": "xapp-t", "PORT": "3000"}


def layout(env, callbacks):
    served = ports(load_settings(env), callbacks, STATUS)
    return {port: sorted(routes) for port, routes in served.items()}


@pytest.mark.parametrize(
    ("env", "callbacks", "expected"),
    [
        # HTTP mode: all on PORT, unless METRICS_PORT takes /metrics (and /readyz too)
        (HTTP, {}, {3000: ["/metrics", READY_PATH]}),
        (HTTP, CALLBACKS, {3000: ["/metrics", READY_PATH, "/tencent/callback"]}),
        (
            {**HTTP, "METRICS_PORT": "9100"},
            CALLBACKS,
            {3000: [READY_PATH, "/tencent/callback"], 9100: ["/metrics", READY_PATH]},
        ),
        ({**HTTP, "METRICS_PORT": "3000"}, {}, {3000: ["/metrics", READY_PATH]}),
        # Socket Mode: nothing without push or METRICS_PORT
        (SOCKET, {}, {}),
        (SOCKET, CALLBACKS, {3000: [READY_PATH, "/tencent/callback"]}),
        ({**SOCKET, "METRICS_PORT": "9100"}, {}, {9100: ["/metrics", READY_PATH]}),
        (
            {**SOCKET, "METRICS_PORT": "9100"},
            CALLBACKS,
            {3000: [READY_PATH, "/tencent/callback"], 9100: ["/metrics", READY_PATH]},
        ),
        (
            {**SOCKET, "METRICS_PORT": "3000"},
            CALLBACKS,
            {3000: ["/metrics", READY_PATH, "/tencent/callback"]},
        ),
    ],
)
def test_each_port_serves(env, callbacks, expected):
    assert layout(env, callbacks) == expected


def test_a_users_zone_for_a_digest_is_slacks_or_none(fake_slack) -> None:
    from zoneinfo import ZoneInfo

    from slack_sdk import WebClient

    from bot.slack.transport import SlackTransport

    fake_slack.users = {"UPARIS": {"tz": "Europe/Paris"}, "UNOZONE": {}}
    client = WebClient(token="xoxb-t", base_url=fake_slack.api_url)
    transport = SlackTransport(load_settings(HTTP), client, say=lambda _: None)
    assert transport.user_zone("UPARIS") == ZoneInfo("Europe/Paris")
    assert transport.user_zone("UNOZONE") is None  # no zone in the profile: UTC, said so
    fake_slack.fail_next("users.info", "missing_scope")
    assert transport.user_zone("UOTHER") is None
