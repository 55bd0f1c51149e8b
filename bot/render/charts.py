"""Audience charts as PNG: one panel per (group, mark), or several as small multiples.

Values in, a figure or PNG bytes out; nothing read or written but what the drawing
library needs. matplotlib (with its Agg renderer) is imported on the first chart drawn,
never when this module is imported: the bot starts without it, and a process that
draws no chart never pays for it (about half a second and 50 MB).

::

    Chart(panels, start, end, zone, title)   what to draw: one Panel per audience line
    Panel(label, points, thresholds, spans, name)
        points      Point(at, value): a check's time (unix seconds) and count, None if it failed
        thresholds  Threshold(label, value, kind): a watch's line (below/above) or recover line
        spans       Span(start, end): when an alert was firing (end None: still firing)
    draw(chart) -> Figure       the figure, to inspect (tests look at its artists by gid)
    render_png(chart) -> bytes  the PNG (CHART_WIDTH x CHART_HEIGHT for one panel)
    stats(points) -> Stats      min, max and last (the figure's annotations, the text's table)
    downsample(points, start, end, buckets)   first/min/max/last per bucket, gaps kept

Each artist carries a ``gid`` naming what it shows (``audience``, ``threshold``,
``recover``, ``firing``, ``failed``, ``min``, ``max``, ``last``), so a test can find
every threshold line without looking at pixels. Times are shown in ``Chart.zone``,
named on the time axis. The palette is Okabe and Ito's, safe for colour-blind
readers; fonts are large enough for a phone.

Text from users or Tencent (a group's name) is never parsed as mathtext, kept on one
line and cut; a name the fonts cannot show (no glyphs for its script) is left out
rather than drawn as boxes: the message around the chart shows it.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from bot.render.escape import cut, single_line

if TYPE_CHECKING:  # only for annotations: importing matplotlib costs half a second
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CHART_DPI",
    "CHART_HEIGHT",
    "CHART_WIDTH",
    "MIN_GAP_SECONDS",
    "PALETTE",
    "UTC_ZONE",
    "Chart",
    "Panel",
    "Point",
    "Span",
    "Stats",
    "Threshold",
    "ThresholdKind",
    "downsample",
    "draw",
    "render_png",
    "stats",
    "with_gaps",
]

#: One panel's size in pixels (landscape, readable on a phone held sideways or not).
CHART_WIDTH, CHART_HEIGHT = 1200, 600
CHART_DPI = 100
#: A small multiple's height; charts of several panels are two columns wide.
MULTIPLE_HEIGHT = 340
#: Colours of the PNG's palette.
PALETTE_COLOURS = 64
#: Buckets a panel's line is reduced to (each keeps up to 4 points): about one per
#: 2 pixels of a full-width panel, so what is drawn is what 10,080 points would show.
BUCKETS = 600
#: Two checks further apart than this (or 3 of the usual steps) are not joined by the
#: line: the bot was down, or the watch did not exist, in between.
MIN_GAP_SECONDS = 900

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with any colour vision.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
AUDIENCE_COLOUR = PALETTE["blue"]
FIRING_COLOUR = PALETTE["vermillion"]
FAILED_COLOUR = PALETTE["reddish_purple"]
THRESHOLD_COLOURS = {
    "below": PALETTE["vermillion"],
    "above": PALETTE["orange"],
    "recover": PALETTE["bluish_green"],
}
_GRID_COLOUR = "#D9D9D9"
_TEXT_COLOUR = "#222222"

#: Font sizes in points (at CHART_DPI, 1 pt is 1.4 px).
_FONT = {"title": 21, "label": 16, "tick": 15, "note": 15, "legend": 14}
_MAX_LABEL_CHARS = 80

ThresholdKind = Literal["below", "above", "recover"]
#: Where times are shown unless the reader's zone is known.
UTC_ZONE = ZoneInfo("UTC")


class Point(NamedTuple):
    """One check: when (unix seconds) and the count, or None when the check failed."""

    at: float
    value: int | None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A horizontal line: a watch's threshold (``below``/``above``) or where its alert
    clears (``recover``), labelled as the reader knows it (``#3 below 100``)."""

    label: str
    value: int
    kind: ThresholdKind


