"""bot/render/charts.py: the PNG (valid, its size), the figure (its artists, found by gid,
not its pixels), downsampling (tables and properties), and that nothing imports
matplotlib before a chart is drawn."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PolyCollection
from matplotlib.dates import num2date
from matplotlib.patches import Polygon, Rectangle
from PIL import Image

from bot.render.charts import (
    BUCKETS,
    CHART_HEIGHT,
    CHART_WIDTH,
    MULTIPLE_HEIGHT,
    Chart,
    Panel,
    Point,
    Span,
    Threshold,
    downsample,
    draw,
    render_png,
    stats,
    with_gaps,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: 2026-03-01 00:00 UTC.
T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
HOUR = 3600


def minutes(n: int, *, start: float = T0, value=lambda i: 500 + i % 7) -> tuple[Point, ...]:
    return tuple(Point(start + 60 * i, value(i)) for i in range(n))


def one_panel(points, thresholds=(), spans=(), *, zone="UTC", start=T0, end=None, name=None):
    end = end if end is not None else start + 24 * HOUR
    panel = Panel("@TGS#live", tuple(points), tuple(thresholds), tuple(spans), name=name)
    return Chart((panel,), start, end, ZoneInfo(zone))


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def texts(ax, gid):
    return [t.get_text() for t in by_gid(ax, gid)]


# --------------------------------------------------------------------------- the PNG


def test_the_png_is_valid_and_1200_by_600():
    png = render_png(one_panel(minutes(1440), [Threshold("#1 below 400", 400, "below")]))

    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.verify()  # every chunk's CRC, the stream complete
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (CHART_WIDTH, CHART_HEIGHT) == (1200, 600)
    assert image.mode == "P"  # a palette: a chart's few colours at a third of the bytes
    assert "transparency" not in image.info  # opaque
    assert 5_000 < len(png) < 300_000


def test_the_background_is_light():
    png = render_png(one_panel(minutes(60), end=T0 + HOUR))
    image = Image.open(io.BytesIO(png)).convert("RGB")

    for corner in ((3, 3), (CHART_WIDTH - 3, CHART_HEIGHT - 3)):
        assert min(image.getpixel(corner)) >= 250  # white, give or take the palette


def test_the_same_chart_gives_the_same_png_whatever_was_drawn_in_between():
    # render_png draws on one figure again and again: nothing of a chart may stay on it
    first = one_panel(minutes(600), [Threshold("#1 above 505", 505, "above")])
    other = Chart(tuple(Panel(f"@TGS#g{i}", minutes(100)) for i in range(3)), T0, T0 + 2 * HOUR)

    before = render_png(first)
    render_png(other)

    assert render_png(first) == before


def test_small_multiples_are_two_columns_of_panels_with_one_legend():
    panels = tuple(
        Panel(f"@TGS#g{i}", minutes(120), (Threshold(f"#{i} below 500", 500, "below"),))
        for i in range(5)
    )
    chart = Chart(panels, T0, T0 + 2 * HOUR, title="5 groups")

    figure = draw(chart)
    png = render_png(chart)

    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert len(visible) == 5 and len(figure.axes) == 6  # 3 rows of 2, the last cell empty
    assert [texts(ax, "title")[0] for ax in visible] == [f"@TGS#g{i}" for i in range(5)]
    assert all(ax.get_legend() is None for ax in visible)
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["audience"]
    assert figure.texts[0].get_text() == "5 groups"  # the suptitle
    assert Image.open(io.BytesIO(png)).size == (1200, MULTIPLE_HEIGHT * 3 + 120)


def test_a_chart_needs_panels_and_time():
    with pytest.raises(ValueError, match="panel"):
        Chart((), T0, T0 + 1)
    with pytest.raises(ValueError, match="after its start"):
        Chart((Panel("@TGS#x", ()),), T0, T0)


# --------------------------------------------------------------------------- the figure


def test_one_line_per_threshold_and_each_labelled():
    thresholds = [
        Threshold("#3 below 400", 400, "below"),
        Threshold("#3 recover 450", 450, "recover"),
        Threshold("#4 above 1,200", 1200, "above"),
    ]
    (ax,) = draw(one_panel(minutes(1440), thresholds)).axes

    lines = by_gid(ax, "threshold")
    recovers = by_gid(ax, "recover")
    assert sorted(line.get_ydata()[0] for line in lines) == [400, 1200]
    assert [line.get_ydata()[0] for line in recovers] == [450]
    assert all(line.get_linestyle() == "--" for line in lines)
    assert recovers[0].get_linestyle() == ":"
    assert sorted(texts(ax, "threshold-label")) == ["#3 below 400", "#4 above 1,200"]
    assert texts(ax, "recover-label") == ["#3 recover 450"]
    assert ax.get_ylim()[1] > 1200  # every line is in view


def test_the_audience_line_and_no_threshold_when_none():
    (ax,) = draw(one_panel(minutes(90), end=T0 + 2 * HOUR)).axes

    (audience,) = by_gid(ax, "audience")
    assert list(audience.get_ydata()) == [500 + i % 7 for i in range(90)]
    assert by_gid(ax, "threshold") == [] and by_gid(ax, "recover") == []
    assert ax.get_ylim()[0] == 0


def test_firing_periods_are_shaded_within_the_chart():
    spans = [
        Span(T0 - HOUR, T0 + HOUR),  # began before the chart: cut at its start
        Span(T0 + 5 * HOUR, T0 + 6 * HOUR),
        Span(T0 + 30 * HOUR, T0 + 31 * HOUR),  # after the chart: not drawn
        Span(T0 + 23 * HOUR),  # still firing: to the chart's end
    ]
    (ax,) = draw(one_panel(minutes(1440), spans=spans)).axes

    shaded = by_gid(ax, "firing")
    assert len(shaded) == 3
    extents = []
    for patch in shaded:
        xs = _patch_xs(patch)
        extents.append((num2date(min(xs)), num2date(max(xs))))
    hours = sorted((a.timestamp() - T0) / HOUR for pair in extents for a in pair)
    assert hours == pytest.approx([0, 1, 5, 6, 23, 24])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend.count("alert firing") == 1


def _patch_xs(patch):
    if isinstance(patch, Rectangle):
        return [patch.get_x(), patch.get_x() + patch.get_width()]
    if isinstance(patch, Polygon):
        return [x for x, _ in patch.get_xy()]
    if isinstance(patch, PolyCollection):
        return [x for path in patch.get_paths() for x, _ in path.vertices]
    raise AssertionError(f"not a span: {patch!r}")


def test_min_max_and_last_are_annotated():
    values = {100: 20, 700: 900}  # the min at minute 100, the max at 700, last is 500+...

    points = minutes(1440, value=lambda i: values.get(i, 500))
    (ax,) = draw(one_panel(points)).axes

    assert texts(ax, "min") == ["min 20"]
    assert texts(ax, "max") == ["max 900"]
    assert texts(ax, "last") == ["last 500"]
    (marker,) = by_gid(ax, "max-marker")
    assert num2date(marker.get_xdata()[0]).timestamp() == pytest.approx(T0 + 700 * 60)


def test_a_flat_audience_is_annotated_once():
    (ax,) = draw(one_panel(minutes(10, value=lambda i: 400), end=T0 + HOUR)).axes

    assert texts(ax, "last") == ["last 400"]
    assert texts(ax, "min") == texts(ax, "max") == []


def test_points_of_the_same_count_close_together_share_a_label():
    points = minutes(100, value=lambda i: 50 if i < 99 else 300)  # the last is the max
    (ax,) = draw(one_panel(points, end=T0 + 100 * 60)).axes

    assert texts(ax, "max+last") == ["max & last 300"]
    assert texts(ax, "min") == ["min 50"]


def test_failed_checks_are_gaps_in_the_line_and_marks_on_the_axis():
    points = minutes(120, value=lambda i: None if 40 <= i < 45 else 500)
    (ax,) = draw(one_panel(points, end=T0 + 2 * HOUR)).axes

    (audience,) = by_gid(ax, "audience")
    ys = list(audience.get_ydata())
    assert sum(math.isnan(y) for y in ys) == 5
    (failed,) = by_gid(ax, "failed")
    assert len(failed.get_xdata()) == 5
    assert "failed check" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_no_good_check_says_so():
    (ax,) = draw(one_panel([Point(T0 + 60, None)], end=T0 + HOUR)).axes

    assert texts(ax, "empty") == ["every check failed"]
    assert texts(ax, "last") == []


@pytest.mark.parametrize(
    ("zone", "first_hour"),
    [("UTC", "03:00"), ("Asia/Tokyo", "12:00"), ("America/Los_Angeles", "19:00")],
)
def test_times_are_shown_in_the_zone_named_on_the_axis(zone, first_hour):
    start = T0 + 3 * HOUR
    chart = one_panel(minutes(361, start=start), start=start, end=start + 6 * HOUR, zone=zone)
    figure = draw(chart)
    (ax,) = figure.axes
    figure.canvas.draw()

    assert ax.get_xlabel() == f"time ({zone})"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == first_hour  # a tick on the chart's start, in the zone's own hour


def test_times_follow_the_zone_across_a_dst_change():
    # Europe/Paris springs forward on 2026-03-29 at 02:00 (UTC+1 -> UTC+2)
    start = datetime(2026, 3, 28, 22, tzinfo=UTC).timestamp()  # 23:00 in Paris
    chart = one_panel(minutes(360, start=start), start=start, end=start + 6 * HOUR)
    chart = Chart(chart.panels, chart.start, chart.end, ZoneInfo("Europe/Paris"))
    figure = draw(chart)
    figure.canvas.draw()
    (ax,) = figure.axes

    ticks = [num2date(x, tz=ZoneInfo("Europe/Paris")) for x in ax.get_xticks()]
    in_range = [t for t in ticks if start <= t.timestamp() <= start + 6 * HOUR]
    offsets = {t.utcoffset().total_seconds() / HOUR for t in in_range}
    assert offsets == {1.0, 2.0}  # ticks on both sides of the change, each in its offset


def test_a_hostile_name_is_drawn_as_text():
    # mathtext would read $...$; a newline would break the title; neither may happen
    (ax,) = draw(one_panel(minutes(30), end=T0 + HOUR, name="$\\frac{1}{0}$ <b>\nLive")).axes

    (title,) = texts(ax, "title")
    assert title == "$\\frac{1}{0}$ <b> Live · @TGS#live"
    render_png(one_panel(minutes(30), end=T0 + HOUR, name="$\\frac{1}{0}$ <b>\nLive"))


def test_a_name_the_fonts_cannot_show_is_left_out():
    # DejaVu has no CJK glyphs: drawn, they would be boxes (and a warning, an error here)
    chart = one_panel(minutes(30), end=T0 + HOUR, name="周五直播")

    (ax,) = draw(chart).axes
    render_png(chart)

    assert texts(ax, "title") == ["@TGS#live"]


def test_a_long_series_is_drawn_downsampled_keeping_its_extremes():
    points = minutes(10_080, value=lambda i: 3 if i == 5000 else 9000 if i == 7000 else 500)
    chart = one_panel(points, start=T0, end=T0 + 7 * 24 * HOUR)

    (ax,) = draw(chart).axes

    (audience,) = by_gid(ax, "audience")
    ys = [y for y in audience.get_ydata() if not math.isnan(y)]
    assert len(ys) <= 4 * BUCKETS
    assert (min(ys), max(ys)) == (3, 9000)
    assert texts(ax, "min") == ["min 3"] and texts(ax, "max") == ["max 9,000"]


# --------------------------------------------------------------------------- pure parts


def test_stats_takes_the_earliest_of_equals_and_counts_failures():
    points = [Point(1, 5), Point(2, None), Point(3, 1), Point(4, 9), Point(5, 1), Point(6, 9)]

    summary = stats(points)

    assert (summary.low, summary.high, summary.last) == (Point(3, 1), Point(4, 9), Point(6, 9))
    assert (summary.checks, summary.failed) == (6, 1)
    assert stats([]).last is None and stats([Point(1, None)]).failed == 1


def test_gaps_break_the_line_where_checks_stopped():
    points = [Point(60 * i, 10) for i in range(10)] + [
        Point(3 * HOUR, 10),
        Point(3 * HOUR + 60, 10),
    ]

    out = with_gaps(points)

    assert len(out) == len(points) + 1
    gap = out[10]
    assert gap.value is None and 9 * 60 < gap.at < 3 * HOUR
    assert with_gaps(points[:10]) == points[:10]  # regular checks: no gap


def test_downsample_keeps_first_min_max_last_of_each_bucket():
    values = [5, 1, 7, 3, 9, 2, 6, 4]  # one bucket of 8
    points = [Point(i, v) for i, v in enumerate(values)]

    assert downsample(points, 0, 8, buckets=1) == [
        Point(0, 5),
        Point(1, 1),
        Point(4, 9),
        Point(7, 4),
    ]


def test_downsample_keeps_a_failure_as_a_gap():
    points = [Point(i, None if i == 3 else 10 + i) for i in range(10)]

    out = downsample(points, 0, 10, buckets=1)

    # the run before the failure, the failure, the run after it: each run's extremes
    assert out == [Point(0, 10), Point(2, 12), Point(3, None), Point(4, 14), Point(9, 19)]


def test_downsample_leaves_a_short_series_alone():
    points = [Point(i, i) for i in range(40)]
    assert downsample(points, 0, 40, buckets=10) == points


series = st.lists(st.one_of(st.none(), st.integers(0, 1_000_000)), min_size=1, max_size=3000).map(
    lambda values: [Point(float(i * 60), v) for i, v in enumerate(values)]
)


@settings(max_examples=150, deadline=None)
@given(series, st.integers(1, 200))
def test_downsample_properties(points, buckets):
    end = points[-1].at + 60
    out = downsample(points, 0, end, buckets)
    good = [p.value for p in points if p.value is not None]
    kept = [p.value for p in out if p.value is not None]

    assert set(out) <= set(points)  # only real checks
    assert [p.at for p in out] == sorted(p.at for p in out)  # in time order
    assert len(out) <= max(len(points) if len(points) <= 4 * buckets else 0, 9 * buckets)
    if good:
        assert (min(kept), max(kept)) == (min(good), max(good))
        assert out[-1] == points[-1] or points[-1].value is None
    assert any(p.value is None for p in out) == any(p.value is None for p in points)


def test_importing_the_bot_does_not_import_matplotlib():
    # start-up of online, run and shell stays as it was: the plotting library comes with
    # the first chart drawn
    code = (
        "import sys, bot.cli, bot.wiring, bot.shell, bot.handlers, bot.slack.transport, "
        "bot.render.charts, bot.render.history, bot.alerts.history\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'numpy', 'PIL'))\n"
        "print(loaded)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
