"""The answers to watch commands as Slack messages (Block Kit). Pure code: ``now`` is
passed in.

::

    render_watch_created    the answer to /online watch: what is watched, the count now
    render_watch_list       the answer to /online watches: one section per watch
    render_unwatched        "<@U1> stopped watching `@TGS#...` (#3)."
    render_muted            "<@U1> muted ... until <date> (reason). It is still checked..."
    render_unmuted          "<@U1> unmuted (or resumed) ..."
    render_admins_only      the refusal when WATCH_ADMINS does not name the caller

Callers pass data (IDs, names, times); every piece of markup is written here, with
:mod:`bot.render.blocks`. Everything that came from Tencent or a user (group names
and IDs, errors, mute and pause reasons) is escaped and cut to a size. The only
live markup written is date tokens, mentions of Slack user and user-group IDs and
``<#C...>`` channel links. The watch list shows at most :data:`MAX_LISTED_WATCHES`
watches and shortens long texts before it shows fewer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from bot.commands.durations import MINUTE, format_ago, format_span
from bot.render.blocks import (
    TEXT_BUDGET,
    Block,
    Message,
    channel_or_code,
    code,
    context,
    header,
    mention_or_text,
    message,
    section,
    user_or_text,
)
from bot.render.escape import date_token, escape_line, escape_mrkdwn, single_line
from bot.render.words import display_name, group_ref

__all__ = [
    "MAX_LISTED_WATCHES",
    "RowCaps",
    "WatchRow",
    "render_admins_only",
    "render_muted",
    "render_unmuted",
    "render_unwatched",
    "render_watch_created",
    "render_watch_list",
    "row_text",
]

#: At most this many watches in one list (one section each, within 50 blocks).
MAX_LISTED_WATCHES = 45

#: Lengths user and Tencent text is cut to (after escaping).
_RULE_CAP = 500
_ERROR_CAP = 1000
_FALLBACK_CAP = 1500

_ESCAPED_MENTION_RE = re.compile(r"&lt;@([UW][A-Z0-9]{2,30})&gt;", re.ASCII)
_STATUS_EMOJI = {"ok": "🟢", "pending": "🟡", "firing": "🔴", "error": "⚠️"}


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One watch in ``/online watches``.

    The last change shows as ``{last_change} by {last_change_by} {ago}``: the action in
    words (in which ``<@U1>`` mentions of user IDs stay mentions), who made it (a user
    ID, shown as a mention) and when.
    """

    watch_id: int
    group_id: str
    group_name: str | None
    mark: int | None
    rule_text: str
    status: str
    last_value: int | None = None
    last_checked_at: float | None = None
    muted_until: float | None = None
    mute_reason: str | None = None
    paused_reason: str | None = None
    last_error: str | None = None
    last_change: str | None = None
    last_change_by: str | None = None
    last_change_at: float | None = None
    last_push_at: float | None = None  # Tencent's last callback for the group
    push_fed: bool = False  # that callback is recent: push keeps watch, polling resyncs
    channel_id: str = ""  # the channel it alerts (the App Home groups by it)
    samples: tuple[int | None, ...] = ()  # recent counts, oldest first (the App Home's sparkline)


class RowCaps(NamedTuple):
    """How long each text of a watch's lines (:func:`row_text`) may be; 0 leaves the line out.

    ``compact``: a mute shows as "muted for 59m more", without its date or reason.
    """

    name: int
    rule: int
    error: int
    change: int
    reason: int
    compact: bool = False


#: Watch list caps tried in turn until the list fits: every watch shown matters more
#: than long errors, so the last step keeps only the name, the state and the rule.
_LIST_CAPS = (
    RowCaps(name=100, rule=300, error=300, change=200, reason=200),
    RowCaps(name=40, rule=120, error=120, change=80, reason=80),
    RowCaps(name=24, rule=60, error=60, change=0, reason=40),
    RowCaps(name=24, rule=48, error=0, change=0, reason=24, compact=True),
)
#: Text kept free in a watch list for the "and N more" and hint lines.
_LIST_RESERVE = 400


