"""A running HTTP-mode Slack app over the simulator and the fake Slack Web API, for tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from slack_sdk import WebClient

from bot.alerts.history import HistoryReader
from bot.handlers import OnlineHandlers
from bot.metrics import Metrics
from bot.simulator import Simulator
from bot.slack.home_refresh import HomeRefresh
from bot.slack.metered import MeteredWebClient
from bot.slack.serve import build_app, wsgi_app
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Watches
from support.serving import serve
from support.waiting import wait_until

SIGNING_SECRET = "test-signing-secret"


def sign(body: str | bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    raw = body if isinstance(body, bytes) else body.encode()
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slash_body(text: str, response_url: str, *, user: str = "U1", channel: str = "C1") -> str:
    """The form body Slack posts for ``/online text``."""
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0001",
            "channel_id": channel,
            "user_id": user,
            "user_name": "ada",
            "command": "/online",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def post_signed(
    url: str,
    body: str | bytes,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | str | None = None,
    signature: str | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    session: requests.Session | None = None,
) -> requests.Response:
    """POST ``body`` to ``url`` as Slack does, signed with ``secret`` (or with ``signature``
    as given; a timestamp that is no number gets a dummy one)."""
    ts = int(time.time()) if timestamp is None else timestamp
    raw = body if isinstance(body, bytes) else body.encode()
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature
        or (sign(raw, ts, secret) if isinstance(ts, int) else "v0=0"),
    }
    return (session or requests).post(url, data=raw, headers=headers, timeout=10)


def slash_command(
    base_url: str, text: str, response_url: str, *, secret: str = SIGNING_SECRET, **kwargs: Any
) -> requests.Response:
    """``/online text`` posted to a running app at ``base_url`` (its /slack/events), signed
    with ``secret``; ``kwargs`` as `post_signed` takes them."""
    body = slash_body(text, response_url)
    return post_signed(base_url + "/slack/events", body, secret=secret, **kwargs)


def _button(action_id: str, value: str) -> dict[str, str]:
    """The button a ``block_actions`` payload says was pressed."""
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": "b",
        "value": value,
        "action_ts": "1",
    }


@dataclass
class RunningApp:
    url: str
    handlers: OnlineHandlers
    session: requests.Session

    def post(
        self,
        path: str,
        body: str | bytes,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> requests.Response:
        return post_signed(
            self.url + path,
            body,
            timestamp=timestamp,
            signature=signature,
            content_type=content_type,
            session=self.session,
        )

    def command(
        self, text: str, response_url: str, *, user: str = "U1", channel: str = "C1", **kwargs: Any
    ) -> requests.Response:
        body = slash_body(text, response_url, user=user, channel=channel)
        return self.post("/slack/events", body, **kwargs)

    def press(
        self,
        action_id: str,
        value: str,
        response_url: str,
        *,
        user: str = "U1",
        channel: str = "C1",
    ) -> requests.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": "T0001"},
            "user": {"id": user},
            "channel": {"id": channel},
            "response_url": response_url,
            "trigger_id": "1.2.3",
            "container": {"type": "message"},
            "api_app_id": "A1",
            "token": "legacy",
            "actions": [_button(action_id, value)],
        }
        return self.post("/slack/events", urlencode({"payload": json.dumps(payload)}))

    def event(self, event: dict[str, Any]) -> requests.Response:
        """An Events API callback (JSON), as Slack sends ``app_home_opened``."""
        body = {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
        return self.post("/slack/events", json.dumps(body), content_type="application/json")

    def open_home(self, user: str = "U1") -> requests.Response:
        """The user opens the bot's Home tab."""
        return self.event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user}",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            }
        )

    def press_in_view(
        self, action_id: str, value: str, view: dict[str, Any], *, user: str = "U1"
    ) -> requests.Response:
        """A button pressed in a view (the Home tab, as published): no channel, no
        response_url; the view, its private_metadata included, comes with it."""
        payload = {
            "type": "block_actions",
            "team": {"id": "T0001"},
            "user": {"id": user},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "container": {"type": "view", "view_id": view.get("id", "V1")},
            "view": view,
            "actions": [_button(action_id, value)],
        }
        return self.post("/slack/events", urlencode({"payload": json.dumps(payload)}))

    def submit_view(
        self, view: dict[str, Any], values: dict[str, str | None], *, user: str = "U1"
    ) -> requests.Response:
        """A modal submitted with ``values`` typed in its inputs (block_id = action_id, as the
        bot's modals have them; None: left empty)."""
        state = {
            name: {name: {"type": "plain_text_input", "value": value}}
            for name, value in values.items()
        }
        payload = {
            "type": "view_submission",
            "team": {"id": "T0001"},
            "user": {"id": user},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "view": {**view, "state": {"values": state}},
        }
        return self.post("/slack/events", urlencode({"payload": json.dumps(payload)}))


def start_app(
    sim: Simulator,
    api_url: str,
    watches: Watches | None = None,
    *,
    slack_timeout: int = 30,
    history: HistoryReader | None = None,
    metrics: Metrics | None = None,
    home_refresh: HomeRefresh | None = None,
):
    """Start the app (with ``watches``, the watch commands and alert buttons too; with
    ``history``, /online history; its Web API client gives up after ``slack_timeout``
    seconds; with ``metrics``, its Slack calls are counted; with ``home_refresh``, the Homes
    used are published again as it is told of changes); returns (RunningApp, stop)."""
    tencent = TencentClient(
        sdkappid=sim.scenario.sdkappid,
        secret_key=sim.scenario.secret_key,
        base_url=sim.url,
        rate_limits=RateLimits(sim.scenario.rate_limit),
    )
    handlers = OnlineHandlers(tencent, watches, history=history)
    if metrics is None:
        client = WebClient(token="xoxb-test", base_url=api_url, timeout=slack_timeout)
    else:
        client = MeteredWebClient(
            token="xoxb-test", base_url=api_url, timeout=slack_timeout, metrics=metrics
        )
    app = build_app(handlers, client, metrics=metrics, home_refresh=home_refresh)
    serving = serve(wsgi_app(app, SIGNING_SECRET))
    # Waitress counts its threads busy until each first waits for a task; a request that
    # came sooner would be logged as queued ("Task queue depth is 1"), and tests count the
    # warnings logged. Ready means every thread idle.
    dispatcher = serving.server.task_dispatcher
    wait_until(lambda: dispatcher.active_count == 0, timeout=10, what="waitress's threads idle")
    session = requests.Session()
    running = RunningApp(serving.url, handlers, session)

    def stop() -> None:
        if home_refresh is not None:
            home_refresh.close()
        session.close()
        serving.stop()
        handlers.close()
        tencent.close()

    return running, stop