@dataclass(frozen=True, slots=True)
class Span:
    """When an alert was firing; ``end`` None while it still is (drawn to the chart's end)."""

    start: float
    end: float | None = None


@dataclass(frozen=True, slots=True)
class Panel:
    """One audience line. ``label`` is ASCII the fonts always show (a group ID and mark);
    ``name``, when the fonts can show it, is drawn before it."""

    label: str
    points: tuple[Point, ...]
    thresholds: tuple[Threshold, ...] = ()
    spans: tuple[Span, ...] = ()
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw: ``panels`` over ``start``..``end`` (unix seconds), times in ``zone``."""

    panels: tuple[Panel, ...]
    start: float
    end: float
    zone: ZoneInfo = UTC_ZONE
    title: str = ""

    def __post_init__(self) -> None:
        if not self.panels:
            raise ValueError("A chart needs a panel")
        if not self.end > self.start:
            raise ValueError("A chart's end must come after its start")

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels."""
        if len(self.panels) == 1:
            return CHART_WIDTH, CHART_HEIGHT
        rows = math.ceil(len(self.panels) / 2)
        return CHART_WIDTH, max(CHART_HEIGHT, MULTIPLE_HEIGHT * rows + 120)


# --------------------------------------------------------------------------- pure parts


@dataclass(frozen=True, slots=True)
class Stats:
    """The lowest, highest and last good checks (the earliest of equals), and how many
    checks there were and how many failed."""

    low: Point | None
    high: Point | None
    last: Point | None
    checks: int
    failed: int


def stats(points: Sequence[Point]) -> Stats:
    low = high = last = None
    failed = 0
    for point in points:
        if point.value is None:
            failed += 1
            continue
        if low is None or point.value < low.value:  # type: ignore[operator]
            low = point
        if high is None or point.value > high.value:  # type: ignore[operator]
            high = point
        last = point
    return Stats(low, high, last, len(points), failed)


def with_gaps(points: Sequence[Point], min_gap: float = MIN_GAP_SECONDS) -> list[Point]:
    """``points`` with a None between two checks further apart than 3 usual steps (the
    median) or ``min_gap``, whichever is longer: the line is not drawn across them."""
    if len(points) < 3:
        return list(points)
    steps = [b.at - a.at for a, b in itertools.pairwise(points)]
    gap = max(min_gap, 3 * statistics.median(steps))
    out = [points[0]]
    for previous, point in itertools.pairwise(points):
        if point.at - previous.at > gap:
            out.append(Point((previous.at + point.at) / 2, None))
        out.append(point)
    return out


