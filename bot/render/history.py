"""``/online history`` as a Slack message, around its chart. Pure code: ``now`` and the
time zone are passed in.

:class:`HistoryView` is what the store knows of one (group, mark) over a range of time
(bot.alerts.history reads it); it makes the :class:`~bot.render.charts.Chart` and names
the PNG. :func:`render_history` is the answer: the range, min/max/last (date tokens,
which Slack shows in each reader's own time zone), the watches drawn, and a note saying
where the chart went; when it could not be attached, the text stands in for it (a
sparkline) and says why. :func:`render_no_history` answers for a group without samples.

Everything from Tencent (the group's name) is escaped; blocks come from
:mod:`bot.render.blocks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands.durations import DAY, format_ago, format_duration, format_span
from bot.render.alerts import sparkline
from bot.render.blocks import Block, Message, code, context, header, message, section
from bot.render.charts import Chart, Panel, Point, Span, Stats, Threshold, stats
from bot.render.escape import date_token, escape_line, escape_mrkdwn
from bot.render.words import display_name, group_ref, group_title, plural

__all__ = [
    "SPARKLINE_SLICES",
    "HistoryView",
    "WatchedRule",
    "range_words",
    "render_drawing",
    "render_history",
    "render_history_text",
    "render_no_history",
]

#: Characters of the sparkline that stands in for a chart that could not be attached.
SPARKLINE_SLICES = 40
_RULE_CAP = 300
_NOTE_CAP = 600


@dataclass(frozen=True, slots=True)
class WatchedRule:
    """A watch on the (group, mark), as the answer lists it."""

    watch_id: int
    text: str  # the rule in words
    paused: bool = False


@dataclass(frozen=True, slots=True)
class HistoryView:
    """One (group, mark) from ``start`` to ``end`` (unix seconds): its checks (None for a
    failed one), its watches' lines and rules, and when their alerts fired."""

    group_id: str
    mark: int | None
    group_name: str | None
    start: float
    end: float
    points: tuple[Point, ...]
    thresholds: tuple[Threshold, ...] = ()
    spans: tuple[Span, ...] = ()
    rules: tuple[WatchedRule, ...] = ()
    #: When nothing was checked in the range: the time of the latest check before it.
    latest_before: float | None = None
    #: Days samples are kept (HISTORY_DAYS).
    kept_days: int = 14

    @property
    def stats(self) -> Stats:
        return stats(self.points)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def label(self) -> str:
        """The group ID and its mark, as the chart's title shows them."""
        return self.group_id if self.mark is None else f"{self.group_id} mark {self.mark}"

    @property
    def range_text(self) -> str:
        """``last 24h``."""
        return f"last {range_words(self.seconds)}"

    def chart(self, zone: ZoneInfo) -> Chart:
        panel = Panel(
            label=self.label,
            points=self.points,
            thresholds=self.thresholds,
            spans=self.spans,
            name=self.group_name,
        )
        return Chart((panel,), self.start, self.end, zone, title="")

    @property
    def filename(self) -> str:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in self.group_id)
        mark = f"-mark{self.mark}" if self.mark is not None else ""
        return f"history-{safe.strip('-')}{mark}-{range_words(self.seconds).replace(' ', '')}.png"

    @property
    def title(self) -> str:
        """The file's title: ``Audience of Friday Live (mark 1000), last 24h``."""
        name = display_name(self.group_id, self.group_name)
        mark = f" (mark {self.mark})" if self.mark is not None else ""
        return f"Audience of {name}{mark}, {self.range_text}"

    def alt_text(self, zone: ZoneInfo) -> str:
        """What the chart shows, for readers who cannot see it."""
        summary = self.stats
        parts = [f"Line chart: online count of {group_title(self.group_id, self.group_name)}"]
        if self.mark is not None:
            parts[0] += f" (mark {self.mark})"
        parts[0] += f" over the {self.range_text}, times in {zone.key}"
        if summary.last is not None:
            assert summary.low is not None and summary.high is not None
            parts.append(
                f"min {summary.low.value:,}, max {summary.high.value:,}, "
                f"last {summary.last.value:,}"
            )
        if self.thresholds:
            parts.append("lines at " + ", ".join(t.label for t in self.thresholds))
        if self.spans:
            parts.append(f"{plural(len(self.spans), 'alert period')} shaded")
        if summary.failed:
            parts.append(f"{plural(summary.failed, 'failed check')} marked")
        return "; ".join(parts) + "."


def range_words(seconds: float) -> str:
    """A range as users type it: ``24h`` (not ``1d``), ``7d``, ``1h 30m``."""
    whole = round(seconds)
    return "24h" if whole == DAY else format_duration(whole)


def _when(point: Point) -> str:
    return date_token(int(point.at))


def _facts(view: HistoryView) -> list[str]:
    summary = view.stats
    fields = []
    if summary.last is not None:
        assert summary.low is not None and summary.high is not None
        fields += [
            f"*Min*\n{summary.low.value:,} · {_when(summary.low)}",
            f"*Max*\n{summary.high.value:,} · {_when(summary.high)}",
            f"*Last*\n{summary.last.value:,} · {_when(summary.last)}",
        ]
    failed = f" ({summary.failed:,} failed)" if summary.failed else ""
    fields.append(f"*Checks*\n{summary.checks:,}{failed}")
    return fields


