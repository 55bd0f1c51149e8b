"""bot/render/charts.py and its parts: the PNG (valid, its size, its colours), the
scene it is drawn from (its items, found by role, mapped back to times and counts
through their panel's frame, not its pixels), font fallback, downsampling (tables
and properties), and that nothing imports Pillow before a chart is drawn."""

from __future__ import annotations

import concurrent.futures
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.render import chart_raster
from bot.render.chart_scene import Dot, Label, Shade, Stroke, extent
from bot.render.charts import (
    BUCKETS,
    CHART_HEIGHT,
    CHART_WIDTH,
    MULTIPLE_HEIGHT,
    PALETTE,
    Chart,
    Panel,
    Point,
    Span,
    Threshold,
    downsample,
    render_png,
    scene,
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


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def pixels(png: bytes) -> set[tuple[int, int, int]]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {colour for _, colour in image.getcolors(maxcolors=1 << 16)}


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


def test_the_background_is_white_and_the_colours_are_the_charts_own():
    thresholds = [Threshold("#1 below 400", 400, "below"), Threshold("#1 above 600", 600, "above")]
    png = render_png(one_panel(minutes(600), thresholds, end=T0 + 10 * HOUR))
    image = Image.open(io.BytesIO(png)).convert("RGB")

    for corner in ((3, 3), (CHART_WIDTH - 3, CHART_HEIGHT - 3)):
        assert image.getpixel(corner) == (255, 255, 255)
    colours = pixels(png)
    # the palette keeps every flat colour exactly: the line, both thresholds, the text
    for colour in (PALETTE["blue"], PALETTE["vermillion"], PALETTE["orange"], "#222222"):
        assert rgb(colour) in colours


def test_the_same_chart_gives_the_same_png_whatever_was_drawn_in_between():
    # glyphs and palettes are cached: nothing of a chart may stay for the next
    first = one_panel(minutes(600), [Threshold("#1 above 505", 505, "above")])
    other = Chart(tuple(Panel(f"@TGS#g{i}", minutes(100)) for i in range(3)), T0, T0 + 2 * HOUR)

    before = render_png(first)
    render_png(other)

    assert render_png(first) == before


def test_charts_drawn_at_once_in_threads_are_those_drawn_one_by_one():
    charts = [
        one_panel(
            minutes(1440, value=lambda i, k=k: 100 * k + i % 50),
            [Threshold(f"#{k} below {100 * k}", 100 * k, "below")],
            [Span(T0 + k * HOUR, T0 + (k + 1) * HOUR)],
            zone=("UTC", "Asia/Tokyo", "Europe/Paris")[k % 3],
        )
        for k in range(1, 9)
    ]
    alone = [render_png(chart) for chart in charts]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(render_png, charts))

    assert together == alone
    assert len(set(alone)) == len(charts)


def test_small_multiples_are_two_columns_of_panels_with_one_legend():
    panels = tuple(
        Panel(f"@TGS#g{i}", minutes(120), (Threshold(f"#{i} below 500", 500, "below"),))
        for i in range(5)
    )
    chart = Chart(panels, T0, T0 + 2 * HOUR, title="5 groups")

    drawn = scene(chart)
    png = render_png(chart)

    assert len(drawn.frames) == 5
    lefts = sorted({frame.box[0] for frame in drawn.frames})
    tops = sorted({frame.box[1] for frame in drawn.frames})
    assert len(lefts) == 2 and len(tops) == 3  # 3 rows of 2, the last cell empty
    assert all(frame.box[2] <= CHART_WIDTH for frame in drawn.frames)
    assert [drawn.texts("title", i)[0] for i in range(5)] == [f"@TGS#g{i}" for i in range(5)]
    assert drawn.texts("legend") == drawn.texts("legend", -1) == ["audience"]  # one, shared
    assert drawn.texts("chart-title") == ["5 groups"]
    assert len(drawn.find("threshold")) == 5
    assert Image.open(io.BytesIO(png)).size == (1200, MULTIPLE_HEIGHT * 3 + 120)


def test_a_chart_needs_panels_and_time():
    with pytest.raises(ValueError, match="panel"):
        Chart((), T0, T0 + 1)
    with pytest.raises(ValueError, match="after its start"):
        Chart((Panel("@TGS#x", ()),), T0, T0)


# --------------------------------------------------------------------------- the scene


def values_of(drawn, role):
    """The counts the horizontal strokes of ``role`` are drawn at."""
    (frame,) = drawn.frames
    return sorted(round(frame.value_at(s.runs[0][0][1]), 6) for s in drawn.find(role))


