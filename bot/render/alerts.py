"""Alerts as Slack messages (Block Kit). Pure code: ``now`` is passed in.

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

Buttons carry ``{"w": watch_id, "i": incident_id}`` as compact JSON
(:func:`alert_button_value`, read back with :func:`parse_alert_button_value`);
:func:`alert_metadata` is the message metadata that finds a posted alert again
after a crash. The answers to watch commands are in :mod:`bot.render.watches`.

Everything that came from Tencent or a user (group names and IDs, errors) is
escaped and cut to a size; blocks come from :mod:`bot.render.blocks`, which keeps
to Slack's limits. The only live markup written is date tokens and ``<@U...>``
mentions of Slack user IDs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.commands.durations import format_duration, format_span
from bot.commands.values import MAX_WATCH_ID
from bot.render.blocks import (
    MAX_BUTTON_VALUE,
    Block,
    Message,
    actions,
    button,
    confirm,
    context,
    header,
    message,
    section,
    user_or_text,
)
from bot.render.escape import cut, date_token, escape_line
from bot.render.words import count, display_name, group_ref

__all__ = [
    "ACK_ACTION",
    "METADATA_EVENT_TYPE",
    "MUTE_ACTION",
    "MUTE_BUTTON_SECONDS",
    "SPARKLINE_WIDTH",
    "UNWATCH_ACTION",
    "AlertView",
    "alert_button_value",
    "alert_metadata",
    "parse_alert_button_value",
    "render_error_alert",
    "render_error_original_recovered",
    "render_firing",
    "render_recovered_reply",
    "render_resolved_original",
    "render_resolved_reply",
    "sparkline",
    "trend",
]

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

_BARS = "▁▂▃▄▅▆▇█"
_FLAT = "▄"
#: Lengths user and Tencent text is cut to (after escaping).
_RULE_CAP = 500
_ERROR_CAP = 1000
_FALLBACK_CAP = 1500


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
    spread = hi - lo
    out = []
    for v in shown:
        if v is None:
            out.append(" ")
        elif spread == 0:
            out.append(_FLAT)
        else:  # rounded to the nearest of the 8 levels, halves up
            out.append(_BARS[(14 * (v - lo) + spread) // (2 * spread)])
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


def _fallback(text: str) -> str:
    """A message's ``text``: escaped, one line, cut (notifications show it)."""
    return escape_line(text, _FALLBACK_CAP)


# --------------------------------------------------------------------------- buttons


def _unwatch_confirm(view: AlertView) -> Block:
    name = cut(display_name(view.group_id, view.group_name), 120)
    return confirm(
        "Stop watching?",
        f"Stop watching {name} (watch #{view.watch_id})? This channel gets no more "
        f"alerts about it.",
        "Unwatch",
        "Cancel",
        style="danger",
    )


def _actions(view: AlertView, *, ack: bool, mute: bool) -> list[Block]:
    """The alert buttons (Unwatch always), or none if the value would be too long."""
    value = alert_button_value(view.watch_id, view.incident_id)
    if len(value) > MAX_BUTTON_VALUE:
        return []
    elements: list[Block] = []
    if ack:
        elements.append(button("Acknowledge", ACK_ACTION, value, style="primary"))
    if mute:
        label = f"Mute {format_duration(MUTE_BUTTON_SECONDS)}"
        elements.append(button(label, MUTE_ACTION, value))
    unwatch_confirm = _unwatch_confirm(view)
    elements.append(
        button("Unwatch", UNWATCH_ACTION, value, style="danger", confirm=unwatch_confirm)
    )
    return [actions("alert_actions", elements)]


# --------------------------------------------------------------------------- alert facts


def trend(samples: Sequence[int | None]) -> str | None:
    """The last SPARKLINE_WIDTH counts as a sparkline with their min and max; None if
    none is known."""
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
        fields.append(f"*Group*\n{group_ref(view.group_id, view.group_name)}")
    fields.append(f"*Rule*\n{escape_line(view.rule_text, _RULE_CAP)}")
    if view.value is not None or value_label != "Last count":
        fields.append(f"*{value_label}*\n{count(view.value)}")
    if view.since is not None:
        lasted = f" (for {format_span(view.now - view.since)})" if ongoing else ""
        fields.append(f"*{since_label}*\n{date_token(view.since)}{lasted}")
    trend_text = trend(view.samples)
    if trend_text:
        fields.append(f"*Recent counts*\n{trend_text}")
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
    return f"🔔 {escape_line(key.replace('_', ' ').capitalize(), 200)}"


def _status_lines(view: AlertView) -> list[str]:
    lines = []
    if view.muted_until is not None and view.now < view.muted_until:
        lines.append(f"🔇 Muted until {date_token(view.muted_until)}")
    if view.acknowledged_by:
        at = f" at {date_token(view.acknowledged_at)}" if view.acknowledged_at else ""
        lines.append(f"👍 Acknowledged by {user_or_text(view.acknowledged_by)}{at}")
    return lines


