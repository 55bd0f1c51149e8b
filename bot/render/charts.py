"""Audience charts as PNG: one panel per (group, mark), or several as small multiples.

The public face of the charts: the model (bot.render.chart_model), and
``render_png(chart) -> bytes``, which lays the chart out as a scene of strokes, shaded
spans, dots and texts in pixels (bot.render.chart_scene, pure; its ticks from
bot.render.chart_ticks) and draws that with Pillow (bot.render.chart_raster, which
imports Pillow with the first chart, never before: the bot starts without it).

::

    Chart(panels, start, end, zone, title)   what to draw: one Panel per audience line
    Panel(label, points, thresholds, spans, name)
    render_png(chart) -> bytes  the PNG (CHART_WIDTH x CHART_HEIGHT for one panel)
    scene(chart) -> Scene       what render_png draws, to inspect (tests find items by role)
    stats(points) -> Stats      min, max and last (the chart's annotations, the text's table)
    downsample(points, start, end, buckets)   first/min/max/last per bucket, gaps kept

Times are shown in ``Chart.zone``, named on the time axis. The palette is Okabe and
Ito's, safe for colour-blind readers; fonts are large enough for a phone. Text from
users or Tencent (a group's name) is drawn as it is, kept on one line and cut; a name
the fonts cannot show (no glyphs for its script) is left out rather than drawn as
boxes: the message around the chart shows it.
"""

from __future__ import annotations

from bot.render.chart_model import (
    BUCKETS,
    CHART_HEIGHT,
    CHART_WIDTH,
    MIN_GAP_SECONDS,
    MULTIPLE_HEIGHT,
    PALETTE,
    UTC_ZONE,
    Chart,
    Panel,
    Point,
    Span,
    Stats,
    Threshold,
    ThresholdKind,
    downsample,
    stats,
    with_gaps,
)
from bot.render.chart_scene import Scene, build_scene

__all__ = [
    "BUCKETS",
    "CHART_HEIGHT",
    "CHART_WIDTH",
    "MIN_GAP_SECONDS",
    "MULTIPLE_HEIGHT",
    "PALETTE",
    "UTC_ZONE",
    "Chart",
    "Panel",
    "Point",
    "Scene",
    "Span",
    "Stats",
    "Threshold",
    "ThresholdKind",
    "downsample",
    "render_png",
    "scene",
    "stats",
    "with_gaps",
]


def scene(chart: Chart) -> Scene:
    """What ``render_png`` draws: the chart laid out, a name the fonts lack left out."""
    from bot.render.chart_raster import showable

    return build_scene(chart, showable)


def render_png(chart: Chart) -> bytes:
    """The chart as PNG bytes, ``chart.size`` pixels. Charts are drawn side by side
    (threads), each on its own image."""
    from bot.render.chart_raster import rasterise

    return rasterise(scene(chart))
