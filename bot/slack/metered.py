"""Slack clients that count their calls, by method and outcome, into the bot's metrics
(``online_bot_slack_calls_total``): the Web API client, and the poster of the answers to a
command or a button on its ``response_url`` (method ``response_url``).

Every Web API method of slack_sdk's ``WebClient`` goes through ``api_call`` (files_upload_v2
through its two methods), every response_url post through ``WebhookClient.send_dict``; a
call is counted once, after the client's own retries.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot.metrics import Metrics
from bot.slack.errors import error_code

__all__ = [
    "RESPONSE_URL",
    "MeteredWebClient",
    "MeteredWebhookClient",
    "outcome_of",
    "request_id_of",
    "status_outcome",
]

#: The method label of the posts to a response_url.
RESPONSE_URL = "response_url"


class MeteredWebClient(WebClient):
    """A ``WebClient`` (same arguments) whose calls are counted into ``metrics``."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        outcome = "no_answer"  # network errors, timeouts: whatever raises but SlackApiError
        try:
            response = super().api_call(api_method, **kwargs)
            outcome = "ok"
            return response
        except SlackApiError as error:
            outcome = outcome_of(error)
            raise
        except ValueError:  # a body that is not JSON
            outcome = "unreadable"
            raise
        finally:
            self.metrics.slack_calls.labels(api_method, outcome).inc()


class MeteredWebhookClient(WebhookClient):
    """A ``WebhookClient`` (same arguments) for a ``response_url``, whose posts are counted
    into ``metrics`` (None: not counted) as method ``response_url``."""

    def __init__(self, *args: Any, metrics: Metrics | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def send_dict(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> WebhookResponse:
        outcome = "no_answer"  # network errors, timeouts: whatever raises
        try:
            response = super().send_dict(body, headers)
            outcome = status_outcome(response.status_code)
            return response
        finally:
            if self.metrics is not None:
                self.metrics.slack_calls.labels(RESPONSE_URL, outcome).inc()


def status_outcome(status: int) -> str:
    """A plain-text answer's outcome by its HTTP status: ``ok`` (200), ``ratelimited``
    (429), ``server_error`` (5xx), else ``error`` (Slack's reason in the body, e.g.
    ``expired_url``)."""
    if status == 200:
        return "ok"
    if status == 429:
        return "ratelimited"
    return "server_error" if status >= 500 else "error"


def outcome_of(error: SlackApiError) -> str:
    """What a failed call's answer was: ``ratelimited`` (HTTP 429), ``server_error`` (HTTP
    5xx), ``error`` (Slack's code) or ``unreadable``."""
    status = getattr(error.response, "status_code", 200)
    if status == 429:
        return "ratelimited"
    if status >= 500:
        return "server_error"
    return "error" if error_code(error) is not None else "unreadable"


def request_id_of(error: SlackApiError) -> str | None:
    """Slack's id for the request (its ``x-slack-req-id`` header), to quote to Slack."""
    headers = getattr(error.response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "x-slack-req-id":
            return str(value)
    return None