# --------------------------------------------------------------------------- alerts


def render_firing(view: AlertView, *, reason: str) -> Message:
    """The alert: facts, why it was sent, who acknowledged it, and its buttons.

    Acknowledge is left out once ``view.acknowledged_by`` is set.
    """
    name = display_name(view.group_id, view.group_name)
    blocks: list[Block] = [
        header(f"🚨 Audience alert: {name}"),
        section(None, _facts(view, value_label="Online now", since_label="Since", group=True)),
        context(_reason_line(reason, view.repeat_seconds), *_status_lines(view)),
        *_actions(view, ack=not view.acknowledged_by, mute=True),
    ]
    text = f"Audience alert: {name}: {count(view.value)} online, rule: {view.rule_text}"
    return message(_fallback(text), blocks)


def render_resolved_reply(view: AlertView, *, fired_for: float) -> Message:
    """The thread reply when an alert resolves."""
    rule = escape_line(view.rule_text, _RULE_CAP)
    fired = format_span(fired_for)
    body = f"✅ Resolved: {count(view.value)} online (rule: {rule}). Fired for {fired}."
    name = display_name(view.group_id, view.group_name)
    text = (
        f"Resolved: {name}: {count(view.value)} online (rule: {view.rule_text}). "
        f"Fired for {format_span(fired_for)}."
    )
    return message(_fallback(text), [section(body)])


def render_resolved_original(view: AlertView, *, fired_for: float, resolved_at: float) -> Message:
    """The alert message once resolved: the facts, when it resolved; Unwatch only."""
    name = display_name(view.group_id, view.group_name)
    blocks: list[Block] = [
        header(f"✅ Resolved audience alert: {name}"),
        section(
            None, _facts(view, value_label="Online", since_label="Began", group=True, ongoing=False)
        ),
        context(
            f"✅ Resolved at {date_token(resolved_at)} after {format_span(fired_for)}",
            *[line for line in _status_lines(view) if not line.startswith("🔇")],
        ),
        *_actions(view, ack=False, mute=False),
    ]
    text = f"Resolved: {name}: {count(view.value)} online, rule: {view.rule_text}"
    return message(_fallback(text), blocks)


_WHAT_TO_DO = (
    "The bot keeps trying and says so here when checking works again. If the group was "
    "dismissed or its ID changed, unwatch it. If Tencent refuses the bot (credentials, "
    "limits), tell whoever runs the bot. Mute it to stop reminders meanwhile."
)


def _error_text(view: AlertView) -> str:
    return view.error or "the check failed"


def render_error_alert(view: AlertView) -> Message:
    """The group cannot be checked: the error, what to do, and Mute / Unwatch."""
    name = display_name(view.group_id, view.group_name)
    where = group_ref(view.group_id, view.group_name)
    error = escape_line(_error_text(view), _ERROR_CAP)
    blocks: list[Block] = [
        section(
            f"⚠️ Cannot check {where}: {error}",
            _facts(view, value_label="Last count", since_label="Failing since", group=False),
        ),
        context(_WHAT_TO_DO, *_status_lines(view)),
        *_actions(view, ack=False, mute=True),
    ]
    return message(_fallback(f"Cannot check {name}: {_error_text(view)}"), blocks)


def render_recovered_reply(view: AlertView) -> Message:
    """The thread reply when checking works again (``view.since``: when failures began)."""
    rule = escape_line(view.rule_text, _RULE_CAP)
    failed = (
        f" It failed for {format_span(view.now - view.since)}." if view.since is not None else ""
    )
    body = f"✅ Checking works again: {count(view.value)} online (rule: {rule}).{failed}"
    name = display_name(view.group_id, view.group_name)
    text = f"Checking {name} works again: {count(view.value)} online.{failed}"
    return message(_fallback(text), [section(body)])


def render_error_original_recovered(view: AlertView, *, recovered_at: float) -> Message:
    """The error message once checking works again: what it was, when it recovered."""
    name = display_name(view.group_id, view.group_name)
    where = group_ref(view.group_id, view.group_name)
    after = f" after {format_span(recovered_at - view.since)}" if view.since is not None else ""
    blocks: list[Block] = [
        section(
            f"✅ Checking {where} works again",
            _facts(
                view, value_label="Online", since_label="Failed from", group=False, ongoing=False
            ),
        ),
        context(
            f"Was: {escape_line(_error_text(view), _ERROR_CAP)}",
            f"✅ Recovered at {date_token(recovered_at)}{after}",
        ),
        *_actions(view, ack=False, mute=False),
    ]
    return message(_fallback(f"Checking {name} works again"), blocks)
