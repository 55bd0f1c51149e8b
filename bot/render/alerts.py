"""Alerts and watches as Slack messages (Block Kit). Pure code: ``now`` is passed in.

Renderers take plain values (the rule already in words, the reason as a string),
not the rule engine's objects, so this module imports nothing from
:mod:`bot.alerts`.

::

    render_firing                   🚨 the alert; re-rendered with acknowledged_by / muted_until
    render_resolved_reply           ✅ the thread reply when it resolves
    render_resolved_original        the original message, updated: resolved, Unwatch only
    render_error_alert              ⚠️ the group cannot be checked
    render_recovered_reply          ✅ the thread reply when checking works again
    render_error_original_recovered the error message, updated: recovered, Unwatch only
    render_watch_created            the answer to /online watch
    render_watch_list               the answer to /online watches

Buttons carry ``{"w": watch_id, "i": incident_id}`` as compact JSON
(:func:`alert_button_value`, read back with :func:`parse_alert_button_value`);
:func:`alert_metadata` is the message metadata that finds a posted alert again
after a crash.

Everything that came from Tencent or a user (group names and IDs, errors, mute
and pause reasons) is escaped and cut to a size, and mrkdwn carries
``verbatim: true``. The only live markup written is date tokens, ``<@U...>``
mentions of Slack user IDs and ``<#C...>`` channel links. Every message keeps to
the limits listed in :mod:`bot.render.members`; the watch list shows at most
:data:`MAX_LISTED_WATCHES` watches and shortens long texts before it shows fewer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from bot.commands.durations import format_ago, format_duration, format_span
from bot.commands.values import MAX_WATCH_ID
from bot.render.escape import cut, date_token, escape_cut, escape_mrkdwn, plain, single_line
from bot.render.members import (
    MAX_BLOCKS,
    MAX_BUTTON_CHARS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    TEXT_BUDGET,
    Message,
)

__all__ = [
    "ACK_ACTION",
    "MAX_LISTED_WATCHES",
    "METADATA_EVENT_TYPE",
    "MUTE_ACTION",
    "MUTE_BUTTON_SECONDS",
    "SPARKLINE_WIDTH",
    "UNWATCH_ACTION",
    "AlertView",
    "Message",
    "WatchRow",
    "alert_button_value",
    "alert_metadata",
    "parse_alert_button_value",
    "render_error_alert",
    "render_error_original_recovered",
    "render_firing",
    "render_recovered_reply",
    "render_resolved_original",
    "render_resolved_reply",
    "render_watch_created",
    "render_watch_list",
    "sparkline",
]

Block = dict[str, Any]

#: action_ids of the alert buttons; each button's value is alert_button_value(...).
ACK_ACTION = "alert_ack"
MUTE_ACTION = "alert_mute"
UNWATCH_ACTION = "alert_unwatch"
#: How long the Mute button mutes.
MUTE_BUTTON_SECONDS = 3600
#: Slack message metadata event type of alert messages.
METADATA_EVENT_TYPE = "online_bot_alert"
#: Samples shown in an alert's sparkline.
SPARKLINE_WIDTH = 20
#: At most this many watches in one list (one section each, within 50 blocks).
MAX_LISTED_WATCHES = 45

_BARS = "▁▂▃▄▅▆▇█"
_FLAT = "▄"
_MAX_BUTTON_VALUE = 2000
_MAX_FIELD_CHARS = 2000
#: Slack's limits for a confirm dialog's title, text and buttons.
_CONFIRM_TITLE, _CONFIRM_TEXT, _CONFIRM_BUTTON = 100, 300, 30
#: Lengths user and Tencent text is cut to (after escaping).
_NAME_CAP = 200
_ID_CAP = 100
_RULE_CAP = 500
_ERROR_CAP = 1000
_FALLBACK_CAP = 1500


class _Caps(NamedTuple):
    """How long each text of a watch list row may be; 0 leaves the line out.

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
    _Caps(name=100, rule=300, error=300, change=200, reason=200),
    _Caps(name=40, rule=120, error=120, change=80, reason=80),
    _Caps(name=24, rule=60, error=60, change=0, reason=40),
    _Caps(name=24, rule=48, error=0, change=0, reason=24, compact=True),
)
#: Text kept free in a watch list for the "and N more" and hint lines.
_LIST_RESERVE = 400

_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,30}", re.ASCII)
_CHANNEL_ID_RE = re.compile(r"[CGD][A-Z0-9]{2,30}", re.ASCII)
_ESCAPED_MENTION_RE = re.compile(r"&lt;@([UW][A-Z0-9]{2,30})&gt;", re.ASCII)

