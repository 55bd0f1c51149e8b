"""bot/render/chart_ticks.py: time ticks on the zone's round times, value ticks on
round counts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.render.chart_ticks import date_note, time_ticks, value_ticks

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()  # a Sunday
HOUR, DAY = 3600, 86_400


@pytest.mark.parametrize(
    ("span", "most", "labels"),
    [
        (HOUR, 8, ["Mar 1", "00:10", "00:20", "00:30", "00:40", "00:50", "01:00"]),
        (6 * HOUR, 8, ["Mar 1", "01:00", "02:00", "03:00", "04:00", "05:00", "06:00"]),
        (24 * HOUR, 8, ["Mar 1", "06:00", "12:00", "18:00", "Mar 2"]),
        (24 * HOUR, 5, ["Mar 1", "06:00", "12:00", "18:00", "Mar 2"]),
        (7 * DAY, 8, [f"Mar {d}" for d in range(1, 9)]),
        (30 * DAY, 8, ["Mar 2", "Mar 9", "Mar 16", "Mar 23", "Mar 30"]),  # Mondays
    ],
)
def test_the_shortest_round_step_that_fits(span, most, labels):
    ticks = time_ticks(T0, T0 + span, ZoneInfo("UTC"), most)

    assert [t.label for t in ticks] == labels
    assert len(ticks) <= most


def test_ticks_are_on_the_zones_round_hours_even_a_quarter_hour_off():
    nepal = ZoneInfo("Asia/Kathmandu")  # UTC+5:45
    ticks = time_ticks(T0, T0 + 6 * HOUR, nepal, 8)

    local = [datetime.fromtimestamp(t.at, nepal) for t in ticks]
    assert all(t.minute == 0 for t in local)
    assert [t.label for t in ticks][:2] == ["06:00", "07:00"]  # 00:00 UTC is 05:45 there


def test_a_tick_on_local_midnight_shows_the_date():
    tokyo = ZoneInfo("Asia/Tokyo")
    start = datetime(2026, 3, 1, 18, tzinfo=tokyo).timestamp()

    labels = [t.label for t in time_ticks(start, start + 12 * HOUR, tokyo, 8)]

    assert labels == ["18:00", "20:00", "22:00", "Mar 2", "02:00", "04:00", "06:00"]


def test_the_date_note_names_the_days_the_axis_covers():
    utc = ZoneInfo("UTC")
    assert date_note(T0, T0 + HOUR, utc) == "2026-03-01"
    assert date_note(T0, T0 + 2 * DAY, utc) == "2026-03-01 to 2026-03-03"


@pytest.mark.parametrize(
    ("top", "most", "labels"),
    [
        (10, 6, ["0", "2", "4", "6", "8", "10"]),
        (13, 6, ["0", "5", "10"]),
        (1300, 6, ["0", "500", "1,000"]),
        (1200, 6, ["0", "250", "500", "750", "1,000"]),
        (11_700, 5, ["0", "5,000", "10,000"]),
        (2_600_000, 6, ["0", "1,000,000", "2,000,000"]),
    ],
)
def test_value_ticks_are_round_counts_from_zero(top, most, labels):
    ticks = value_ticks(top, most)

    assert [t.label for t in ticks] == labels
    assert all(t.at <= top for t in ticks) and len(ticks) <= most
