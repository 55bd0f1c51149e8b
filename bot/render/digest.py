"""The daily digest: its message (each watched group's peak and when, low, average, now,
and the alerts of the last 24 h), its small-multiples chart, and the answers to
``/online digest``. Pure code: values in, Block Kit out (bot/render/blocks.py).

Times in the digest are local to the digest's zone (``HH:MM``), the zone named once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.render.blocks import (
    MAX_BLOCKS,
    Block,
    Message,
    code,
    context,
    header,
    message,
    section,
    user_or_text,
)
from bot.render.charts import Chart, Panel, stats
from bot.render.escape import escape_line
from bot.render.history import HistoryView
from bot.render.words import group_ref, group_title, plural

__all__ = [
    "DIGEST_EVENT_TYPE",
    "MAX_CHARTED",
    "MAX_LISTED",
    "DigestSetting",
    "DigestView",
    "GroupSummary",
    "chart_alt_text",
    "chart_note",
    "digest_chart",
    "digest_metadata",
    "render_chart_refused",
    "render_digest",
    "render_digest_off",
    "render_digest_set",
    "render_digest_setting",
    "render_setting_digest",
    "setting_line",
    "summarise",
]

#: Groups drawn in the chart (two columns of small multiples, six rows).
MAX_CHARTED = 12
#: Groups listed in the message: a header, the groups, three notes, within 50 blocks.
MAX_LISTED = MAX_BLOCKS - 5
#: Slack message metadata's event type for a digest (found again after a crash by its key).
DIGEST_EVENT_TYPE = "online_bot_digest"


@dataclass(frozen=True, slots=True)
class DigestView:
    """What a digest shows: each of the channel's watched (group, mark) over ``start``..
    ``end``, for the local date ``day``, times in ``zone``."""

    channel_id: str
    zone: ZoneInfo
    day: date
    start: float
    end: float
    groups: tuple[HistoryView, ...]


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One group's day: ``None`` where there was no good check."""

    peak: int | None
    peak_at: float | None
    low: int | None
    average: float | None
    now: int | None
    now_at: float | None
    checks: int
    failed: int
    alerts: int  # alerts that began firing in the window


def summarise(view: HistoryView) -> GroupSummary:
    """Peak (the earliest of equals) and when, low, average of the good checks, the last
    good check, and the alerts that began firing within the view's window."""
    summary = stats(view.points)
    values = [p.value for p in view.points if p.value is not None]
    return GroupSummary(
        peak=summary.high.value if summary.high else None,
        peak_at=summary.high.at if summary.high else None,
        low=summary.low.value if summary.low else None,
        average=sum(values) / len(values) if values else None,
        now=summary.last.value if summary.last else None,
        now_at=summary.last.at if summary.last else None,
        checks=summary.checks,
        failed=summary.failed,
        alerts=sum(1 for span in view.spans if view.start <= span.start <= view.end),
    )


