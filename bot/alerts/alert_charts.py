"""An alert's chart: what it covers, what it is called, and the PNG.

- **An alert** (FIRING, and its REPEAT and REMINDER): the last hour of its watch's
  (group, mark), up to when it is drawn (at most ``LATE_CAP`` after the alert, so a chart
  retried late still shows the alert's hour).
- **A resolve**: the whole incident, from its opening alert to the resolve, with a
  margin either side (``margin``: a tenth of the incident, at least 5 minutes), at most
  ``MAX_WINDOW`` (samples are not kept longer anyway).

Each shows that watch's threshold line(s) and its firing period shaded, failed checks
marked (``HistoryReader.read_window``), times in UTC (a channel has many readers; the
title says so). ``window`` is pure; ``draw_alert_chart`` reads the store and has the
chart drawn by the bot's ``Draw`` (``bot.drawing``: in ``run``, its drawing process).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.alerts.history import HistoryReader
from bot.commands.durations import DAY, HOUR, MINUTE, format_span
from bot.drawing import Draw
from bot.render.charts import UTC_ZONE
from bot.render.escape import cut, utc_text
from bot.render.history import HistoryView
from bot.render.words import display_name
from bot.store.models import OutboxKind

__all__ = [
    "ALERT_WINDOW",
    "LATE_CAP",
    "MAX_WINDOW",
    "AlertChart",
    "ChartRequest",
    "draw_alert_chart",
    "filename_of",
    "margin",
    "title_of",
    "window",
]

#: What an alert's chart covers: the last hour.
ALERT_WINDOW = HOUR
#: A chart drawn later than this after its alert (retried) still ends here.
LATE_CAP = 5 * MINUTE
#: The longest incident a resolve's chart covers (the longest history range).
MAX_WINDOW = 31 * DAY
_MIN_MARGIN = 5 * MINUTE
_TITLE_CAP = 250


@dataclass(frozen=True, slots=True)
class ChartRequest:
    """What an outbox chart row asks for (its ``payload["chart"]``), and whose it is."""

    row_id: int
    watch_id: int | None
    channel_id: str
    group_id: str
    mark: int | None
    of: str  # the kind of the message it follows
    alert_at: float
    incident_start: float | None = None

    @classmethod
    def of_payload(
        cls, row_id: int, watch_id: int | None, channel_id: str, payload: dict[str, Any]
    ) -> ChartRequest:
        chart = payload["chart"]
        start = chart.get("incident_start")
        return cls(
            row_id=row_id,
            watch_id=watch_id,
            channel_id=channel_id,
            group_id=str(chart["group_id"]),
            mark=chart.get("mark"),
            of=str(chart["of"]),
            alert_at=float(chart["alert_at"]),
            incident_start=float(start) if start is not None else None,
        )

    @property
    def resolved(self) -> bool:
        return self.of == OutboxKind.RESOLVED


@dataclass(frozen=True, slots=True)
class AlertChart:
    """A drawn chart, ready to upload."""

    filename: str  # carries the row id: how a chart already uploaded is found again
    title: str
    alt_text: str
    content: bytes
    start: float
    end: float
    view: HistoryView


def margin(incident_seconds: float) -> float:
    """How much a resolve's chart shows before the incident and after it."""
    return max(_MIN_MARGIN, incident_seconds / 10)


def window(request: ChartRequest, drawn_at: float) -> tuple[float, float]:
    """(start, end) of the chart, drawn at ``drawn_at``."""
    alert_at = request.alert_at
    if not request.resolved or request.incident_start is None:
        end = min(max(drawn_at, alert_at), alert_at + LATE_CAP)
        return end - ALERT_WINDOW, end
    extra = margin(alert_at - request.incident_start)
    end = min(max(drawn_at, alert_at), alert_at + min(extra, LATE_CAP))
    start = max(request.incident_start - extra, end - MAX_WINDOW)
    return start, end


def filename_of(request: ChartRequest) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in request.group_id)
    what = "incident" if request.resolved else "alert"
    return f"{what}-chart-{request.row_id}-{safe.strip('-')}.png"


def title_of(request: ChartRequest, view: HistoryView) -> str:
    """``Alert of watch #3: audience of Friday Live (mark 1000), last hour, UTC``, or for a
    resolve, the incident's times and length."""
    name = display_name(request.group_id, view.group_name)
    mark = f" (mark {request.mark})" if request.mark is not None else ""
    watch = f"watch #{request.watch_id}" if request.watch_id is not None else "a watch"
    if request.resolved and request.incident_start is not None:
        fired = format_span(round(request.alert_at - request.incident_start))
        title = (
            f"Incident of {watch}: audience of {name}{mark}, fired {fired} from "
            f"{utc_text(request.incident_start)} to {_until(request)}"
        )
    elif request.resolved:  # its opening is not known
        title = f"Resolved, {watch}: audience of {name}{mark}, last hour, UTC"
    elif request.of == OutboxKind.FIRING:
        title = f"Alert of {watch}: audience of {name}{mark}, last hour, UTC"
    else:
        title = f"Still firing, {watch}: audience of {name}{mark}, last hour, UTC"
    return cut(title, _TITLE_CAP)


def _until(request: ChartRequest) -> str:
    """The resolve's time, without its date when the incident began the same day."""
    assert request.incident_start is not None
    start, end = utc_text(request.incident_start), utc_text(request.alert_at)
    return end.split(" ", 1)[1] if start[:10] == end[:10] else end


def draw_alert_chart(
    reader: HistoryReader,
    draw: Draw,
    request: ChartRequest,
    drawn_at: float,
) -> AlertChart:
    """Read the request's window from the store and draw it (DrawingFailed if it cannot be
    drawn)."""
    start, end = window(request, drawn_at)
    view = reader.read_window(
        request.group_id,
        request.mark,
        start,
        end,
        request.channel_id,
        watch_id=request.watch_id if request.watch_id is not None else -1,
    )
    title = title_of(request, view)
    return AlertChart(
        filename=filename_of(request),
        title=title,
        alt_text=cut(f"{title}. {view.alt_text(UTC_ZONE)}", 1000),
        content=draw(view.chart(UTC_ZONE)),
        start=start,
        end=end,
        view=view,
    )
