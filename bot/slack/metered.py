"""A Slack Web API client that counts its calls, by method and outcome, into the bot's
metrics (``online_bot_slack_calls_total``).

Every Web API method of slack_sdk's ``WebClient`` goes through ``api_call`` (files_upload_v2
through its two methods); a call is counted once, after the client's own retries.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.metrics import Metrics
from bot.slack.errors import error_code

__all__ = ["MeteredWebClient", "outcome_of", "request_id_of"]


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