_STATUS_EMOJI = {"ok": "🟢", "pending": "🟡", "firing": "🔴", "error": "⚠️"}


# --------------------------------------------------------------------------- the views


@dataclass(frozen=True, slots=True)
class AlertView:
    """What an alert message shows.

    ``since`` is when the breach (firing) or the failures (error) began; ``samples``
    are recent counts, oldest first, None for a failed check. ``repeat_seconds`` is
    the rule's reminder interval, shown on repeats.
    """

    watch_id: int
    group_id: str
    group_name: str | None
    mark: int | None
    rule_text: str
    value: int | None
    since: float | None
    now: float
    samples: tuple[int | None, ...]
    acknowledged_by: str | None
    acknowledged_at: float | None
    muted_until: float | None
    error: str | None
    incident_id: str
    repeat_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One watch in ``/online watches``. ``last_change`` may mention users as ``<@U1>``."""

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


# --------------------------------------------------------------------------- small pieces


def sparkline(values: Sequence[int | None], width: int = SPARKLINE_WIDTH) -> str:
    """The last ``width`` values as ▁▂▃▄▅▆▇█ between their min and max.

    A flat series is all ▄, a None a space; no values (or width <= 0) give ``""``.
    """
    if width <= 0:
        return ""
    shown = list(values)[-width:]
    known = [v for v in shown if v is not None]
    if not known:
        return " " * len(shown)
    lo, hi = min(known), max(known)
    span = hi - lo
    out = []
    for v in shown:
        if v is None:
            out.append(" ")
        elif span == 0:
            out.append(_FLAT)
        else:  # rounded to the nearest of the 8 levels, halves up
            out.append(_BARS[(14 * (v - lo) + span) // (2 * span)])
    return "".join(out)


def alert_button_value(watch_id: int, incident_id: str) -> str:
    """The value of every alert button: compact JSON ``{"w": watch_id, "i": incident_id}``."""
    return json.dumps({"w": watch_id, "i": incident_id}, separators=(",", ":"))


def parse_alert_button_value(value: str) -> tuple[int, str]:
    """``(watch_id, incident_id)`` from a button value; ValueError if it is not one (a
    watch ID out of range included: a value can be copied and edited)."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Not an alert button value: {value!r}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"Not an alert button value: {value!r}")
    watch_id, incident_id = data.get("w"), data.get("i")
    if type(watch_id) is not int or not isinstance(incident_id, str):
        raise ValueError(f"Not an alert button value: {value!r}")
    if not 1 <= watch_id <= MAX_WATCH_ID:
        raise ValueError(f"Not an alert button value: {value!r}")
    return watch_id, incident_id


def alert_metadata(incident_id: str, watch_id: int, kind: str) -> dict[str, Any]:
    """Slack message metadata for an alert message, to find it again after a crash."""
    return {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {"incident_id": incident_id, "watch_id": watch_id, "kind": kind},
    }


def _escape_cut(text: str, limit: int) -> str:
    """``text`` on one line, escaped, cut so the escaped form is at most ``limit`` long."""
    return escape_cut(single_line(text), limit)


def _code(text: str) -> str:
    """``text`` on one line, cut, escaped, in a code span unless a backtick would end it."""
    text = cut(single_line(text), _ID_CAP)
    escaped = escape_mrkdwn(text)
    return escaped if "`" in text or not text else f"`{escaped}`"


def _with_mentions(text: str, limit: int) -> str:
    """Escaped like any text, except that ``<@U123>`` user mentions stay mentions."""
    return _ESCAPED_MENTION_RE.sub(r"<@\1>", _escape_cut(text, limit))


def _user(user_id: str) -> str:
    return f"<@{user_id}>" if _USER_ID_RE.fullmatch(user_id) else _escape_cut(user_id, 60)


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID_RE.fullmatch(channel_id) else _code(channel_id)


def _display_name(group_id: str, group_name: str | None) -> str:
    """The group's name if it has one, else its ID: raw, one line, for plain text."""
    return single_line(group_name or "") or single_line(group_id)


def _where(group_id: str, group_name: str | None, cap: int = _NAME_CAP) -> str:
    """``*Math class* (`@TGS#...`)``, or the ID alone when the group has no name."""
    name = single_line(group_name or "")
    code = _code(group_id)
    return f"*{_escape_cut(name, cap)}* ({code})" if name else code


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _fallback(text: str) -> str:
    """A message's ``text``: escaped, one line, cut (notifications show it)."""
    return _escape_cut(text, _FALLBACK_CAP)