def downsample(points: Sequence[Point], start: float, end: float, buckets: int) -> list[Point]:
    """At most about 4 points per bucket of time: the first, lowest, highest and last
    good ones of each (M4: the line drawn through them is the one all the points draw at
    that width), and a None where a bucket had a failed check, so gaps stay gaps (the
    good points after it are a run of their own). ``points`` are in time order; fewer
    than 4 per bucket come back as they are. One pass, no list per bucket: 10,080
    points take a few milliseconds."""
    if buckets <= 0 or len(points) <= 4 * buckets:
        return list(points)
    width = (end - start) / buckets
    out: list[Point] = []
    bucket = -1
    failed = False  # the bucket had a failure already
    first = low = high = last = None  # of the current run, with their indexes
    first_i = low_i = high_i = last_i = 0

    def flush() -> None:
        if first is not None:
            kept = {first_i: first, low_i: low, high_i: high, last_i: last}
            out.extend(kept[i] for i in sorted(kept))  # type: ignore[misc]

    for i, point in enumerate(points):
        index = min(buckets - 1, max(0, int((point.at - start) // width)))
        if index != bucket:
            flush()
            bucket, failed = index, False
            first = low = high = last = None
        value = point.value
        if value is None:
            if not failed:
                flush()
                first = low = high = last = None
                out.append(point)
                failed = True
            continue
        if first is None:
            first = low = high = last = point
            first_i = low_i = high_i = last_i = i
            continue
        if value < low.value:  # type: ignore[union-attr,operator]
            low, low_i = point, i
        elif value > high.value:  # type: ignore[union-attr,operator]
            high, high_i = point, i
        last, last_i = point, i
    flush()
    return out


def _failures(points: Sequence[Point], start: float, end: float, buckets: int) -> list[float]:
    """The times of failed checks, one per bucket (a rug mark per pixel pair is enough)."""
    width = (end - start) / max(1, buckets)
    seen: set[int] = set()
    times = []
    for point in points:
        if point.value is None:
            index = int((point.at - start) // width)
            if index not in seen:
                seen.add(index)
                times.append(point.at)
    return times


def _clean(text: str) -> str:
    return cut(single_line(text), _MAX_LABEL_CHARS)


# --------------------------------------------------------------------------- drawing

_lock = threading.Lock()  # matplotlib is not thread-safe: one chart drawn at a time
_reused: dict[str, Any] = {}  # the figure render_png draws on, again and again


def render_png(chart: Chart) -> bytes:
    """The chart as PNG bytes, ``chart.size`` pixels.

    One figure is drawn on again and again, under a lock: matplotlib is not thread-safe
    (and the GIL would draw two charts one after the other anyway), and clearing a
    figure costs less than making one."""
    with _lock:
        figure = _reused.get("figure")
        if figure is None:
            figure = _reused["figure"] = _new_figure(chart.size)
        with _matplotlib().rc_context(_rc()):  # what is read when drawn, not when made
            draw(chart, figure)
            figure.canvas.draw()
        try:
            width, height = figure.canvas.get_width_height()
            return _png(figure.canvas.buffer_rgba(), width, height)
        finally:
            figure.clear()  # the artists go now, not at the next collection


def _png(rgba: memoryview, width: int, height: int) -> bytes:
    """RGBA pixels as a PNG of PALETTE_COLOURS colours: a chart has a few flat colours
    and their anti-aliased edges, so it looks the same at a third of the bytes (about
    30 KB), encoded in less than half the time of a full-colour PNG of the same
    compression."""
    from PIL import Image

    image = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1)
    paletted = image.quantize(PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE)
    # the chart is opaque: an RGB palette, so that the PNG carries no transparency chunk
    paletted.putpalette(paletted.getpalette("RGB") or [], "RGB")
    buffer = io.BytesIO()
    paletted.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def draw(chart: Chart, figure: Figure | None = None) -> Figure:
    """The chart on ``figure`` (cleared and sized), or on a new one."""
    mpl = _matplotlib()
    width, height = chart.size
    if figure is None:
        figure = _new_figure(chart.size)
    else:
        figure.clear()
        figure.set_size_inches(width / CHART_DPI, height / CHART_DPI)
    with mpl.rc_context(_rc()):
        if len(chart.panels) == 1:
            axes = [figure.add_subplot()]
            figure.subplots_adjust(left=0.085, right=0.975, top=0.86, bottom=0.15)
        else:
            rows = math.ceil(len(chart.panels) / 2)
            grid = figure.subplots(rows, 2, squeeze=False)
            axes = list(grid.flat)
            top = 1 - 100 / height  # room for the title, the legend and a panel title
            figure.subplots_adjust(
                left=0.07, right=0.98, top=top, bottom=70 / height, hspace=0.55, wspace=0.15
            )
            for unused in axes[len(chart.panels) :]:
                unused.set_visible(False)
        for ax, panel in zip(axes, chart.panels, strict=False):
            _draw_panel(ax, panel, chart, small=len(chart.panels) > 1)
        if len(chart.panels) > 1:
            _figure_legend(figure, axes[: len(chart.panels)], height)
        if chart.title:
            figure.suptitle(
                _clean(chart.title),
                fontsize=_FONT["title"],
                color=_TEXT_COLOUR,
                parse_math=False,
                x=0.02,
                y=1 - 8 / height,
                ha="left",
                va="top",
            )
    return figure


@functools.cache
def _matplotlib() -> Any:
    """matplotlib, imported (and told to use Agg, without touching pyplot) on first use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    return matplotlib


def _new_figure(size: tuple[int, int]) -> Figure:
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] / CHART_DPI, size[1] / CHART_DPI), dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    return figure


def _rc() -> dict[str, Any]:
    return {
        "font.family": ["DejaVu Sans", *_fallback_fonts()],
        "font.size": _FONT["tick"],
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "axes.edgecolor": "#999999",
        "axes.labelcolor": _TEXT_COLOUR,
        "xtick.color": _TEXT_COLOUR,
        "ytick.color": _TEXT_COLOUR,
        "text.color": _TEXT_COLOUR,
        "path.simplify": True,
        "agg.path.chunksize": 10_000,
    }


#: Fonts for scripts DejaVu lacks (Chinese, Japanese, Korean), used when installed.
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
)


@functools.cache
def _fallback_fonts() -> tuple[str, ...]:
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return tuple(name for name in _CJK_FONTS if name in installed)


@functools.cache
def _fonts() -> tuple[Any, ...]:
    from matplotlib import font_manager

    found = []
    for family in ("DejaVu Sans", *_fallback_fonts()):
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        found.append(font_manager.get_font(path))
    return tuple(found)


def _showable(text: str) -> bool:
    """Whether some font the chart uses has a glyph for every character of ``text``."""
    fonts = _fonts()
    return all(ch.isspace() or any(font.get_char_index(ord(ch)) for font in fonts) for ch in text)


def _title(panel: Panel) -> str:
    label = _clean(panel.label)
    name = _clean(panel.name or "")
    if name and _showable(name):
        return cut(f"{name} · {label}", _MAX_LABEL_CHARS + 20)
    return label


def _x(unix: float) -> float:
    """Unix seconds as matplotlib's date numbers (days since its epoch)."""
    return _epoch_offset() + unix / 86_400


@functools.cache
def _epoch_offset() -> float:
    from matplotlib import dates

    return float(dates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))


def _draw_panel(ax: Axes, panel: Panel, chart: Chart, *, small: bool) -> None:
    from matplotlib import dates, ticker, transforms

    scale = 0.8 if small else 1.0
    start, end = chart.start, chart.end
    shown = [p for p in panel.points if start <= p.at <= end]
    line = downsample(with_gaps(shown), start, end, BUCKETS)
    xs = [_x(p.at) for p in line]
    ys = [math.nan if p.value is None else float(p.value) for p in line]
    few = sum(1 for p in line if p.value is not None) < 60
    ax.plot(
        xs,
        ys,
        color=AUDIENCE_COLOUR,
        linewidth=2.6 * scale,
        marker="o" if few else None,
        markersize=4 * scale,
        solid_joinstyle="round",
        label="audience",
        gid="audience",
    )
    for index, span in enumerate(panel.spans):
        left, right = max(span.start, start), min(end if span.end is None else span.end, end)
        if right > left:
            ax.axvspan(
                _x(left),
                _x(right),
                color=FIRING_COLOUR,
                alpha=0.16,
                linewidth=0,
                label="alert firing" if index == 0 else "_nolegend_",
                gid="firing",
            )
    for threshold in panel.thresholds:
        _draw_threshold(ax, threshold, scale)
    failures = _failures(shown, start, end, BUCKETS)
    if failures:
        ax.plot(
            [_x(at) for at in failures],
            [0.0] * len(failures),
            transform=transforms.blended_transform_factory(ax.transData, ax.transAxes),
            linestyle="none",
            marker="|",
            markersize=14 * scale,
            markeredgewidth=2,
            color=FAILED_COLOUR,
            clip_on=False,
            label="failed check",
            gid="failed",
        )
    summary = stats(shown)
    if summary.last is None:
        ax.text(
            0.5,
            0.5,
            "no checks in this range" if not failures else "every check failed",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=_FONT["note"] * scale,
            color="#666666",
            parse_math=False,
            gid="empty",
        )

    ax.set_xlim(_x(start), _x(end))
    values = [p.value for p in shown if p.value is not None]
    values += [t.value for t in panel.thresholds]
    top = max(values, default=0)
    ax.set_ylim(0, max(10.0, top * 1.3))
    _annotate(ax, summary, start, end, scale)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=5 if small else 6, integer=True))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    locator = dates.AutoDateLocator(tz=chart.zone, minticks=3, maxticks=5 if small else 8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=chart.zone))
    ax.tick_params(labelsize=_FONT["tick"] * scale, length=5)
    ax.grid(True, color=_GRID_COLOUR, linewidth=1)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(f"time ({chart.zone.key})", fontsize=_FONT["label"] * scale)
    if not small:
        ax.set_ylabel("online", fontsize=_FONT["label"])
    # a text above the axes rather than set_title, whose placement measures every tick
    # label on each draw (a tenth of a chart's time)
    ax.annotate(
        _title(panel),
        xy=(0, 1),
        xycoords="axes fraction",
        xytext=(0, 12),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=(_FONT["title"] - 2) * scale if small else _FONT["title"],
        parse_math=False,
        annotation_clip=False,
        gid="title",
    )
    ax.xaxis.get_offset_text().set_fontsize(_FONT["tick"] * scale)
    if not small:  # small multiples share one legend, under the figure's title
        ax.legend(
            loc="upper left",
            ncols=3,
            fontsize=_FONT["legend"],
            frameon=True,
            framealpha=0.9,
            edgecolor="none",
        )


