"""What a chart shows, as values: the model every chart is drawn from, and the pure
reductions of its points (min/max/last, gaps, downsampling). No drawing here.

::

    Chart(panels, start, end, zone, title)   what to draw: one Panel per audience line
    Panel(label, points, thresholds, spans, name)
        points      Point(at, value): a check's time (unix seconds) and count, None if it failed
        thresholds  Threshold(label, value, kind): a watch's line (below/above) or recover line
        spans       Span(start, end): when an alert was firing (end None: still firing)
    stats(points) -> Stats      min, max and last (the chart's annotations, the text's table)
    with_gaps(points)           a None where checks stopped, so the line is not drawn across
    downsample(points, start, end, buckets)   first/min/max/last per bucket, gaps kept
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

#: One panel's size in pixels (landscape, readable on a phone held sideways or not).
CHART_WIDTH, CHART_HEIGHT = 1200, 600
#: A small multiple's height; charts of several panels are two columns wide.
MULTIPLE_HEIGHT = 340
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
GRID_COLOUR = "#D9D9D9"
AXIS_COLOUR = "#999999"
TEXT_COLOUR = "#222222"
QUIET_COLOUR = "#666666"

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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (to the drawing process: bot.drawing) with its points as plain tuples,
        which pickle in C: a day's 1,440 named tuples took 1.6 ms, as tuples 0.1 ms."""
        plain = tuple(map(tuple, self.points))
        return (_unpickled_panel, (self.label, plain, self.thresholds, self.spans, self.name))


def _unpickled_panel(
    label: str,
    points: tuple[tuple[float, int | None], ...],
    thresholds: tuple[Threshold, ...],
    spans: tuple[Span, ...],
    name: str | None,
) -> Panel:
    return Panel(label, tuple(map(Point._make, points)), thresholds, spans, name)


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
        index = int((point.at - start) // width)
        if index >= buckets or index < 0:
            index = buckets - 1 if index >= buckets else 0
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


def failures(points: Sequence[Point], start: float, end: float, buckets: int) -> list[float]:
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