# --------------------------------------------------------------------------- blocks


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain_text(text: str, limit: int) -> Block:
    text = cut(plain(single_line(text)) or " ", limit)
    return {"type": "plain_text", "text": text, "emoji": True}


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain_text(text, MAX_HEADER_CHARS)}


def _section(text: str | None, fields: Sequence[str] = ()) -> Block:
    """A section with text, fields (at most 10, each cut to 2,000 characters) or both."""
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = _mrkdwn(cut(text, MAX_SECTION_CHARS))
    if fields:
        block["fields"] = [_mrkdwn(cut(f, _MAX_FIELD_CHARS)) for f in fields[:10]]
    return block


def _context(*lines: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(line) for line in lines[:10]]}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": _plain_text(label, MAX_BUTTON_CHARS),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _unwatch_confirm(view: AlertView) -> Block:
    name = cut(_display_name(view.group_id, view.group_name), 120)
    return {
        "title": _plain_text("Stop watching?", _CONFIRM_TITLE),
        "text": _plain_text(
            f"Stop watching {name} (watch #{view.watch_id})? This channel gets no more "
            f"alerts about it.",
            _CONFIRM_TEXT,
        ),
        "confirm": _plain_text("Unwatch", _CONFIRM_BUTTON),
        "deny": _plain_text("Cancel", _CONFIRM_BUTTON),
        "style": "danger",
    }


def _actions(view: AlertView, *, ack: bool, mute: bool) -> list[Block]:
    """The alert buttons (Unwatch always), or none if the value would be too long."""
    value = alert_button_value(view.watch_id, view.incident_id)
    if len(value) > _MAX_BUTTON_VALUE:
        return []
    elements: list[Block] = []
    if ack:
        elements.append(_button("Acknowledge", ACK_ACTION, value, "primary"))
    if mute:
        label = f"Mute {format_duration(MUTE_BUTTON_SECONDS)}"
        elements.append(_button(label, MUTE_ACTION, value))
    unwatch = _button("Unwatch", UNWATCH_ACTION, value, "danger")
    unwatch["confirm"] = _unwatch_confirm(view)
    elements.append(unwatch)
    return [{"type": "actions", "block_id": "alert_actions", "elements": elements}]


# --------------------------------------------------------------------------- alert facts


def _trend(samples: Sequence[int | None]) -> str | None:
    shown = list(samples)[-SPARKLINE_WIDTH:]
    known = [v for v in shown if v is not None]
    if not known:
        return None
    return f"`{sparkline(shown)}` min {min(known):,} · max {max(known):,}"


def _facts(
    view: AlertView, *, value_label: str, since_label: str, group: bool, ongoing: bool = True
) -> list[str]:
    """The alert's fields: group, rule, count, since, trend, mark, watch.

    The count shows as "unknown" when there is none, except under "Last count". While
    ``ongoing``, the start says how long ago it was.
    """
    fields = []
    if group:
        fields.append(f"*Group*\n{_where(view.group_id, view.group_name)}")
    fields.append(f"*Rule*\n{_escape_cut(view.rule_text, _RULE_CAP)}")
    if view.value is not None or value_label != "Last count":
        fields.append(f"*{value_label}*\n{_count(view.value)}")
    if view.since is not None:
        lasted = f" (for {format_span(view.now - view.since)})" if ongoing else ""
        fields.append(f"*{since_label}*\n{date_token(view.since)}{lasted}")
    trend = _trend(view.samples)
    if trend:
        fields.append(f"*Recent counts*\n{trend}")
    if view.mark is not None:
        fields.append(f"*Mark*\n{view.mark}")
    fields.append(f"*Watch*\n#{view.watch_id}")
    return fields


def _reason_line(reason: str, repeat_seconds: int | None) -> str:
    key = str(getattr(reason, "value", reason))
    if key == "first_firing":
        return "🔔 First alert"
    if key == "repeat_elapsed":
        every = f" (repeat every {format_duration(repeat_seconds)})" if repeat_seconds else ""
        return f"🔁 Still firing{every}"
    if key == "mute_ended":
        return "🔔 Reminder: the mute ended while this was still firing"
    if key == "recovered_from_error":
        return "🔔 Checking works again, and the rule is breached"
    return f"🔔 {_escape_cut(key.replace('_', ' ').capitalize(), 200)}"


def _status_lines(view: AlertView) -> list[str]:
    lines = []
    if view.muted_until is not None and view.now < view.muted_until:
        lines.append(f"🔇 Muted until {date_token(view.muted_until)}")
    if view.acknowledged_by:
        at = f" at {date_token(view.acknowledged_at)}" if view.acknowledged_at else ""
        lines.append(f"👍 Acknowledged by {_user(view.acknowledged_by)}{at}")
    return lines