def _figure_legend(figure: Figure, axes: list[Axes], height: int) -> None:
    """One legend for all the small multiples: every kind of artist any panel has."""
    seen: dict[str, Any] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=False):
            seen.setdefault(label, handle)
    figure.legend(
        list(seen.values()),
        list(seen),
        loc="upper right",
        bbox_to_anchor=(0.98, 1 - 6 / height),
        ncols=len(seen),
        fontsize=_FONT["legend"],
        frameon=False,
    )


def _draw_threshold(ax: Axes, threshold: Threshold, scale: float) -> None:
    colour = THRESHOLD_COLOURS[threshold.kind]
    recover = threshold.kind == "recover"
    ax.axhline(
        threshold.value,
        color=colour,
        linestyle=":" if recover else "--",
        linewidth=(2 if recover else 2.4) * scale,
        label="_nolegend_",
        gid="recover" if recover else "threshold",
    )
    ax.annotate(
        _clean(threshold.label),
        xy=(0.0 if recover else 1.0, threshold.value),
        xycoords=("axes fraction", "data"),
        xytext=(6 if recover else -6, 4),
        textcoords="offset points",
        ha="left" if recover else "right",
        va="bottom",
        fontsize=_FONT["note"] * scale,
        color=colour,
        fontweight="bold",
        parse_math=False,
        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        gid=f"{'recover' if recover else 'threshold'}-label",
    )


