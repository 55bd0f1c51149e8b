"""The App Home tab, whatever the transport: what it shows, its buttons, its lookup.

``AppHome.view`` lists every watch of the workspace (``Watches.listing``), a page at a
time, each with its sparkline (``Watches.shown``: the page's watches in full);
``press`` acts on a watch's button as the commands do (``Watches.mute``, ``unmute``,
``unwatch``), and says what it did, or why it did not, in a notice the re-published
Home shows at its top (a Home has nowhere else to say it);
``lookup`` reads the lookup form into the same answer as ``/online <groupId> [mark]``.

Permissions: the Home belongs to no channel, so a watch's channel cannot decide who
may change it there. The permission is WATCH_ADMINS alone, as for the commands
(``Watches._require``): with it set, only the admins change watches, of any channel;
with it empty, anyone who opens the Home may. A change from the Home is told in the
watch's channel (the commands answer there in public) and recorded as made from
the App Home.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.commands.grammar import parse_lookup
from bot.handlers import Deferred, OnlineHandlers, unexpected
from bot.logs import log_unexpected
from bot.render.alerts import MUTE_BUTTON_SECONDS
from bot.render.blocks import Message, View
from bot.render.home import (
    HOME_MUTE_ACTION,
    HOME_UNMUTE_ACTION,
    HOME_UNWATCH_ACTION,
    page_of,
    parse_watch_value,
    render_changed_from_home,
    render_home,
    render_home_unavailable,
    render_lookup_modal,
)
from bot.render.members import render_error
from bot.watches import Actor, WatchError

__all__ = ["AppHome", "Pressed"]

log = logging.getLogger(__name__)

#: The mute reason a Home's Mute button records.
HOME_MUTE_REASON = "muted from the App Home"


@dataclass(frozen=True, slots=True)
class Pressed:
    """What a Home button did: ``notice`` for the re-published Home; ``announcement`` for
    the watch's channel (``channel_id``), when a watch changed."""

    notice: Message
    channel_id: str | None = None
    announcement: Message | None = None


class AppHome:
    """The Home tab over the ``/online`` handlers and their watches."""

    def __init__(self, handlers: OnlineHandlers) -> None:
        self.handlers = handlers

    def view(self, page: int = 0, notice: Message | None = None) -> View:
        """The Home tab at ``page``; never raises (a failure is shown with its reference)."""
        watches = self.handlers.watches
        if watches is None:
            return render_home_unavailable(
                "Watches need the bot's database: they work in `online-bot run`.", notice=notice
            )
        try:
            shown = page_of(watches.listing(), page)
            rows = {row.watch_id: row for row in watches.shown(shown.wanted)}
            return render_home(shown, rows, now=watches.clock(), notice=notice)
        except Exception:
            ref = log_unexpected(log, "unexpected failure showing the App Home")
            return render_home_unavailable(unexpected(ref), notice=notice)

    def press(self, action_id: str, value: str, user_id: str) -> Pressed:
        """Mute 1h, Unmute (or Resume) or Unwatch, pressed by ``user_id``."""
        watches = self.handlers.watches
        if watches is None:
            return Pressed(render_error("Watches need the bot's database."))
        try:
            watch_id = parse_watch_value(value)
        except ValueError:
            return Pressed(render_error("That button is out of date; the list below is current."))
        actor = Actor.home(user_id)
        try:
            if action_id == HOME_MUTE_ACTION:
                notice = watches.mute(watch_id, MUTE_BUTTON_SECONDS, HOME_MUTE_REASON, actor)
            elif action_id == HOME_UNMUTE_ACTION:
                notice = watches.unmute(watch_id, actor)
            elif action_id == HOME_UNWATCH_ACTION:
                notice = watches.unwatch(watch_id, actor)
            else:
                return Pressed(
                    render_error("That button is out of date; the list below is current.")
                )
            channel_id = watches.channel_of(watch_id)
        except WatchError as error:
            return Pressed(error.reply or render_error(str(error)))
        except Exception:
            ref = log_unexpected(log, "unexpected failure of an App Home button")
            return Pressed(render_error(unexpected(ref)))
        return Pressed(notice, channel_id, render_changed_from_home(notice))

    def lookup_form(self) -> View:
        return render_lookup_modal()

    def lookup(self, group_id: str, mark: str | None) -> Deferred:
        """The lookup form's answer, as ``/online <group_id> [mark]`` gives it; FormError
        (bot.commands.grammar) naming the fields that are wrong."""
        return self.handlers.query(parse_lookup(group_id, mark))