# --------------------------------------------------------------------------- alerts


def render_firing(view: AlertView, *, reason: str) -> Message:
    """The alert: facts, why it was sent, who acknowledged it, and its buttons.

    Acknowledge is left out once ``view.acknowledged_by`` is set.
    """
    name = _display_name(view.group_id, view.group_name)
    blocks: list[Block] = [
        _header(f"🚨 Audience alert: {name}"),
        _section(None, _facts(view, value_label="Online now", since_label="Since", group=True)),
        _context(_reason_line(reason, view.repeat_seconds), *_status_lines(view)),
        *_actions(view, ack=not view.acknowledged_by, mute=True),
    ]
    text = f"Audience alert: {name}: {_count(view.value)} online, rule: {view.rule_text}"
    return Message(text=_fallback(text), blocks=blocks[:MAX_BLOCKS])


def render_resolved_reply(view: AlertView, *, fired_for: float) -> Message:
    """The thread reply when an alert resolves."""
    rule = _escape_cut(view.rule_text, _RULE_CAP)
    fired = format_span(fired_for)
    body = f"✅ Resolved: {_count(view.value)} online (rule: {rule}). Fired for {fired}."
    name = _display_name(view.group_id, view.group_name)
    text = (
        f"Resolved: {name}: {_count(view.value)} online (rule: {view.rule_text}). "
        f"Fired for {format_span(fired_for)}."
    )
    return Message(text=_fallback(text), blocks=[_section(body)])


def render_resolved_original(view: AlertView, *, fired_for: float, resolved_at: float) -> Message:
    """The alert message once resolved: the facts, when it resolved; Unwatch only."""
    name = _display_name(view.group_id, view.group_name)
    blocks: list[Block] = [
        _header(f"✅ Resolved audience alert: {name}"),
        _section(
            None, _facts(view, value_label="Online", since_label="Began", group=True, ongoing=False)
        ),
        _context(
            f"✅ Resolved at {date_token(resolved_at)} after {format_span(fired_for)}",
            *[line for line in _status_lines(view) if not line.startswith("🔇")],
        ),
        *_actions(view, ack=False, mute=False),
    ]
    text = f"Resolved: {name}: {_count(view.value)} online, rule: {view.rule_text}"
    return Message(text=_fallback(text), blocks=blocks[:MAX_BLOCKS])


_WHAT_TO_DO = (
    "The bot keeps trying and says so here when checking works again. If the group was "
    "dismissed or its ID changed, unwatch it. If Tencent refuses the bot (credentials, "
    "limits), tell whoever runs the bot. Mute it to stop reminders meanwhile."
)


def _error_text(view: AlertView) -> str:
    return view.error or "the check failed"


def render_error_alert(view: AlertView) -> Message:
    """The group cannot be checked: the error, what to do, and Mute / Unwatch."""
    name = _display_name(view.group_id, view.group_name)
    where = _where(view.group_id, view.group_name)
    error = _escape_cut(_error_text(view), _ERROR_CAP)
    blocks: list[Block] = [
        _section(
            f"⚠️ Cannot check {where}: {error}",
            _facts(view, value_label="Last count", since_label="Failing since", group=False),
        ),
        _context(_WHAT_TO_DO, *_status_lines(view)),
        *_actions(view, ack=False, mute=True),
    ]
    return Message(text=_fallback(f"Cannot check {name}: {_error_text(view)}"), blocks=blocks)


def render_recovered_reply(view: AlertView) -> Message:
    """The thread reply when checking works again (``view.since``: when failures began)."""
    rule = _escape_cut(view.rule_text, _RULE_CAP)
    failed = (
        f" It failed for {format_span(view.now - view.since)}." if view.since is not None else ""
    )
    body = f"✅ Checking works again: {_count(view.value)} online (rule: {rule}).{failed}"
    name = _display_name(view.group_id, view.group_name)
    text = f"Checking {name} works again: {_count(view.value)} online.{failed}"
    return Message(text=_fallback(text), blocks=[_section(body)])


def render_error_original_recovered(view: AlertView, *, recovered_at: float) -> Message:
    """The error message once checking works again: what it was, when it recovered."""
    name = _display_name(view.group_id, view.group_name)
    where = _where(view.group_id, view.group_name)
    after = f" after {format_span(recovered_at - view.since)}" if view.since is not None else ""
    blocks: list[Block] = [
        _section(
            f"✅ Checking {where} works again",
            _facts(
                view, value_label="Online", since_label="Failed from", group=False, ongoing=False
            ),
        ),
        _context(
            f"Was: {_escape_cut(_error_text(view), _ERROR_CAP)}",
            f"✅ Recovered at {date_token(recovered_at)}{after}",
        ),
        *_actions(view, ack=False, mute=False),
    ]
    return Message(text=_fallback(f"Checking {name} works again"), blocks=blocks)


