"""Bolt listeners for ``/online`` and its buttons: ack first, then plain code.

Answers go back through ``response_url`` with retries (connection errors, 429,
5xx); a post that still fails is logged with the reason, never dropped silently.
The complete member list goes out as a CSV file (files_upload_v2): in the
channel for a public answer, in a DM with the caller for an ephemeral one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

from bot.handlers import Caller, CsvFile, Deferred, OnlineHandlers, Reply
from bot.render.alerts import ACK_ACTION, MUTE_ACTION, UNWATCH_ACTION
from bot.render.members import NEXT_PAGE_ACTION, PREVIOUS_PAGE_ACTION, Message

__all__ = ["register", "retry_handlers"]

log = logging.getLogger(__name__)

#: Slack errors that mean the bot cannot post in that conversation.
CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "access_denied"}


def retry_handlers() -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def register(app: App, handlers: OnlineHandlers, answers: Executor) -> None:
    """Listeners only ack; whatever takes longer runs on ``answers``, so that a slow
    Tencent or Slack never holds up the acknowledgement of the next request."""

    def later(work: Callable[..., None], *args: Any) -> None:
        answers.submit(_logged, work, *args)

    @app.command("/online")
    def online(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        caller = Caller(user_id=body.get("user_id", ""), channel_id=body.get("channel_id", ""))
        outcome = handlers.command(body.get("text", ""), caller)
        if isinstance(outcome, Reply):
            ack(**_payload(outcome.message, outcome.public))
            return
        ack(**_payload(outcome.ack, public=False))
        later(_finish, outcome, caller, body.get("response_url", ""), client)

    @app.action(ACK_ACTION)
    @app.action(MUTE_ACTION)
    @app.action(UNWATCH_ACTION)
    def alert_button(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        caller = Caller(
            user_id=(body.get("user") or {}).get("id", ""),
            channel_id=(body.get("channel") or {}).get("id", ""),
        )
        later(_alert, handlers, action, caller, body.get("response_url", ""))

    @app.action(NEXT_PAGE_ACTION)
    @app.action(PREVIOUS_PAGE_ACTION)
    def page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        later(_page, handlers, action.get("value", ""), body.get("response_url", ""))


def _logged(work: Callable[..., None], *args: Any) -> None:
    try:
        work(*args)
    except Exception:  # nobody waits on this future: say what happened
        log.exception("unexpected failure answering a Slack request")


def _alert(
    handlers: OnlineHandlers, action: dict[str, Any], caller: Caller, response_url: str
) -> None:
    outcome = handlers.alert_button(action.get("action_id", ""), action.get("value", ""), caller)
    if outcome is None:
        return
    payload = _payload(outcome.message, outcome.public)
    payload["replace_original"] = action.get("action_id") == ACK_ACTION and outcome.public
    _post(response_url, payload)


def _page(handlers: OnlineHandlers, value: str, response_url: str) -> None:
    outcome = handlers.page(value)
    message = outcome.message if isinstance(outcome, Reply) else outcome.message()
    _post(response_url, {**_payload(message), "replace_original": True})


def _finish(deferred: Deferred, caller: Caller, response_url: str, client: WebClient) -> None:
    outcome = deferred.work()
    if isinstance(outcome, Reply):
        _post(response_url, _payload(outcome.message, outcome.public))
        return
    note = None
    csv = outcome.csv()
    if csv is not None:
        note = _deliver_csv(client, csv, caller, outcome.public)
    payload = _payload(outcome.message(file_note=note), outcome.public)
    _post(response_url, payload)


def _deliver_csv(client: WebClient, csv: CsvFile, caller: Caller, public: bool) -> str:
    where = "in this channel" if public else "in your direct messages with the bot"
    try:
        if public:
            channel = caller.channel_id
        else:
            channel = client.conversations_open(users=caller.user_id)["channel"]["id"]
        client.files_upload_v2(
            channel=channel, content=csv.content, filename=csv.filename, title=csv.title
        )
    except SlackApiError as error:
        reason = error.response.get("error", "unknown_error")
        log.warning("could not upload %s: %s", csv.filename, reason)
        if reason in CANNOT_POST:
            return (
                f"The full list could not be attached {where} (Slack says `{reason}`): "
                "invite the bot to the channel, or page through with the buttons below."
            )
        return f"The full list could not be attached (Slack says `{reason}`); page through below."
    except SlackClientError as error:
        log.warning("could not upload %s: %s", csv.filename, type(error).__name__)
        return "The full list could not be attached (Slack did not answer); page through below."
    return f"Full list attached {where} as `{csv.filename}`."


def _payload(message: Message, public: bool = False) -> dict[str, Any]:
    return {
        "text": message.text,
        "blocks": message.blocks,
        "response_type": "in_channel" if public else "ephemeral",
    }


def _post(response_url: str, payload: dict[str, Any]) -> None:
    if not response_url:
        log.error("no response_url in the request: the answer cannot be delivered")
        return
    webhook = WebhookClient(response_url, timeout=10, retry_handlers=retry_handlers())
    try:
        response = webhook.send_dict(payload)
    except Exception as error:  # network failure after retries: record it
        log.error("could not deliver an answer to response_url: %s", type(error).__name__)
        return
    if response.status_code != 200:
        log.error(
            "Slack refused an answer on response_url: HTTP %s %s",
            response.status_code,
            response.body[:200],
        )
