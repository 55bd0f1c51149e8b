"""A chart laid out as a scene: every stroke, shaded span, dot and text it shows, in
pixels, built from the :class:`~bot.render.chart_model.Chart` alone (pure; drawn by
bot.render.chart_raster).

::

    build_scene(chart, showable) -> Scene
        Scene(width, height, frames, items)
        Frame(box, start, end, top)     a panel's plot area: x(at), y(value) and back
        items, in drawing order, each with a ``role`` and its ``panel`` (-1: the figure's)
            Shade   a translucent box       firing, legend-swatch, backdrop
            Stroke  polylines of one colour grid, axis, tick, threshold, recover,
                    (dashed, or smooth:     audience, failed, legend-swatch
                    antialiased)
            Dot     a disc, white-edged     min-marker, max-marker, last-marker...,
                                            audience-point
            Label   a text at an anchor     title, chart-title, time-tick, value-tick,
                                            axis-label,
                                            date-note, threshold-label, recover-label,
                                            min, max, last (or max+last...), empty, legend

Sizes come in points, as a reader knows them, turned into pixels at 100 per inch.
``showable(text)`` says whether the fonts have a glyph for every character of a
group's name: one they cannot show is left out (the message around the chart shows
it) rather than drawn as boxes. Text from users or Tencent is kept on one line and cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot.render.chart_model import (
    AUDIENCE_COLOUR,
    AXIS_COLOUR,
    BUCKETS,
    FAILED_COLOUR,
    FIRING_COLOUR,
    GRID_COLOUR,
    QUIET_COLOUR,
    TEXT_COLOUR,
    THRESHOLD_COLOURS,
    Chart,
    Panel,
    Point,
    Stats,
    Threshold,
    downsample,
    failures,
    stats,
    with_gaps,
)
from bot.render.chart_ticks import date_note, time_ticks, value_ticks
from bot.render.escape import cut, single_line

#: Pixels per point (the chart is laid out at 100 pixels per inch).
PT = 100 / 72
#: Font sizes in points.
FONT = {"title": 21, "label": 16, "tick": 15, "note": 15, "legend": 14}
MAX_LABEL_CHARS = 80
#: A panel drawn as a small multiple has its fonts and lines this much smaller.
SMALL = 0.8
WHITE = "#FFFFFF"

Box = tuple[float, float, float, float]
XY = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Frame:
    """A panel's plot area (left, top, right, bottom pixels) showing start..end (unix
    seconds) left to right and 0..top (a count) bottom to top."""

    box: Box
    start: float
    end: float
    top: float

    def x(self, at: float) -> float:
        left, _, right, _ = self.box
        return left + (at - self.start) / (self.end - self.start) * (right - left)

    def y(self, value: float) -> float:
        _, upper, _, lower = self.box
        return lower - value / self.top * (lower - upper)

    def time_at(self, x: float) -> float:
        left, _, right, _ = self.box
        return self.start + (x - left) / (right - left) * (self.end - self.start)

    def value_at(self, y: float) -> float:
        _, upper, _, lower = self.box
        return (lower - y) / (lower - upper) * self.top


@dataclass(frozen=True, slots=True)
class Shade:
    role: str
    box: Box
    colour: str
    opacity: float
    panel: int = -1


@dataclass(frozen=True, slots=True)
class Stroke:
    """Polylines (``runs``, each drawn unbroken) ``width`` pixels wide; ``dash`` is
    (on, off) pixels; ``smooth`` ones are antialiased."""

    role: str
    runs: tuple[tuple[XY, ...], ...]
    colour: str
    width: float
    dash: tuple[float, float] | None = None
    smooth: bool = False
    panel: int = -1


@dataclass(frozen=True, slots=True)
class Dot:
    role: str
    at: XY
    radius: float
    colour: str
    edge: bool = False  # a white ring around it
    panel: int = -1


@dataclass(frozen=True, slots=True)
class Label:
    """``text`` placed by ``anchor`` (Pillow's: l/m/r then a/m/s/d, e.g. ``rd`` puts
    the text's right end and its descender line at ``at``); ``backdrop``: the opacity
    of a white box behind it; ``vertical``: read bottom to top."""

    role: str
    text: str
    at: XY
    anchor: str
    size: float
    colour: str = TEXT_COLOUR
    bold: bool = False
    backdrop: float = 0.0
    vertical: bool = False
    panel: int = -1


Item = Shade | Stroke | Dot | Label


@dataclass(frozen=True, slots=True)
class Scene:
    width: int
    height: int
    frames: tuple[Frame, ...]
    items: tuple[Item, ...] = field(repr=False)

    def find(self, role: str, panel: int | None = None) -> list[Item]:
        """The items of ``role`` (of one panel, or all), in drawing order."""
        return [i for i in self.items if i.role == role and (panel is None or i.panel == panel)]

    def texts(self, role: str, panel: int | None = None) -> list[str]:
        return [i.text for i in self.find(role, panel) if isinstance(i, Label)]


def clean(text: str) -> str:
    return cut(single_line(text), MAX_LABEL_CHARS)


def build_scene(chart: Chart, showable: Callable[[str], bool] = lambda _: True) -> Scene:
    """Everything ``chart`` shows, in drawing order."""
    width, height = chart.size
    items: list[Item] = []
    frames = []
    if len(chart.panels) == 1:
        boxes = [(112.0, 84.0, 1170.0, 510.0)]
    else:
        boxes = _multiple_boxes(len(chart.panels), width, height)
    small = len(chart.panels) > 1
    kinds: dict[str, None] = {}  # what the legend lists, in order of appearance
    for index, (panel, box) in enumerate(zip(chart.panels, boxes, strict=False)):
        frame, drawn, shown = _panel(chart, panel, box, index, small=small, showable=showable)
        frames.append(frame)
        items.extend(drawn)
        kinds.update(dict.fromkeys(shown))
    if small:
        items.extend(_legend(list(kinds), (width - 24.0, 10.0), align="right", panel=-1))
    if chart.title:
        items.append(Label("chart-title", clean(chart.title), (24, 8), "la", FONT["title"] * PT))
    return Scene(width, height, tuple(frames), tuple(items))


def _multiple_boxes(count: int, width: int, height: int) -> list[Box]:
    """Two columns of plot areas under a band for the title and the legend."""
    rows = math.ceil(count / 2)
    left, right, top, bottom = 0.07 * width, 0.98 * width, 100.0, height - 70.0
    cell_w = (right - left) / (2 + 0.15)
    cell_h = (bottom - top) / (rows + 0.55 * (rows - 1))
    boxes = []
    for i in range(count):
        row, col = divmod(i, 2)
        x0 = left + col * cell_w * 1.15
        y0 = top + row * cell_h * 1.55
        boxes.append((x0, y0, x0 + cell_w, y0 + cell_h))
    return boxes


def _panel(
    chart: Chart,
    panel: Panel,
    box: Box,
    index: int,
    *,
    small: bool,
    showable: Callable[[str], bool],
) -> tuple[Frame, list[Item], list[str]]:
    """A panel's items, and the kinds of thing it shows (for a shared legend)."""
    scale = SMALL if small else 1.0
    start, end = chart.start, chart.end
    shown = [p for p in panel.points if start <= p.at <= end]
    summary = stats(shown)
    values = [p.value for p in shown if p.value is not None]
    values += [t.value for t in panel.thresholds]
    frame = Frame(box, start, end, max(10.0, max(values, default=0) * 1.3))
    x0, y0, x1, y1 = box
    items: list[Item] = []
    kinds = ["audience"]

    def add(item: Item) -> None:
        items.append(item)

    def label(role: str, text: str, at: XY, anchor: str, size: float, **kw: object) -> None:
        add(Label(role, text, at, anchor, size * PT * scale, panel=index, **kw))  # type: ignore[arg-type]

    for span in panel.spans:
        left, right = max(span.start, start), min(end if span.end is None else span.end, end)
        if right > left:
            add(
                Shade("firing", (frame.x(left), y0, frame.x(right), y1), FIRING_COLOUR, 0.16, index)
            )
    if any(i.role == "firing" for i in items):
        kinds.append("alert firing")

    y_ticks = [t for t in value_ticks(frame.top, 5 if small else 6) if t.at <= frame.top]
    x_ticks = time_ticks(start, end, chart.zone, 5 if small else 8)
    grid = [((x0, frame.y(t.at)), (x1, frame.y(t.at))) for t in y_ticks]
    grid += [((frame.x(t.at), y0), (frame.x(t.at), y1)) for t in x_ticks]
    add(Stroke("grid", tuple(grid), GRID_COLOUR, 1, panel=index))
    add(Stroke("axis", (((x0, y0), (x0, y1), (x1, y1)),), AXIS_COLOUR, 1, panel=index))
    ticks = [((frame.x(t.at), y1), (frame.x(t.at), y1 + 7)) for t in x_ticks]
    ticks += [((x0 - 7, frame.y(t.at)), (x0, frame.y(t.at))) for t in y_ticks]
    add(Stroke("tick", tuple(ticks), AXIS_COLOUR, 1, panel=index))
    for tick in y_ticks:
        label("value-tick", tick.label, (x0 - 10, frame.y(tick.at)), "rm", FONT["tick"])
    for tick in x_ticks:
        label("time-tick", tick.label, (frame.x(tick.at), y1 + 10), "ma", FONT["tick"])
    below = y1 + (30 if small else 40)
    zone_at, zone_anchor = ((x0, below), "la") if small else (((x0 + x1) / 2, below), "ma")
    label("axis-label", f"time ({chart.zone.key})", zone_at, zone_anchor, FONT["label"])
    label("date-note", date_note(start, end, chart.zone), (x1, below), "ra", FONT["tick"])
    if not small:
        label("axis-label", "online", (x0 - 92, (y0 + y1) / 2), "mm", FONT["label"], vertical=True)

    lines = [_threshold(frame, threshold, scale, index) for threshold in panel.thresholds]
    items.extend(stroke for stroke, _ in lines)

    runs = _runs(frame, downsample(with_gaps(shown), start, end, BUCKETS))
    add(
        Stroke("audience", tuple(runs), AUDIENCE_COLOUR, 2.6 * PT * scale, smooth=True, panel=index)
    )
    if sum(len(r) for r in runs) < 60:
        for xy in (xy for r in runs for xy in r):
            add(Dot("audience-point", xy, 3 * PT * scale, AUDIENCE_COLOUR, panel=index))

    failed = failures(shown, start, end, BUCKETS)
    if failed:
        kinds.append("failed check")
        marks = tuple(
            ((frame.x(at), y1 - 10 * scale), (frame.x(at), y1 + 10 * scale)) for at in failed
        )
        add(Stroke("failed", marks, FAILED_COLOUR, 2 * PT, panel=index))
    if summary.last is None:
        text = "every check failed" if failed else "no checks in this range"
        label(
            "empty", text, ((x0 + x1) / 2, (y0 + y1) / 2), "mm", FONT["note"], colour=QUIET_COLOUR
        )
    notes = _annotations(frame, summary, scale, index)
    placed: list[Label | Dot] = [n for n in notes if isinstance(n, Label | Dot)]
    for _, text in lines:  # over the audience line, and clear of min/max/last
        placed.append(_clear_of(text, placed))
        items.append(placed[-1])
    items.extend(notes)

    title_size = (FONT["title"] - 2) * scale if small else FONT["title"]
    label("title", _title(panel, showable), (x0, y0 - 12), "ld", title_size)
    if not small:
        items.extend(_legend(kinds, (x0 + 12, y0 + 12), align="left", panel=index))
    return frame, items, kinds


def _runs(frame: Frame, line: Sequence[Point]) -> tuple[tuple[XY, ...], ...]:
    """The line's points in pixels, a run of them between failures (Frame.x and .y,
    inlined: a week has thousands of points)."""
    x0, y0, x1, y1 = frame.box
    sx, sy = (x1 - x0) / (frame.end - frame.start), (y1 - y0) / frame.top
    runs: list[tuple[XY, ...]] = []
    run: list[XY] = []
    for at, value in line:
        if value is None:
            if run:
                runs.append(tuple(run))
            run = []
        else:
            run.append((x0 + (at - frame.start) * sx, y1 - value * sy))
    if run:
        runs.append(tuple(run))
    return tuple(runs)


def _title(panel: Panel, showable: Callable[[str], bool]) -> str:
    label = clean(panel.label)
    name = clean(panel.name or "")
    if name and showable(name):
        return cut(f"{name} · {label}", MAX_LABEL_CHARS + 20)
    return label


def _threshold(
    frame: Frame, threshold: Threshold, scale: float, index: int
) -> tuple[Stroke, Label]:
    colour = THRESHOLD_COLOURS[threshold.kind]
    recover = threshold.kind == "recover"
    x0, _, x1, _ = frame.box
    y = frame.y(threshold.value)
    width = (2 if recover else 2.4) * PT * scale
    dash = (width, 1.65 * width) if recover else (3.7 * width, 1.6 * width)
    role = "recover" if recover else "threshold"
    at = (x0 + 8, y - 5) if recover else (x1 - 8, y - 5)
    return (
        Stroke(role, (((x0, y), (x1, y)),), colour, width, dash=dash, panel=index),
        Label(
            f"{role}-label",
            clean(threshold.label),
            at,
            "ld" if recover else "rd",
            FONT["note"] * PT * scale,
            colour=colour,
            bold=True,
            backdrop=0.7,
            panel=index,
        ),
    )


def extent(item: Label | Dot) -> Box:
    """About where a label or dot is drawn (left, top, right, bottom): a label's width
    estimated (DejaVu's advance is about 0.6 em, bold), its height one em."""
    if isinstance(item, Dot):
        (x, y), r = item.at, item.radius + 2
        return x - r, y - r, x + r, y + r
    width = 0.6 * item.size * len(item.text)
    x, y = item.at
    left = x - {"l": 0.0, "m": width / 2, "r": width}[item.anchor[0]]
    top = {"a": y, "t": y, "m": y - item.size / 2}.get(item.anchor[1], y - item.size)
    return left, top, left + width, top + item.size


def _clear_of(label: Label, others: Sequence[Label | Dot]) -> Label:
    """``label`` moved along its line (toward the middle) off the others it would cover."""
    for _ in others:
        left, top, right, bottom = extent(label)
        hit = next(
            (
                e
                for e in map(extent, others)
                if e[0] < right and left < e[2] and e[1] < bottom and top < e[3]
            ),
            None,
        )
        if hit is None:
            break
        x, y = label.at
        if label.anchor[0] == "r":
            x -= right - hit[0] + 10
        else:
            x += hit[2] - left + 10
        label = replace(label, at=(x, y))
    return label


def _annotations(frame: Frame, summary: Stats, scale: float, index: int) -> list[Item]:
    """Min, max and last: a dot and a label each (one label for points that coincide)."""
    if summary.last is None or summary.low is None or summary.high is None:
        return []
    start, end = frame.start, frame.end
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
    items: list[Item] = []
    for point, which in names.items():
        assert point.value is not None
        xy = (frame.x(point.at), frame.y(point.value))
        where = (point.at - start) / (end - start)
        h = "r" if where > 0.85 else "l" if where < 0.15 else "m"
        dx, dy = 0.0, -12.0  # points, up
        if which == ["min"]:  # under its point, or beside it when near the time axis
            if point.value > 0.2 * frame.top:
                dy = 10
            else:
                side = -1 if where > 0.85 else 1
                dx, dy = 10.0 * side, -6.0
                h = "r" if side < 0 else "l"
        colour = TEXT_COLOUR if "last" in which else AUDIENCE_COLOUR
        items.append(Dot(f"{which[0]}-marker", xy, 4 * PT * scale, colour, edge=True, panel=index))
        items.append(
            Label(
                "+".join(which),
                f"{' & '.join(which)} {point.value:,}",
                (xy[0] + dx * PT * scale, xy[1] + dy * PT * scale),
                h + ("a" if dy > 0 else "d"),
                FONT["note"] * PT * scale,
                bold=True,
                backdrop=0.85,
                panel=index,
            )
        )
    return items


def _legend(kinds: Sequence[str], at: XY, *, align: str, panel: int) -> list[Item]:
    """A row of swatches and names from ``at`` (its top-left or top-right corner), on
    a white box. Widths are estimated (DejaVu's average advance is about 0.55 em)."""
    size = FONT["legend"] * PT
    swatch, gap, pad = 36.0, 8.0, 8.0
    widths = [swatch + gap + 0.55 * size * len(kind) for kind in kinds]
    total = sum(widths) + 20 * (len(kinds) - 1) + 2 * pad
    left = at[0] if align == "left" else at[0] - total
    top = at[1]
    middle = top + pad + size / 2
    items: list[Item] = [
        Shade("backdrop", (left, top, left + total, top + size + 2 * pad), WHITE, 0.9, panel)
    ]
    x = left + pad
    for kind, w in zip(kinds, widths, strict=True):
        if kind == "audience":
            run = ((x, middle), (x + swatch, middle))
            items.append(
                Stroke("legend-swatch", (run,), AUDIENCE_COLOUR, 2.6 * PT, smooth=True, panel=panel)
            )
        elif kind == "alert firing":
            box = (x, middle - size / 2, x + swatch, middle + size / 2)
            items.append(Shade("legend-swatch", box, FIRING_COLOUR, 0.16, panel))
        else:
            mark = ((x + swatch / 2, middle - size / 2), (x + swatch / 2, middle + size / 2))
            items.append(Stroke("legend-swatch", (mark,), FAILED_COLOUR, 2 * PT, panel=panel))
        items.append(Label("legend", kind, (x + swatch + gap, middle), "lm", size, panel=panel))
        x += w + 20
    return items