# --------------------------------------------------------------------------- watches


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
    where = _where(group_id, group_name)
    rule = _escape_cut(rule_text, _RULE_CAP)
    only = f" (members with mark {mark})" if mark is not None else ""
    if current is not None and not current_error:
        now = f"now {current:,} online."
    else:
        problem = current_error or "no count came back"
        now = f"could not check now: {_escape_cut(problem, _ERROR_CAP)}."
    body = f"👀 Watching {where} (#{watch_id}){only}: {rule}; {now}"
    hint = (
        f"Alerts go to {_channel(channel_id)}. `/online watches` lists this channel's "
        f"watches; `/online mute {watch_id} 2h` pauses alerts; "
        f"`/online unwatch {watch_id}` stops."
    )
    name = _display_name(group_id, group_name)
    if current is not None and not current_error:
        now_text = f"now {current:,} online"
    else:
        now_text = f"could not check now: {current_error or 'no count came back'}"
    text = f"Watching {name} (#{watch_id}): rule {rule_text}; {now_text}"
    return Message(text=_fallback(text), blocks=[_section(body), _context(hint)])


_EMPTY_LIST = "This channel watches no groups yet. Try `/online watch @TGS#... below 100`."
_LIST_HINT = escape_mrkdwn(
    "`/online mute <id> <duration>` · `/online unmute <id>` · `/online unwatch <id>`"
)


def _row_state(row: WatchRow, now: float, caps: _Caps) -> str:
    status = single_line(row.status).lower()
    emoji = _STATUS_EMOJI.get(status, "❔")
    state = f"{emoji} {_escape_cut(status, 40) or 'unknown'}"
    if row.paused_reason:
        state = f"⏸️ paused: {_escape_cut(row.paused_reason, caps.reason)}"
    elif row.muted_until is not None and now < row.muted_until:
        if caps.compact:
            state = f"🔇 muted for {format_span(row.muted_until - now)} more · {state}"
        else:
            why = f" ({_escape_cut(row.mute_reason, caps.reason)})" if row.mute_reason else ""
            state = f"🔇 muted until {date_token(row.muted_until)}{why} · {state}"
    if row.last_checked_at is None:
        return f"{state} · not checked yet"
    count = f"{row.last_value:,} online" if row.last_value is not None else "no count"
    return f"{state} · {count} {format_ago(now - row.last_checked_at)}"


def _row_text(row: WatchRow, now: float, caps: _Caps) -> str:
    title = f"*#{row.watch_id}* {_where(row.group_id, row.group_name, caps.name)}"
    if row.mark is not None:
        title += f" · mark {row.mark}"
    lines = [
        title,
        _row_state(row, now, caps),
        f"Rule: {_escape_cut(row.rule_text, caps.rule)}",
    ]
    if row.last_error and caps.error:
        lines.append(f"Last error: {_escape_cut(row.last_error, caps.error)}")
    if row.last_change and caps.change:
        lines.append(f"Last change: {_with_mentions(row.last_change, caps.change)}")
    return "\n".join(lines)


def render_watch_list(rows: Sequence[WatchRow], *, now: float) -> Message:
    """``/online watches``: one section per watch, long texts shortened to fit Slack."""
    if not rows:
        return Message(text=_EMPTY_LIST, blocks=[_section(_EMPTY_LIST)])
    title = f"Watches in this channel ({len(rows)})"
    blocks: list[Block] = [_header(title)]
    candidates = rows[:MAX_LISTED_WATCHES]
    budget = TEXT_BUDGET - len(title) - len(_LIST_HINT) - _LIST_RESERVE
    texts: list[str] = []
    for caps in _LIST_CAPS:
        texts = [_row_text(row, now, caps) for row in candidates]
        if sum(map(len, texts)) <= budget:
            break
    kept: list[str] = []
    used = 0
    for text in texts:
        if used + len(text) > budget:
            break
        kept.append(text)
        used += len(text)
    blocks.extend(_section(text) for text in kept)
    hidden = len(rows) - len(kept)
    if hidden:
        blocks.append(_context(f"…and {hidden:,} more not shown."))
    blocks.append(_context(_LIST_HINT))
    shown = f"{len(kept)} shown" if hidden else "all shown"
    return Message(text=f"{len(rows)} watches in this channel ({shown})", blocks=blocks)