def _fallback(text: str) -> str:
    """A message's ``text``: escaped, one line, cut (notifications show it)."""
    return escape_line(text, _FALLBACK_CAP)


# --------------------------------------------------------------------------- created


def render_watch_created(
    *,
    watch_id: int,
    group_id: str,
    group_name: str | None,
    rule_text: str,
    mark: int | None,
    current: int | None,
    current_error: str | None,
    channel_id: str,
) -> Message:
    """The answer to ``/online watch``: what is watched, and the count right now."""
    where = group_ref(group_id, group_name)
    rule = escape_line(rule_text, _RULE_CAP)
    only = f" (members with mark {mark})" if mark is not None else ""
    if current is not None and not current_error:
        now = f"now {current:,} online."
    else:
        problem = current_error or "no count came back"
        now = f"could not check now: {escape_line(problem, _ERROR_CAP)}."
    body = f"👀 Watching {where} (#{watch_id}){only}: {rule}; {now}"
    hint = (
        f"Alerts go to {channel_or_code(channel_id)}. `/online watches` lists this channel's "
        f"watches; `/online mute {watch_id} 2h` pauses alerts; "
        f"`/online unwatch {watch_id}` stops."
    )
    name = display_name(group_id, group_name)
    if current is not None and not current_error:
        now_text = f"now {current:,} online"
    else:
        now_text = f"could not check now: {current_error or 'no count came back'}"
    text = f"Watching {name} (#{watch_id}): rule {rule_text}; {now_text}"
    return message(_fallback(text), [section(body), context(hint)])


# --------------------------------------------------------------------------- the list


_EMPTY_LIST = "This channel watches no groups yet. Try `/online watch @TGS#... below 100`."
_LIST_HINT = escape_mrkdwn(
    "`/online mute <id> <duration>` · `/online unmute <id>` · `/online unwatch <id>`"
)


def _row_state(row: WatchRow, now: float, caps: RowCaps) -> str:
    status = single_line(row.status).lower()
    emoji = _STATUS_EMOJI.get(status, "❔")
    state = f"{emoji} {escape_line(status, 40) or 'unknown'}"
    if row.paused_reason:
        state = f"⏸️ paused: {escape_line(row.paused_reason, caps.reason)}"
    elif row.muted_until is not None and now < row.muted_until:
        if caps.compact:
            state = f"🔇 muted for {format_span(row.muted_until - now)} more · {state}"
        else:
            why = f" ({escape_line(row.mute_reason, caps.reason)})" if row.mute_reason else ""
            state = f"🔇 muted until {date_token(row.muted_until)}{why} · {state}"
    if row.last_checked_at is None:
        return f"{state} · not checked yet{_feed(row, now)}"
    last = f"{row.last_value:,} online" if row.last_value is not None else "no count"
    return f"{state} · {last} {format_ago(now - row.last_checked_at)}{_feed(row, now)}"


def _feed(row: WatchRow, now: float) -> str:
    """How the watch learns of changes: push (Tencent's callbacks) or polling alone."""
    if row.last_push_at is None:
        return ""
    ago = format_ago(now - row.last_push_at)
    if row.push_fed:
        return f" · 📡 push-fed, last callback {ago}"
    return f" · polled (no callback since {ago})"


def row_text(row: WatchRow, now: float, caps: RowCaps) -> str:
    """A watch's lines: ID and group, state (muted, last count, push), rule, last error,
    last change; each text cut to ``caps``."""
    title = f"*#{row.watch_id}* {group_ref(row.group_id, row.group_name, caps.name)}"
    if row.mark is not None:
        title += f" · mark {row.mark}"
    lines = [
        title,
        _row_state(row, now, caps),
        f"Rule: {escape_line(row.rule_text, caps.rule)}",
    ]
    if row.last_error and caps.error:
        lines.append(f"Last error: {escape_line(row.last_error, caps.error)}")
    if row.last_change and caps.change:
        lines.append(f"Last change: {_last_change(row.last_change, row, now, caps.change)}")
    return "\n".join(lines)


