"""Bolt listeners for ``/online`` and its buttons: ack first, then plain code.

Answers go back through ``response_url`` with retries (connection errors, 429,
5xx); a post that still fails is logged with the reason, never dropped silently.
The complete member list goes out as a CSV file (files_upload_v2): in the
channel for a public answer, in a DM with the caller for an ephemeral one.
Whatever stops the file (a Slack error, no answer in time, an answer that cannot
be read, anything unexpected), the answer still goes out, saying why the file is
missing. An unexpected failure anywhere after the ack is answered with one
sentence and the reference it is logged under.
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

from bot.handlers import Caller, CsvFile, Deferred, OnlineHandlers, Reply, unexpected
from bot.logs import log_unexpected
from bot.render.alerts import ACK_ACTION, MUTE_ACTION, UNWATCH_ACTION
from bot.render.blocks import Message
from bot.render.members import NEXT_PAGE_ACTION, PREVIOUS_PAGE_ACTION, render_error
from bot.slack.errors import UnreadableAnswer, error_code

__all__ = ["deliver_csv", "open_dm", "register", "retry_handlers"]

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

    def later(work: Callable[..., None], response_url: str, *args: Any) -> None:
        answers.submit(_logged, work, response_url, *args)

    @app.command("/online")
    def online(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        caller = Caller(user_id=body.get("user_id", ""), channel_id=body.get("channel_id", ""))
        outcome = handlers.command(body.get("text", ""), caller)
        if isinstance(outcome, Reply):
            ack(**_payload(outcome.message, outcome.public))
            return
        ack(**_payload(outcome.ack, public=False))
        later(_finish, body.get("response_url", ""), outcome, caller, client)

    @app.action(ACK_ACTION)
    @app.action(MUTE_ACTION)
    @app.action(UNWATCH_ACTION)
    def alert_button(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        caller = Caller(
            user_id=(body.get("user") or {}).get("id", ""),
            channel_id=(body.get("channel") or {}).get("id", ""),
        )
        later(_alert, body.get("response_url", ""), handlers, action, caller)

    @app.action(NEXT_PAGE_ACTION)
    @app.action(PREVIOUS_PAGE_ACTION)
    def page(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        later(_page, body.get("response_url", ""), handlers, action.get("value", ""))


def _logged(work: Callable[..., None], response_url: str, *args: Any) -> None:
    """``work(response_url, *args)``; if it fails unexpectedly, log it and tell the user."""
    try:
        work(response_url, *args)
    except Exception:  # nobody waits on this future: log it, and never leave the user waiting
        ref = log_unexpected(log, "unexpected failure answering a Slack request")
        _post(response_url, _payload(render_error(unexpected(ref))))


def _alert(
    response_url: str, handlers: OnlineHandlers, action: dict[str, Any], caller: Caller
) -> None:
    outcome = handlers.alert_button(action.get("action_id", ""), action.get("value", ""), caller)
    if outcome is None:
        return
    payload = _payload(outcome.message, outcome.public)
    payload["replace_original"] = action.get("action_id") == ACK_ACTION and outcome.public
    _post(response_url, payload)


def _page(response_url: str, handlers: OnlineHandlers, value: str) -> None:
    outcome = handlers.page(value)
    message = outcome.message if isinstance(outcome, Reply) else outcome.message()
    _post(response_url, {**_payload(message), "replace_original": True})


def _finish(response_url: str, deferred: Deferred, caller: Caller, client: WebClient) -> None:
    outcome = deferred.work()
    if isinstance(outcome, Reply):
        _post(response_url, _payload(outcome.message, outcome.public))
        return
    note = None
    csv = outcome.csv()
    if csv is not None:
        note = deliver_csv(client, csv, caller, outcome.public)
    payload = _payload(outcome.message(file_note=note), outcome.public)
    _post(response_url, payload)


def deliver_csv(client: WebClient, csv: CsvFile, caller: Caller, public: bool) -> str:
    """Upload the CSV; the note the answer shows, saying where it went or why it did not."""
    where = "in this channel" if public else "in your direct messages with the bot"
    try:
        channel = caller.channel_id if public else open_dm(client, caller.user_id)
        client.files_upload_v2(
            channel=channel, content=csv.content, filename=csv.filename, title=csv.title
        )
    except SlackApiError as error:
        reason = error_code(error)
        log.warning("could not upload %s: %s", csv.filename, reason or "unreadable answer")
        if reason in CANNOT_POST:
            return (
                f"The full list could not be attached {where} (Slack says `{reason}`): "
                "invite the bot to the channel, or page through with the buttons below."
            )
        if reason is None:
            return _not_attached("Slack's answer could not be read")
        return _not_attached(f"Slack says `{reason}`")
    except TimeoutError:
        log.warning("could not upload %s: Slack did not answer in time", csv.filename)
        return _not_attached("Slack did not answer in time")
    except (SlackClientError, OSError) as error:
        log.warning("could not upload %s: %s", csv.filename, type(error).__name__)
        return _not_attached("Slack could not be reached")
    except ValueError as error:  # malformed JSON, an answer without what we asked for
        log.warning("could not upload %s: unreadable answer (%s)", csv.filename, error)
        return _not_attached("Slack's answer could not be read")
    except Exception:
        ref = log_unexpected(log, f"unexpected failure uploading {csv.filename}")
        return _not_attached(f"something went wrong inside the bot, ref {ref}")
    return f"Full list attached {where} as `{csv.filename}`."


def open_dm(client: WebClient, user_id: str) -> str:
    """The ID of the bot's DM with ``user_id`` (conversations.open)."""
    channel = client.conversations_open(users=user_id).get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if not isinstance(channel_id, str) or not channel_id:
        raise UnreadableAnswer("conversations.open answered without a channel")
    return channel_id


def _not_attached(why: str) -> str:
    return f"The full list could not be attached ({why}); page through with the buttons below."


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