def test_one_line_per_threshold_and_each_labelled():
    thresholds = [
        Threshold("#3 below 400", 400, "below"),
        Threshold("#3 recover 450", 450, "recover"),
        Threshold("#4 above 1,200", 1200, "above"),
    ]
    drawn = scene(one_panel(minutes(1440), thresholds))

    assert values_of(drawn, "threshold") == [400, 1200]
    assert values_of(drawn, "recover") == [450]
    dashed = drawn.find("threshold")
    (dotted,) = drawn.find("recover")
    assert all(s.dash[0] > s.dash[1] for s in dashed)  # dashes
    assert dotted.dash[0] < dotted.dash[1]  # dots
    assert sorted(drawn.texts("threshold-label")) == ["#3 below 400", "#4 above 1,200"]
    assert drawn.texts("recover-label") == ["#3 recover 450"]
    assert drawn.frames[0].top > 1200  # every line is in view
    # the labels are drawn over the audience line, which is drawn over the lines
    roles = [item.role for item in drawn.items]
    assert roles.index("threshold") < roles.index("audience") < roles.index("threshold-label")


def test_a_threshold_label_moves_off_the_last_counts_label():
    # the last check sits just above the line, at the right end where its label goes
    points = minutes(1440, value=lambda i: 900 if i < 700 else 405)
    drawn = scene(one_panel(points, [Threshold("#1 below 400", 400, "below")]))

    (last,) = drawn.find("last")
    (label,) = drawn.find("threshold-label")
    a, b = extent(last), extent(label)
    assert b[2] < a[0]  # moved left of it, on its line
    assert label.at[1] == drawn.find("threshold")[0].runs[0][0][1] - 5


def test_the_audience_line_and_no_threshold_when_none():
    drawn = scene(one_panel(minutes(90), end=T0 + 2 * HOUR))
    (frame,) = drawn.frames

    (audience,) = drawn.find("audience")
    (run,) = audience.runs
    assert [round(frame.value_at(y)) for _, y in run] == [500 + i % 7 for i in range(90)]
    assert [round(frame.time_at(x)) for x, _ in run] == [T0 + 60 * i for i in range(90)]
    assert audience.smooth
    assert drawn.find("threshold") == [] and drawn.find("recover") == []
    assert frame.value_at(frame.box[3]) == 0  # the axis starts at 0


def test_firing_periods_are_shaded_within_the_chart():
    spans = [
        Span(T0 - HOUR, T0 + HOUR),  # began before the chart: cut at its start
        Span(T0 + 5 * HOUR, T0 + 6 * HOUR),
        Span(T0 + 30 * HOUR, T0 + 31 * HOUR),  # after the chart: not drawn
        Span(T0 + 23 * HOUR),  # still firing: to the chart's end
    ]
    drawn = scene(one_panel(minutes(1440), spans=spans))
    (frame,) = drawn.frames

    shaded = drawn.find("firing", 0)
    assert len(shaded) == 3
    hours = sorted(
        (frame.time_at(x) - T0) / HOUR for shade in shaded for x in (shade.box[0], shade.box[2])
    )
    assert hours == pytest.approx([0, 1, 5, 6, 23, 24])
    assert all(shade.box[1] == frame.box[1] and shade.box[3] == frame.box[3] for shade in shaded)
    assert drawn.texts("legend").count("alert firing") == 1


def test_min_max_and_last_are_annotated():
    values = {100: 20, 700: 900}  # the min at minute 100, the max at 700, last is 500+...

    points = minutes(1440, value=lambda i: values.get(i, 500))
    drawn = scene(one_panel(points))
    (frame,) = drawn.frames

    assert drawn.texts("min") == ["min 20"]
    assert drawn.texts("max") == ["max 900"]
    assert drawn.texts("last") == ["last 500"]
    (marker,) = drawn.find("max-marker")
    assert frame.time_at(marker.at[0]) == pytest.approx(T0 + 700 * 60)
    assert frame.value_at(marker.at[1]) == pytest.approx(900)


def test_a_flat_audience_is_annotated_once():
    drawn = scene(one_panel(minutes(10, value=lambda i: 400), end=T0 + HOUR))

    assert drawn.texts("last") == ["last 400"]
    assert drawn.texts("min") == drawn.texts("max") == []


def test_points_of_the_same_count_close_together_share_a_label():
    points = minutes(100, value=lambda i: 50 if i < 99 else 300)  # the last is the max
    drawn = scene(one_panel(points, end=T0 + 100 * 60))

    assert drawn.texts("max+last") == ["max & last 300"]
    assert drawn.texts("min") == ["min 50"]


