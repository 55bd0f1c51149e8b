"""Bolt listeners for ``/online`` and its buttons: ack first, then plain code.

Answers go back through ``response_url`` with retries (connection errors, 429,
5xx); a post that still fails is logged with the reason, never dropped silently.
The complete member list goes out as a CSV file (files_upload_v2): in the
channel for a public answer, in a DM with the caller for an ephemeral one.
Whatever stops the file (a Slack error, no answer in time, an answer that cannot
be read, anything unexpected), the answer still goes out, saying why the file is
missing. A history's chart goes the same way, as a PNG drawn in the caller's time
zone (users.info); when it cannot be drawn or attached, the answer's text stands in
for it (a sparkline, min, max, last) and says why. An unexpected failure anywhere
after the ack is answered with one sentence and the reference it is logged under.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
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

from bot.drawing import DrawingFailed
from bot.handlers import (
    Caller,
    CsvFile,
    Deferred,
    HistoryAnswer,
    OnlineHandlers,
    Reply,
    unexpected,
)
from bot.logs import log_unexpected
from bot.metrics import Metrics
from bot.render.alerts import ACK_ACTION, MUTE_ACTION, UNWATCH_ACTION
from bot.render.blocks import Message
from bot.render.members import NEXT_PAGE_ACTION, PREVIOUS_PAGE_ACTION, render_error
from bot.slack.errors import UnreadableAnswer, error_code
from bot.slack.metered import MeteredWebhookClient
from bot.slack.userzones import UserZones

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


def register(
    app: App, handlers: OnlineHandlers, answers: Executor, metrics: Metrics | None = None
) -> None:
    """Listeners only ack; whatever takes longer runs on ``answers``, so that a slow
    Tencent or Slack never holds up the acknowledgement of the next request. The posts to
    the requests' response_url are counted into ``metrics``."""

    zones = UserZones()

    def later(work: Callable[..., None], response_url: str, *args: Any) -> None:
        answers.submit(_logged, work, _ResponseUrl(response_url, metrics), *args)

    @app.command("/online")
    def online(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        caller = Caller(user_id=body.get("user_id", ""), channel_id=body.get("channel_id", ""))
        outcome = handlers.command(body.get("text", ""), caller)
        if isinstance(outcome, Reply):
            ack(**_payload(outcome.message, outcome.public))
            return
        ack(**_payload(outcome.ack, public=False))
        later(_finish, body.get("response_url", ""), outcome, caller, client, zones)

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


@dataclass(frozen=True, slots=True)
class _ResponseUrl:
    """Where a request's answers go (Slack's ``response_url``), each post counted into
    ``metrics``."""

    url: str
    metrics: Metrics | None


def _logged(work: Callable[..., None], response_url: _ResponseUrl, *args: Any) -> None:
    """``work(response_url, *args)``; if it fails unexpectedly, log it and tell the user."""
    try:
        work(response_url, *args)
    except Exception:  # nobody waits on this future: log it, and never leave the user waiting
        ref = log_unexpected(log, "unexpected failure answering a Slack request")
        _post(response_url, _payload(render_error(unexpected(ref))))


def _alert(
    response_url: _ResponseUrl, handlers: OnlineHandlers, action: dict[str, Any], caller: Caller
) -> None:
    outcome = handlers.alert_button(action.get("action_id", ""), action.get("value", ""), caller)
    if outcome is None:
        return
    payload = _payload(outcome.message, outcome.public)
    payload["replace_original"] = action.get("action_id") == ACK_ACTION and outcome.public
    _post(response_url, payload)


def _page(response_url: _ResponseUrl, handlers: OnlineHandlers, value: str) -> None:
    outcome = handlers.page(value)
    message = outcome.message if isinstance(outcome, Reply) else outcome.message()
    _post(response_url, {**_payload(message), "replace_original": True})


def _finish(
    response_url: _ResponseUrl,
    deferred: Deferred,
    caller: Caller,
    client: WebClient,
    zones: UserZones,
) -> None:
    outcome = deferred.work()
    if isinstance(outcome, Reply):
        _post(response_url, _payload(outcome.message, outcome.public))
        return
    if isinstance(outcome, HistoryAnswer):
        message = _chart_answer(outcome, caller, client, zones)
        _post(response_url, _payload(message, outcome.public))
        return
    note = None
    csv = outcome.csv()
    if csv is not None:
        note = deliver_csv(client, csv, caller, outcome.public)
    payload = _payload(outcome.message(file_note=note), outcome.public)
    _post(response_url, payload)


def _chart_answer(
    answer: HistoryAnswer, caller: Caller, client: WebClient, zones: UserZones
) -> Message:
    """Draw the chart in the caller's zone and upload it; the answer says where it went,
    or stands in for it and says why not."""
    zone, zone_note = zones.zone(client, caller.user_id)
    try:
        chart = answer.chart(zone)
    except DrawingFailed as error:
        note = f"The chart could not be drawn ({error}); the counts below stand in for it."
        return answer.message(chart_note=note, zone_note=zone_note, attached=False)
    where = "in this channel" if answer.public else "in your direct messages with the bot"
    failed = _upload(
        client,
        caller,
        answer.public,
        filename=chart.filename,
        title=chart.title,
        content=chart.content,
        alt_text=chart.alt_text,
    )
    if failed is None:
        note = f"Chart attached {where} as `{chart.filename}`."
    elif failed.cannot_post:
        note = (
            f"The chart could not be attached {where} ({failed.why}): invite the bot to the "
            "channel; meanwhile the counts below stand in for it."
        )
    else:
        note = f"The chart could not be attached ({failed.why}); the counts below stand in for it."
    return answer.message(chart_note=note, zone_note=zone_note, attached=failed is None)


def deliver_csv(client: WebClient, csv: CsvFile, caller: Caller, public: bool) -> str:
    """Upload the CSV; the note the answer shows, saying where it went or why it did not."""
    where = "in this channel" if public else "in your direct messages with the bot"
    failed = _upload(
        client, caller, public, filename=csv.filename, title=csv.title, content=csv.content
    )
    if failed is None:
        return f"Full list attached {where} as `{csv.filename}`."
    if failed.cannot_post:
        return (
            f"The full list could not be attached {where} ({failed.why}): "
            "invite the bot to the channel, or page through with the buttons below."
        )
    return _not_attached(failed.why)


@dataclass(frozen=True, slots=True)
class _NotUploaded:
    why: str  # "Slack says `not_in_channel`", "Slack did not answer in time"...
    cannot_post: bool  # Slack will not let the bot post there (CANNOT_POST)


def _upload(
    client: WebClient,
    caller: Caller,
    public: bool,
    *,
    filename: str,
    title: str,
    content: str | bytes,
    alt_text: str | None = None,
) -> _NotUploaded | None:
    """Upload a file (files_upload_v2) to the channel, or to the caller's DM with the bot;
    None when it went, else why not."""
    try:
        channel = caller.channel_id if public else open_dm(client, caller.user_id)
        client.files_upload_v2(
            channel=channel, content=content, filename=filename, title=title, alt_txt=alt_text
        )
    except SlackApiError as error:
        reason = error_code(error)
        log.warning("could not upload %s: %s", filename, reason or "unreadable answer")
        if reason is None:
            return _NotUploaded("Slack's answer could not be read", cannot_post=False)
        return _NotUploaded(f"Slack says `{reason}`", cannot_post=reason in CANNOT_POST)
    except TimeoutError:
        log.warning("could not upload %s: Slack did not answer in time", filename)
        return _NotUploaded("Slack did not answer in time", cannot_post=False)
    except (SlackClientError, OSError) as error:
        log.warning("could not upload %s: %s", filename, type(error).__name__)
        return _NotUploaded("Slack could not be reached", cannot_post=False)
    except ValueError as error:  # malformed JSON, an answer without what we asked for
        log.warning("could not upload %s: unreadable answer (%s)", filename, error)
        return _NotUploaded("Slack's answer could not be read", cannot_post=False)
    except Exception:
        ref = log_unexpected(log, f"unexpected failure uploading {filename}")
        return _NotUploaded(f"something went wrong inside the bot, ref {ref}", cannot_post=False)
    return None


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


def _post(response_url: _ResponseUrl, payload: dict[str, Any]) -> None:
    if not response_url.url:
        log.error("no response_url in the request: the answer cannot be delivered")
        return
    webhook = MeteredWebhookClient(
        response_url.url, timeout=10, retry_handlers=retry_handlers(), metrics=response_url.metrics
    )
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