def _clock(unix: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(unix, zone).strftime("%H:%M")


def _group_text(view: HistoryView, zone: ZoneInfo) -> str:
    mark = f" (mark {view.mark})" if view.mark is not None else ""
    title = f"{group_ref(view.group_id, view.group_name)}{mark}"
    day = summarise(view)
    alerts = f"{plural(day.alerts, 'alert')} fired" if day.alerts else "no alerts"
    if day.peak is None or day.peak_at is None or day.now_at is None:
        failed = f" ({plural(day.failed, 'failed check')})" if day.failed else ""
        return f"{title}\nNo counts in the last 24 h{failed}; {alerts}."
    assert day.low is not None and day.average is not None and day.now is not None
    failed = f" · {plural(day.failed, 'failed check')}" if day.failed else ""
    return (
        f"{title}\nPeak *{day.peak:,}* at {_clock(day.peak_at, zone)} · low {day.low:,} · "
        f"average {round(day.average):,} · now {day.now:,} ({_clock(day.now_at, zone)}) · "
        f"{alerts}{failed}"
    )


def render_digest(view: DigestView, *, chart_note: str | None) -> Message:
    """The digest's message; ``chart_note`` says where its chart is (or why there is none)."""
    zone_day = f"{view.day:%a %d %b %Y}, times in {view.zone.key}"
    if not view.groups:
        text = (
            "Daily digest: this channel watches no groups any more, so there is nothing to "
            "sum up. `/online watch` starts a watch; `/online digest off` stops this digest."
        )
        return message(text, [section(text)])
    title = f"Daily digest: {plural(len(view.groups), 'watched group')}"
    blocks: list[Block] = [header(title), context(f"The last 24 hours to {zone_day}.")]
    listed = view.groups[:MAX_LISTED]
    blocks.extend(section(_group_text(group, view.zone)) for group in listed)
    hidden = len(view.groups) - len(listed)
    if hidden:
        blocks.append(context(f"…and {plural(hidden, 'more group')} not listed here."))
    if chart_note:
        blocks.append(context(escape_line(chart_note, 1000)))
    fallback = f"{title} ({view.day:%d %b})"
    return message(fallback, blocks)


def digest_chart(view: DigestView) -> Chart | None:
    """The small multiples of the groups with checks (the first MAX_CHARTED); None if none."""
    drawn = [group for group in view.groups if group.points][:MAX_CHARTED]
    if not drawn:
        return None
    panels = tuple(
        Panel(
            label=group.label,
            points=group.points,
            thresholds=group.thresholds,
            spans=group.spans,
            name=group.group_name,
        )
        for group in drawn
    )
    title = f"Daily digest, last 24 h to {view.day:%d %b %Y}"
    return Chart(panels, view.start, view.end, view.zone, title=title)


def chart_note(view: DigestView, chart: Chart | None) -> str:
    """What the digest says of its chart when there is one to upload."""
    if chart is None:
        return "No chart: no group was checked in the last 24 hours."
    with_points = sum(1 for group in view.groups if group.points)
    if len(chart.panels) < with_points:
        return (
            f"The chart in the thread shows the first {len(chart.panels)} of the "
            f"{with_points} groups with counts."
        )
    return "The chart of every group is in the thread."


def chart_alt_text(view: DigestView) -> str:
    names = ", ".join(group_title(g.group_id, g.group_name) for g in view.groups[:MAX_CHARTED])
    return f"Small multiples: the online count of {names} over the last 24 h, in {view.zone.key}."


def digest_metadata(key: str) -> dict[str, Any]:
    return {"event_type": DIGEST_EVENT_TYPE, "event_payload": {"key": key}}


def render_chart_refused(reason: str) -> Message:
    """Posted in the digest's thread when its chart could not be uploaded."""
    text = (
        f"No chart with today's digest: Slack did not take its upload ({escape_line(reason, 200)})."
        " The figures above stand in for it; if Slack says `missing_scope`, reinstall the app "
        "from its manifest (files:write)."
    )
    return message(text, [section(text)])


# --------------------------------------------------------------------------- the setting


@dataclass(frozen=True, slots=True)
class DigestSetting:
    """A channel's digest as ``/online digest`` and ``/online watches`` show it."""

    at_text: str  # "09:00"
    zone: str
    next_due_at: float
    created_by: str
    last_error: str | None = None  # why Slack refused the last one, if it did


def _next(setting: DigestSetting) -> str:
    local = datetime.fromtimestamp(setting.next_due_at, ZoneInfo(setting.zone))
    return f"{local:%a %d %b %H:%M} {setting.zone}"


def setting_line(setting: DigestSetting) -> str:
    """``Daily digest at 09:00 Europe/Paris (next: ...), set by <@U1>``: one mrkdwn line."""
    line = (
        f"Daily digest at *{setting.at_text}* {code(setting.zone)} (next: {_next(setting)}), "
        f"set by {user_or_text(setting.created_by)}"
    )
    if setting.last_error:
        line += f" · ⚠️ {escape_line(setting.last_error, 300)}"
    return line


def render_digest_set(setting: DigestSetting, *, zone_note: str, replaced: bool) -> Message:
    """The answer to ``/online digest HH:MM [zone]``."""
    verb = "now goes" if replaced else "goes"
    text = (
        f"This channel's daily digest {verb} out at *{setting.at_text}* {code(setting.zone)}: "
        f"next {_next(setting)}. {escape_line(zone_note, 300)}"
    )
    hint = "`/online digest off` stops it; `/online watches` shows it."
    return message(text, [section(text), context(hint)])


def render_digest_off(*, actor: str, had_one: bool) -> Message:
    if not had_one:
        text = "This channel has no daily digest: nothing to stop."
    else:
        text = f"{user_or_text(actor)} stopped this channel's daily digest."
    return message(text, [section(text)])


def render_digest_setting(setting: DigestSetting | None, usage: str) -> Message:
    """``/online digest`` alone: the setting, and how to change it."""
    now = setting_line(setting) + "." if setting else "This channel has no daily digest."
    text = f"{now}\nUsage: `{escape_line(usage, 300)}`"
    return message(text, [section(text)])


def render_setting_digest() -> Message:
    """The acknowledgement while a digest is being set (the requester's zone may be asked)."""
    text = "Setting this channel's daily digest…"
    return message(text, [context(text)])
