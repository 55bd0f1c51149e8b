"""Bolt listeners for the App Home: the tab when it is opened, its buttons, the lookup
modal. Ack first, then plain code (bot/home.py) on the answer threads.

::

    app_home_opened (the Home tab)    views.publish the Home, first page
    Mute 1h / Unmute / Unwatch        act (AppHome.press), views.publish the Home again
                                      with what happened at its top, and tell the
                                      watch's channel (chat.postMessage)
    Refresh / Next / Previous         views.publish that page
    Look up a group                   views.open the lookup modal (its trigger_id lasts 3 s)
    the modal submitted               fields that are wrong: response_action=errors, shown
                                      in the modal; else it closes and the answer goes to
                                      the user's DM (conversations.open, chat.postMessage),
                                      with the CSV there too when the list is long
    an alert or resolve delivered     views.publish again the Homes open (HomeRefresh:
                                      used in the last 30 minutes), debounced

What Slack refuses is logged in one line (never a traceback, never silence for the
user where there is somewhere to tell them): a Home that cannot be published stays as
it was, a modal that cannot be opened is explained in the re-published Home, and an
answer the bot cannot deliver to the DM is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands.grammar import FormError
from bot.handlers import Caller, Deferred, Reply, unexpected
from bot.home import AppHome
from bot.logs import log_unexpected
from bot.render.blocks import Message, View
from bot.render.home import (
    HOME_LOOKUP_ACTION,
    HOME_MUTE_ACTION,
    HOME_NEXT_ACTION,
    HOME_PREVIOUS_ACTION,
    HOME_REFRESH_ACTION,
    HOME_UNMUTE_ACTION,
    HOME_UNWATCH_ACTION,
    LOOKUP_CALLBACK,
    LOOKUP_GROUP_ID,
    LOOKUP_MARK,
    page_number,
)
from bot.render.members import render_error
from bot.slack.errors import error_code
from bot.slack.home_refresh import HomeRefresh
from bot.slack.listeners import deliver_csv, open_dm

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(
    app: App, home: AppHome, answers: Executor, refresh: HomeRefresh | None = None
) -> None:
    """The Home's listeners; whatever calls Slack or the database runs on ``answers``.
    With ``refresh``, the Homes used are published again (app.client) as watches change."""

    def later(work: Callable[..., None], *args: Any) -> None:
        answers.submit(_logged, work, *args)

    def seen(user_id: str, page: int) -> None:
        if refresh is not None:
            refresh.seen(user_id, page)

    if refresh is not None:
        refresh.start(home.view, lambda user_id, view: _send(app.client, user_id, view))

    @app.event("app_home_opened")  # bolt acknowledges events itself
    def opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") == "home":  # not the Messages tab
            seen(event.get("user", ""), 0)
            later(_publish, client, home, event.get("user", ""), 0, None)

    @app.action(HOME_MUTE_ACTION)
    @app.action(HOME_UNMUTE_ACTION)
    @app.action(HOME_UNWATCH_ACTION)
    def watch_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        view = body.get("view") or {}
        page = page_number(view.get("private_metadata"))
        action_id, value = action.get("action_id", ""), action.get("value", "")
        seen(_user(body), page)
        later(_press, client, home, _user(body), page, action_id, value)

    @app.action(HOME_REFRESH_ACTION)
    @app.action(HOME_NEXT_ACTION)
    @app.action(HOME_PREVIOUS_ACTION)
    def show_page(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        seen(_user(body), page_number(action.get("value")))
        later(_publish, client, home, _user(body), page_number(action.get("value")), None)

    @app.action(HOME_LOOKUP_ACTION)
    def open_lookup(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body.get("view") or {}
        page = page_number(view.get("private_metadata"))
        later(_open_lookup, client, home, _user(body), page, body.get("trigger_id", ""))

    @app.view(LOOKUP_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        try:
            deferred = home.lookup(_field(view, LOOKUP_GROUP_ID), _field(view, LOOKUP_MARK))
        except FormError as error:
            ack(response_action="errors", errors=error.problems)
            return
        ack()
        later(_answer_in_dm, client, deferred, _user(body))


def _logged(work: Callable[..., None], *args: Any) -> None:
    try:
        work(*args)
    except Exception:  # nobody waits on this future: log it
        log_unexpected(log, "unexpected failure in the App Home")


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id", "")) if isinstance(user, dict) else ""


def _field(view: dict[str, Any], name: str) -> str:
    """What the user typed in the lookup form's field ``name`` ("" if nothing)."""
    values = (view.get("state") or {}).get("values") or {}
    value = ((values.get(name) or {}).get(name) or {}).get("value")
    return value if isinstance(value, str) else ""


def _why(error: Exception) -> str:
    """What Slack (or the way to it) said, in a few words for the log."""
    if isinstance(error, SlackApiError):
        return error_code(error) or "an answer that could not be read"
    return type(error).__name__


#: What a Slack Web API call raises once its retries are spent: Slack's refusal, the
#: network (a timeout too), an answer that cannot be read (malformed JSON, ``ok`` without
#: a channel). Anything else is a bug, logged with its traceback by ``_logged``.
_SLACK_FAILURES = (SlackClientError, OSError, ValueError)


def _publish(
    client: WebClient, home: AppHome, user_id: str, page: int, notice: Message | None
) -> None:
    _send(client, user_id, home.view(page, notice))


def _send(client: WebClient, user_id: str, view: View) -> None:
    try:
        client.views_publish(user_id=user_id, view=view)
    except _SLACK_FAILURES as error:
        log.warning("could not publish the App Home of %s: %s", user_id, _why(error))


def _press(
    client: WebClient, home: AppHome, user_id: str, page: int, action_id: str, value: str
) -> None:
    pressed = home.press(action_id, value, user_id)
    _publish(client, home, user_id, page, pressed.notice)
    if pressed.channel_id and pressed.announcement is not None:
        message = pressed.announcement
        try:
            client.chat_postMessage(
                channel=pressed.channel_id,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except _SLACK_FAILURES as error:  # the change is made and shown all the same
            log.warning(
                "could not tell %s of a change from the App Home: %s",
                pressed.channel_id,
                _why(error),
            )


def _open_lookup(client: WebClient, home: AppHome, user_id: str, page: int, trigger: str) -> None:
    try:
        client.views_open(trigger_id=trigger, view=home.lookup_form())
    except _SLACK_FAILURES as error:  # say so where the user is looking
        reason = _why(error)
        log.warning("could not open the lookup form for %s: %s", user_id, reason)
        notice = render_error(
            f"The lookup form could not be opened (Slack says {reason}): press Look up a "
            "group again, or type /online <groupId> in any channel."
        )
        _publish(client, home, user_id, page, notice)


def _answer_in_dm(client: WebClient, deferred: Deferred, user_id: str) -> None:
    """The lookup's answer, in the user's DM with the bot (the CSV too, when long)."""
    caller = Caller(user_id=user_id, channel_id="")
    try:
        outcome = deferred.work()
        if isinstance(outcome, Reply):
            message = outcome.message
        else:
            csv = outcome.csv()
            note = deliver_csv(client, csv, caller, public=False) if csv is not None else None
            message = outcome.message(file_note=note)
    except Exception:
        ref = log_unexpected(log, "unexpected failure answering a lookup from the App Home")
        message = render_error(unexpected(ref))
    try:
        client.chat_postMessage(
            channel=open_dm(client, user_id),
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except _SLACK_FAILURES as error:
        log.warning("could not answer a lookup in the DM of %s: %s", user_id, _why(error))