def _slices(view: HistoryView, slices: int = SPARKLINE_SLICES) -> list[int | None]:
    """The last good count in each of ``slices`` equal slices of the range (None: none)."""
    width = view.seconds / slices
    values: list[int | None] = [None] * slices
    for point in view.points:
        if point.value is not None:
            index = min(slices - 1, max(0, int((point.at - view.start) // width)))
            values[index] = point.value
    return values


def _firing_total(view: HistoryView) -> float:
    return sum(
        max(0.0, min(view.end if s.end is None else s.end, view.end) - max(s.start, view.start))
        for s in view.spans
    )


def _watch_lines(view: HistoryView) -> list[str]:
    if not view.rules:
        return ["No watch of this channel is on it: no thresholds to draw."]
    lines = []
    for rule in view.rules:
        paused = " (paused)" if rule.paused else ""
        lines.append(f"#{rule.watch_id} {escape_line(rule.text, _RULE_CAP)}{paused}")
    watches = "watch" if len(view.rules) == 1 else "watches"
    text = f"Drawn: this channel's {len(view.rules):,} {watches}: "
    text += "; ".join(lines) + "."
    if view.spans:
        ongoing = any(s.end is None for s in view.spans)
        text += (
            f" Shaded: {plural(len(view.spans), 'alert period')}, "
            f"{format_span(_firing_total(view))} in all{' (one still firing)' if ongoing else ''}."
        )
    if any(rule.text.startswith("audience falls") for rule in view.rules):
        text += " A drop rule has no fixed line."
    return [text]


def render_history(
    view: HistoryView,
    *,
    chart_note: str,
    zone_note: str,
    attached: bool,
) -> Message:
    """The answer: what the chart shows and where it went (``chart_note``), or, when it
    could not be ``attached``, a sparkline standing in for it; ``zone_note`` says which
    time zone the chart's times are in and why."""
    where = group_ref(view.group_id, view.group_name)
    mark = f" (mark {view.mark})" if view.mark is not None else ""
    name = display_name(view.group_id, view.group_name)
    blocks: list[Block] = [
        header(f"Audience of {name}, {view.range_text}"),
        section(f"{where}{mark}, {view.range_text}", _facts(view)),
    ]
    if not attached:
        values = _slices(view)
        if any(v is not None for v in values):
            each = format_duration(round(view.seconds / SPARKLINE_SLICES))
            blocks.append(
                section(
                    f"`{sparkline(values, SPARKLINE_SLICES)}`\n"
                    f"{date_token(int(view.start))} to {date_token(int(view.end))}, one character "
                    f"for each {each} (its last count; blank: no good check)"
                )
            )
    notes = [escape_line(chart_note, _NOTE_CAP)]
    if attached:
        notes.append(escape_line(zone_note, _NOTE_CAP))
    notes += _watch_lines(view)
    if view.seconds > view.kept_days * DAY:
        notes.append(
            f"Samples are kept {plural(view.kept_days, 'day')} (HISTORY_DAYS): older ones are gone."
        )
    blocks.append(context(*notes))
    summary = view.stats
    text = f"Audience of {group_title(view.group_id, view.group_name)}{mark}, {view.range_text}"
    if summary.last is not None:
        assert summary.low is not None and summary.high is not None
        text += (
            f": min {summary.low.value:,}, max {summary.high.value:,}, last {summary.last.value:,}"
        )
    return message(escape_mrkdwn(text), blocks)


def render_history_text(view: HistoryView, zone: ZoneInfo) -> str:
    """The summary the command line prints beside the PNG: plain text, times in ``zone``."""
    summary = view.stats
    lines = [f"{view.title} ({plural(summary.checks, 'check')}, {summary.failed:,} failed)"]

    def at(point: Point) -> str:
        return datetime.fromtimestamp(point.at, zone).strftime("%Y-%m-%d %H:%M %Z")

    if summary.last is not None:
        assert summary.low is not None and summary.high is not None
        lines += [
            f"  min  {summary.low.value:>9,}  {at(summary.low)}",
            f"  max  {summary.high.value:>9,}  {at(summary.high)}",
            f"  last {summary.last.value:>9,}  {at(summary.last)}",
        ]
    for rule in view.rules:
        lines.append(f"  watch #{rule.watch_id}: {rule.text}{' (paused)' if rule.paused else ''}")
    if view.spans:
        lines.append(
            f"  {plural(len(view.spans), 'alert period')}, "
            f"{format_span(_firing_total(view))} in all"
        )
    return "\n".join(lines)


def render_no_history(
    group_id: str, mark: int | None, *, seconds: float, latest_before: float | None, now: float
) -> Message:
    """No check of the (group, mark) in the range: why, and what to do."""
    what = code(group_id) + (f" (mark {mark})" if mark is not None else "")
    watch = f"/online watch {group_id} below <N>" + (f" mark {mark}" if mark is not None else "")
    if latest_before is None:
        text = (
            f"No samples exist for {what}: the bot records an audience only while a channel "
            f"watches it, and {code(watch, 120)} starts them."
        )
    else:
        text = (
            f"No checks of {what} in the last {range_words(seconds)}: the latest "
            f"was {date_token(int(latest_before))} ({format_ago(now - latest_before)}). Ask "
            f"for a longer range, e.g. {code(f'/online history {group_id} 7d', 120)}; "
            f"{code(watch, 120)} records it again if nobody watches it now."
        )
    return message(text, [section(f":information_source: {text}")])


def render_drawing(group_id: str, mark: int | None, seconds: float) -> Message:
    """The immediate acknowledgement while the history is read and drawn."""
    what = code(group_id) + (f" (mark {mark})" if mark is not None else "")
    text = (
        f":hourglass_flowing_sand: Drawing the audience of {what} over the last "
        f"{range_words(seconds)}…"
    )
    return message(text, [context(text)])