def test_failed_checks_are_gaps_in_the_line_and_marks_on_the_axis():
    points = minutes(120, value=lambda i: None if 40 <= i < 45 else 500)
    drawn = scene(one_panel(points, end=T0 + 2 * HOUR))
    (frame,) = drawn.frames

    (audience,) = drawn.find("audience")
    assert [len(run) for run in audience.runs] == [40, 75]  # broken where checks failed
    (failed,) = drawn.find("failed")
    marks = [round(frame.time_at(run[0][0])) for run in failed.runs]
    assert marks == [T0 + 60 * i for i in range(40, 45)]
    assert "failed check" in drawn.texts("legend")


def test_few_checks_are_dots_on_the_line():
    drawn = scene(one_panel(minutes(12), end=T0 + HOUR))

    assert len(drawn.find("audience-point")) == 12
    assert drawn.find("audience-point", 0)[0].colour == PALETTE["blue"]
    assert scene(one_panel(minutes(120), end=T0 + 2 * HOUR)).find("audience-point") == []


def test_no_good_check_says_so():
    drawn = scene(one_panel([Point(T0 + 60, None)], end=T0 + HOUR))

    assert drawn.texts("empty") == ["every check failed"]
    assert drawn.texts("last") == []
    assert scene(one_panel([], end=T0 + HOUR)).texts("empty") == ["no checks in this range"]


@pytest.mark.parametrize(
    ("zone", "first_hour"),
    [("UTC", "03:00"), ("Asia/Tokyo", "12:00"), ("America/Los_Angeles", "19:00")],
)
def test_times_are_shown_in_the_zone_named_on_the_axis(zone, first_hour):
    start = T0 + 3 * HOUR
    drawn = scene(
        one_panel(minutes(361, start=start), start=start, end=start + 6 * HOUR, zone=zone)
    )
    (frame,) = drawn.frames

    assert f"time ({zone})" in drawn.texts("axis-label")
    labels = drawn.texts("time-tick")
    assert labels[0] == first_hour  # a tick on the chart's start, in the zone's own hour
    assert len(labels) == 7  # every hour
    first = drawn.find("time-tick")[0]
    assert frame.time_at(first.at[0]) == pytest.approx(start)
    local = datetime.fromtimestamp(start, ZoneInfo(zone))
    assert drawn.texts("date-note")[0].startswith(f"{local.date()}")  # the day it starts


def test_times_follow_the_zone_across_a_dst_change():
    # Europe/Paris springs forward on 2026-03-29 at 02:00 (UTC+1 -> UTC+2)
    start = datetime(2026, 3, 28, 22, tzinfo=UTC).timestamp()  # 23:00 in Paris
    chart = one_panel(minutes(360, start=start), start=start, end=start + 6 * HOUR)
    chart = Chart(chart.panels, chart.start, chart.end, ZoneInfo("Europe/Paris"))
    drawn = scene(chart)
    (frame,) = drawn.frames

    paris = ZoneInfo("Europe/Paris")
    ticks = [datetime.fromtimestamp(frame.time_at(t.at[0]), paris) for t in drawn.find("time-tick")]
    offsets = {t.utcoffset().total_seconds() / HOUR for t in ticks}
    assert offsets == {1.0, 2.0}  # ticks on both sides of the change, each in its offset
    assert drawn.texts("time-tick") == [
        "23:00",
        "Mar 29",
        "01:00",
        "03:00",
        "04:00",
        "05:00",
        "06:00",
    ]
    assert drawn.texts("date-note") == ["2026-03-28 to 2026-03-29"]


def test_a_hostile_name_is_drawn_as_text():
    # a newline would break the title; markup means nothing in a PNG
    chart = one_panel(minutes(30), end=T0 + HOUR, name="$\\frac{1}{0}$ <b>\nLive")

    assert scene(chart).texts("title") == ["$\\frac{1}{0}$ <b> Live · @TGS#live"]
    assert render_png(chart).startswith(PNG_SIGNATURE)


# --------------------------------------------------------------------------- fonts