def _annotate(ax: Axes, summary: Stats, start: float, end: float, scale: float) -> None:
    """Min, max and last: a marker and a label each (one label for points that coincide)."""
    if summary.last is None or summary.low is None or summary.high is None:
        return
    flat = summary.low.value == summary.high.value
    named = (
        [("last", summary.last)]
        if flat
        else [("max", summary.high), ("min", summary.low), ("last", summary.last)]
    )
    names: dict[Point, list[str]] = {}
    for name, point in named:
        # one label for points of the same count close together (they would overlap)
        near = next(
            (
                other
                for other in names
                if other.value == point.value and abs(other.at - point.at) < 0.05 * (end - start)
            ),
            None,
        )
        names.setdefault(point if near is None else near, []).append(name)
    for point, which in names.items():
        assert point.value is not None
        text = f"{' & '.join(which)} {point.value:,}"
        where = (point.at - start) / (end - start)
        ha = "right" if where > 0.85 else "left" if where < 0.15 else "center"
        offset = (0, 12)
        if which == ["min"]:  # under its point, or beside it when near the time axis
            below = point.value > 0.2 * ax.get_ylim()[1]
            side = -1 if where > 0.85 else 1
            offset = (0, -10) if below else (10 * side, 6)
            ha = ha if below else "right" if side < 0 else "left"
        ax.plot(
            [_x(point.at)],
            [point.value],
            marker="o",
            markersize=8 * scale,
            color=_TEXT_COLOUR if "last" in which else AUDIENCE_COLOUR,
            markeredgecolor="white",
            linestyle="none",
            label="_nolegend_",
            gid=f"{which[0]}-marker",
        )
        ax.annotate(
            text,
            xy=(_x(point.at), point.value),
            xytext=offset,
            textcoords="offset points",
            ha=ha,
            va="top" if offset[1] < 0 else "bottom",
            fontsize=_FONT["note"] * scale,
            fontweight="bold",
            color=_TEXT_COLOUR,
            parse_math=False,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
            annotation_clip=False,
            gid="+".join(which),
        )
