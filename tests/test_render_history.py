"""The /online history answer as Block Kit (bot/render/history.py): what it says with the
chart, what stands in for it when it could not be attached, and for a group without
samples; hostile names escaped, Slack's limits kept."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from support.blockkit import assert_within_limits, mrkdwn, no_live_markup

from bot.render.charts import Point, Span, Threshold
from bot.render.history import (
    HistoryView,
    WatchedRule,
    range_words,
    render_drawing,
    render_history,
    render_history_text,
    render_no_history,
)

T0 = 1_772_323_200.0  # 2026-03-01 00:00 UTC
HOSTILE = "<!channel> & *Friday*"


def view(**kwargs):
    points = tuple(Point(T0 + 60 * i, None if i == 7 else 100 + (i * 37) % 400) for i in range(60))
    defaults = dict(
        group_id="@TGS#live",
        mark=None,
        group_name=HOSTILE,
        start=T0,
        end=T0 + 3600,
        points=points,
        thresholds=(Threshold("#1 below 150", 150, "below"),),
        spans=(Span(T0 + 600, T0 + 900), Span(T0 + 3000)),
        rules=(WatchedRule(1, "fewer than 150 online"),),
    )
    return HistoryView(**{**defaults, **kwargs})


def answer(v=None, **kwargs):
    args = dict(
        chart_note="Chart attached in this channel as `history-TGS-live-1h.png`.",
        zone_note="Times on the chart are in Asia/Tokyo, your Slack time zone.",
        attached=True,
    )
    return render_history(v or view(), **{**args, **kwargs})


def test_the_answer_with_its_chart():
    message = answer()
    text = mrkdwn(message)

    assert_within_limits(message)
    no_live_markup(text)
    assert "&lt;!channel&gt; &amp; *Friday*" in text and "<!channel>" not in text
    assert "*Min*\n100 · <!date^" in text
    assert "*Max*\n" in text and "*Last*\n" in text
    assert "*Checks*\n60 (1 failed)" in text
    assert "Chart attached in this channel as `history-TGS-live-1h.png`." in text
    assert "Times on the chart are in Asia/Tokyo, your Slack time zone." in text
    assert "Drawn: this channel's 1 watch: #1 fewer than 150 online." in text
    assert "Shaded: 2 alert periods, 15m in all (one still firing)." in text
    assert "`▁" not in text and "▂" not in text  # no sparkline: the chart shows it
    assert message.text.startswith("Audience of &lt;!channel&gt; &amp; *Friday* (@TGS#live)")
    assert ": min 100, max " in message.text


def test_without_its_chart_a_sparkline_stands_in_and_says_why():
    message = answer(
        chart_note="The chart could not be attached (Slack says `not_in_channel`).",
        attached=False,
    )
    text = mrkdwn(message)

    assert "Slack says `not_in_channel`" in text
    assert "your Slack time zone" not in text  # date tokens show each reader's own
    (spark,) = [line for line in text.splitlines() if line.startswith("`") and "▁" in line]
    assert len(spark.strip("`")) == 40
    assert "one character for each 1m 30s (its last count; blank: no good check)" in text


def test_slices_leave_blanks_where_no_good_check():
    points = (Point(T0 + 10, 5), Point(T0 + 3590, 9))
    text = mrkdwn(answer(view(points=points), attached=False))

    (spark,) = [line for line in text.splitlines() if line.startswith("`") and "▁" in line]
    assert spark == "`▁" + " " * 38 + "█`"


def test_no_watch_of_this_channel_says_why_no_line():
    text = mrkdwn(answer(view(rules=(), thresholds=(), spans=())))

    assert "No watch of this channel is on it: no thresholds to draw." in text
    assert "Shaded" not in text


def test_paused_watches_and_drop_rules_are_said_so():
    rules = (
        WatchedRule(1, "fewer than 150 online"),
        WatchedRule(4, "audience falls by 30% or more within 5m", paused=True),
    )
    text = mrkdwn(answer(view(rules=rules)))

    assert "Drawn: this channel's 2 watches: #1 fewer than 150 online; #4 audience falls" in text
    assert "(paused)" in text and "A drop rule has no fixed line." in text


def test_a_range_longer_than_samples_are_kept_says_so():
    text = mrkdwn(answer(view(end=T0 + 20 * 86_400, kept_days=14)))
    assert "Samples are kept 14 days (HISTORY_DAYS)" in text


def test_the_file_s_name_title_and_alt_text():
    v = view(mark=1000, group_name="Friday Live")

    assert v.filename == "history-TGS-live-mark1000-1h.png"
    assert v.title == "Audience of Friday Live (mark 1000), last 1h"
    alt = v.alt_text(ZoneInfo("Europe/Paris"))
    assert alt.startswith("Line chart: online count of Friday Live (@TGS#live) (mark 1000)")
    assert "times in Europe/Paris" in alt and "lines at #1 below 150" in alt
    assert "2 alert periods shaded" in alt and "1 failed check marked" in alt
    assert view(end=T0 + 86_400).filename == "history-TGS-live-24h.png"


def test_range_words():
    assert [range_words(s) for s in (300, 3600, 86_400, 7 * 86_400, 5400)] == [
        "5m",
        "1h",
        "24h",
        "7d",
        "1h 30m",
    ]


def test_no_samples_in_one_sentence_saying_what_starts_them():
    message = render_no_history("@TGS#live", 1000, seconds=86_400, latest_before=None, now=T0)
    text = mrkdwn(message)

    assert_within_limits(message)
    assert text.count(". ") == 0 and text.endswith("starts them.")
    assert "No samples exist for `@TGS#live` (mark 1000)" in text
    assert "`/online watch @TGS#live below &lt;N&gt; mark 1000` starts them" in text


def test_samples_only_before_the_range_say_when_and_what_to_ask():
    message = render_no_history("@TGS#live", None, seconds=3600, latest_before=T0 - 7200, now=T0)
    text = mrkdwn(message)

    assert "No checks of `@TGS#live` in the last 1h: the latest was <!date^" in text
    assert "(2h ago)" in text and "`/online history @TGS#live 7d`" in text


def test_the_acknowledgement():
    assert "Drawing the audience of `@TGS#live` (mark 7) over the last 24h…" in (
        render_drawing("@TGS#live", 7, 86_400).text
    )


def test_the_command_line_summary():
    text = render_history_text(view(group_name="Friday Live"), ZoneInfo("Asia/Tokyo"))

    assert text.splitlines()[0] == "Audience of Friday Live, last 1h (60 checks, 1 failed)"
    assert "  min        100  2026-03-01 09:00 JST" in text
    assert "  watch #1: fewer than 150 online" in text
    assert "  2 alert periods, 15m in all" in text
