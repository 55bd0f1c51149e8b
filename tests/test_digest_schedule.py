"""The digest's schedule (bot/digest/schedule.py): local times across DST, both ways, and
what a due digest does when it is late. Pure: every case gives ``now``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.digest.schedule import MAX_LATE_SECONDS, DigestTime, decide, next_due, occurrence

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "at", "zone", "expected"),
    [
        # an ordinary day: 09:00 CET is 08:00 UTC, 09:00 CEST 07:00 UTC
        (date(2026, 3, 28), DigestTime(9, 0), PARIS, utc(2026, 3, 28, 8, 0)),
        (date(2026, 3, 29), DigestTime(9, 0), PARIS, utc(2026, 3, 29, 7, 0)),
        # spring forward: 02:30 does not exist; the first instant after the gap, 03:00 CEST
        (date(2026, 3, 29), DigestTime(2, 30), PARIS, utc(2026, 3, 29, 1, 0)),
        (date(2026, 3, 8), DigestTime(2, 0), NEW_YORK, utc(2026, 3, 8, 7, 0)),
        # fall back: 02:30 happens twice; the first, still CEST (+2)
        (date(2026, 10, 25), DigestTime(2, 30), PARIS, utc(2026, 10, 25, 0, 30)),
        (date(2026, 11, 1), DigestTime(1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        (date(2026, 10, 25), DigestTime(9, 0), PARIS, utc(2026, 10, 25, 8, 0)),
    ],
)
def test_occurrence_in_local_time_across_dst(
    day: date, at: DigestTime, zone: ZoneInfo, expected: datetime
) -> None:
    assert occurrence(day, at, zone) == expected


def test_a_digest_in_the_gap_goes_once_each_day_around_spring_forward() -> None:
    at = DigestTime(2, 30)
    after = utc(2026, 3, 27, 12, 0).timestamp()
    days = []
    for _ in range(4):
        after, day = next_due(at, PARIS, after)
        days.append((day, datetime.fromtimestamp(after, PARIS).strftime("%H:%M %Z")))
    assert days == [
        (date(2026, 3, 28), "02:30 CET"),
        (date(2026, 3, 29), "03:00 CEST"),  # the gap's end
        (date(2026, 3, 30), "02:30 CEST"),
        (date(2026, 3, 31), "02:30 CEST"),
    ]


def test_a_digest_in_the_fold_goes_once_at_the_first_occurrence() -> None:
    at = DigestTime(2, 30)
    first = occurrence(date(2026, 10, 25), at, PARIS).timestamp()
    # just after the first 02:30: the next is the next day's, not the second 02:30
    upcoming, day = next_due(at, PARIS, first)
    assert day == date(2026, 10, 26)
    assert upcoming - first == 25 * 3600  # the day has 25 hours
    # sent at the first 02:30: at the second one (an hour later) nothing is due again
    again = decide(at, PARIS, last_sent_for=date(2026, 10, 25), now=first + 3600)
    assert again.day is None and again.reason == "already sent"
    assert again.next_due_at == upcoming


def test_next_due_is_strictly_after() -> None:
    at = DigestTime(9, 0)
    nine = utc(2026, 6, 1, 7, 0).timestamp()  # 09:00 CEST
    assert next_due(at, PARIS, nine - 1) == (nine, date(2026, 6, 1))
    assert next_due(at, PARIS, nine) == (nine + 86400, date(2026, 6, 2))


def test_decide_sends_on_time_and_late_within_the_bound_once() -> None:
    at = DigestTime(9, 0)
    nine = utc(2026, 6, 1, 7, 0).timestamp()
    on_time = decide(at, PARIS, last_sent_for=date(2026, 5, 31), now=nine + 10)
    assert (on_time.day, on_time.reason) == (date(2026, 6, 1), "due")
    assert on_time.next_due_at == nine + 86400
    late = decide(at, PARIS, last_sent_for=date(2026, 5, 31), now=nine + 2 * 3600)
    assert (late.day, late.reason) == (date(2026, 6, 1), "late")
    twice = decide(at, PARIS, last_sent_for=date(2026, 6, 1), now=nine + 2 * 3600 + 30)
    assert (twice.day, twice.reason) == (None, "already sent")


def test_decide_skips_a_digest_missed_past_the_bound_and_older_days() -> None:
    at = DigestTime(9, 0)
    nine = utc(2026, 6, 1, 7, 0).timestamp()
    missed = decide(at, PARIS, last_sent_for=None, now=nine + MAX_LATE_SECONDS + 60)
    assert (missed.day, missed.reason) == (None, "missed")
    assert missed.next_due_at == nine + 86400
    # down three days, back at 10:00: today's only (an hour late), not the three before
    back = decide(at, PARIS, last_sent_for=date(2026, 5, 29), now=nine + 3600)
    assert (back.day, back.reason) == (date(2026, 6, 1), "late")


def test_a_time_of_day_is_checked() -> None:
    assert DigestTime(23, 59).text == "23:59"
    with pytest.raises(ValueError):
        DigestTime(24, 0)