def cjk_stand_in(path: Path) -> Path:
    """A tiny TrueType font, family "Stand-in CJK", with one glyph: 中 (U+4E2D, which DejaVu
    Sans lacks), a filled square."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    pen = TTGlyphPen(None)
    pen.moveTo((100, -100))
    pen.lineTo((100, 800))
    pen.lineTo((900, 800))
    pen.lineTo((900, -100))
    pen.closePath()
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "uni4E2D"])
    builder.setupCharacterMap({0x4E2D: "uni4E2D"})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "uni4E2D": pen.glyph()})
    builder.setupHorizontalMetrics({".notdef": (1000, 0), "uni4E2D": (1000, 100)})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "Stand-in CJK", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    builder.save(str(path))
    return path


@pytest.fixture
def fonts(monkeypatch):
    """The fallback fonts looked for anew, in the folders and families a test says."""

    def use(families: tuple[str, ...], folders: tuple[str, ...]) -> None:
        monkeypatch.setattr(chart_raster, "CJK_FONTS", families)
        monkeypatch.setattr(chart_raster, "FONT_FOLDERS", folders)
        chart_raster.forget_fonts()

    yield use
    monkeypatch.undo()
    chart_raster.forget_fonts()


def test_a_name_the_fonts_cannot_show_is_left_out(fonts):
    fonts(("Noto Sans CJK SC",), ())  # none installed: DejaVu has no CJK glyphs
    chart = one_panel(minutes(30), end=T0 + HOUR, name="周五直播")

    assert not chart_raster.showable("周五直播")
    assert scene(chart).texts("title") == ["@TGS#live"]  # boxes would say nothing
    assert render_png(chart).startswith(PNG_SIGNATURE)


def test_a_character_dejavu_lacks_is_drawn_in_the_next_font_that_has_it(fonts, tmp_path):
    folder = tmp_path / "fonts"
    folder.mkdir()
    cjk_stand_in(folder / "stand-in-cjk.ttf")
    fonts(("Stand-in CJK",), (str(folder),))
    text = "Live 中 show"

    runs = chart_raster.font_runs(text, bold=False)

    assert [chunk for _, chunk in runs] == ["Live ", "中", " show"]
    assert [Path(path).name for (path, _), _ in runs] == [
        "DejaVuSans.ttf",
        "stand-in-cjk.ttf",
        "DejaVuSans.ttf",
    ]
    assert chart_raster.showable(text)
    chart = one_panel(minutes(30), end=T0 + HOUR, name=text)
    assert scene(chart).texts("title") == [f"{text} · @TGS#live"]
    # the glyph is a filled square: the title has more ink than with a space instead
    spaced = one_panel(minutes(30), end=T0 + HOUR, name="Live   show")
    assert dark_pixels(render_png(chart)) > dark_pixels(render_png(spaced)) + 300


def dark_pixels(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("L")
    return sum(image.histogram()[:128])


def test_a_long_series_is_drawn_downsampled_keeping_its_extremes():
    points = minutes(10_080, value=lambda i: 3 if i == 5000 else 9000 if i == 7000 else 500)
    drawn = scene(one_panel(points, start=T0, end=T0 + 7 * 24 * HOUR))
    (frame,) = drawn.frames

    (audience,) = drawn.find("audience")
    ys = [frame.value_at(y) for run in audience.runs for _, y in run]
    assert len(ys) <= 4 * BUCKETS
    assert (min(ys), max(ys)) == pytest.approx((3, 9000))
    assert drawn.texts("min") == ["min 3"] and drawn.texts("max") == ["max 9,000"]


def test_every_item_is_one_of_the_scenes_kinds_inside_the_image():
    chart = one_panel(
        minutes(1440, value=lambda i: None if i % 300 == 0 else 500 + i),
        [Threshold("#1 below 400", 400, "below"), Threshold("#1 recover 450", 450, "recover")],
        [Span(T0 + HOUR, T0 + 2 * HOUR)],
    )
    drawn = scene(chart)

    assert {type(item) for item in drawn.items} == {Shade, Stroke, Dot, Label}
    for item in drawn.items:
        xs = [item.at[0]] if isinstance(item, Dot | Label) else []
        xs += [x for run in getattr(item, "runs", ()) for x, _ in run]
        xs += [item.box[0], item.box[2]] if isinstance(item, Shade) else []
        assert all(0 <= x <= CHART_WIDTH for x in xs), item


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


def test_importing_the_bot_does_not_import_the_plotting_libraries():
    # start-up of online, run and shell stays as it was: Pillow (and fontTools) come
    # with the first chart drawn, and matplotlib never (its fonts are read as files)
    code = (
        "import sys, bot.cli, bot.wiring, bot.shell, bot.handlers, bot.slack.transport, "
        "bot.render.charts, bot.render.chart_scene, bot.render.chart_raster, "
        "bot.render.history, bot.alerts.history\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'numpy', 'PIL', 'fontTools'))\n"
        "print(loaded)\n"
        "from bot.render.charts import Chart, Panel, Point, render_png\n"
        "render_png(Chart((Panel('@TGS#x', (Point(0, 1), Point(60, 2))),), 0, 120))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'numpy'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]