def render_watch_list(
    rows: Sequence[WatchRow], *, now: float, digest: str | None = None
) -> Message:
    """``/online watches``: one section per watch, long texts shortened to fit Slack;
    ``digest``, the channel's daily digest (mrkdwn, bot/render/digest.py), last."""
    if not rows:
        blocks = [section(_EMPTY_LIST)] + ([section(digest)] if digest else [])
        return message(_EMPTY_LIST, blocks)
    title = f"Watches in this channel ({len(rows)})"
    blocks: list[Block] = [header(title)]
    candidates = rows[:MAX_LISTED_WATCHES]
    budget = TEXT_BUDGET - len(title) - len(_LIST_HINT) - _LIST_RESERVE
    texts: list[str] = []
    for caps in _LIST_CAPS:
        texts = [row_text(row, now, caps) for row in candidates]
        if sum(map(len, texts)) <= budget:
            break
    kept: list[str] = []
    used = 0
    for text in texts:
        if used + len(text) > budget:
            break
        kept.append(text)
        used += len(text)
    blocks.extend(section(text) for text in kept)
    hidden = len(rows) - len(kept)
    if hidden:
        blocks.append(context(f"…and {hidden:,} more not shown."))
    if digest:
        blocks.append(section(digest))
    blocks.append(context(_LIST_HINT))
    shown = f"{len(kept)} shown" if hidden else "all shown"
    return message(f"{len(rows)} watches in this channel ({shown})", blocks)


def _last_change(action: str, row: WatchRow, now: float, cap: int) -> str:
    """``muted by <@U1> 5m ago``: the action escaped (user mentions in it kept), who, when."""
    text = _ESCAPED_MENTION_RE.sub(r"<@\1>", escape_line(action, cap))
    if row.last_change_by is not None:
        text += f" by {user_or_text(row.last_change_by)}"
    if row.last_change_at is not None:
        text += f" {format_ago(now - row.last_change_at, MINUTE)}"
    return text


# --------------------------------------------------------------------------- notices


def _what(group_id: str, mark: int | None) -> str:
    return code(group_id) + (f" (mark {mark})" if mark is not None else "")


def _notice(text: str) -> Message:
    return message(text, [section(text)])


def render_unwatched(*, actor: str, group_id: str, mark: int | None, watch_id: int) -> Message:
    """The answer to ``/online unwatch`` (and the Unwatch button)."""
    who = user_or_text(actor)
    return _notice(f"{who} stopped watching {_what(group_id, mark)} (#{watch_id}).")


def render_muted(
    *,
    actor: str,
    group_id: str,
    mark: int | None,
    watch_id: int,
    until: float,
    reason: str | None,
) -> Message:
    """The answer to ``/online mute`` (and the Mute button)."""
    because = f" ({escape_mrkdwn(reason)})" if reason else ""
    return _notice(
        f"{user_or_text(actor)} muted {_what(group_id, mark)} (#{watch_id}) until "
        f"{date_token(until)}{because}. It is still checked; alerts resume after."
    )


def render_unmuted(
    *, actor: str, group_id: str, mark: int | None, watch_id: int, resumed: bool
) -> Message:
    """The answer to ``/online unmute``: "resumed" for a watch Slack's refusal had paused."""
    action = "resumed" if resumed else "unmuted"
    return _notice(f"{user_or_text(actor)} {action} {_what(group_id, mark)} (#{watch_id}).")


def render_admins_only(what: str, admins: Iterable[str]) -> Message:
    """The refusal when ``WATCH_ADMINS`` is set and does not name the caller: who to ask,
    as mentions (user and user-group IDs; anything else as text)."""
    names = ", ".join(mention_or_text(admin) for admin in sorted(admins))
    text = (
        f"Only the watch admins may {escape_mrkdwn(what)} (WATCH_ADMINS). Ask one of them: {names}."
    )
    return message(text, [section(f":warning: {text}")])
