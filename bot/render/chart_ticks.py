"""Where a chart's axes get their ticks, and what they say (pure).

::

    time_ticks(start, end, zone, most) -> [Tick]   on round wall-clock times of ``zone``
    value_ticks(top, most) -> [Tick]               0, and multiples of 1, 2, 2.5 or 5 x 10^k
    date_note(start, end, zone) -> str             the dates a time axis of hours covers

Time ticks fall on the zone's own round times (every 3 hours from local midnight, each
local midnight...), found by walking the range in steps of the zone's offset granularity
and keeping the instants whose local time is round: a daylight-saving change moves the
ticks with it, and labels stay the wall clock's. A tick on a local midnight shows the
date instead of ``00:00``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

MINUTE, HOUR, DAY = 60, 3600, 86_400
#: The spacings time ticks can have, shortest first.
TIME_STEPS = (
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
)
#: Every zone's offset from UTC is a multiple of this (some are a quarter hour off).
_OFFSET_GRAIN = 15 * MINUTE


@dataclass(frozen=True, slots=True)
class Tick:
    """A tick's place (unix seconds or a count) and its label."""

    at: float
    label: str


def time_ticks(start: float, end: float, zone: ZoneInfo, most: int) -> list[Tick]:
    """Ticks on round local times of ``zone`` within start..end: the shortest spacing
    that gives at most ``most`` of them (and at least 2 where the range allows)."""
    span = end - start
    step = next((s for s in TIME_STEPS if span / s <= most - 1), TIME_STEPS[-1])
    grain = min(step, _OFFSET_GRAIN)
    ticks = []
    at = math.ceil(start / grain) * grain
    while at <= end:
        local = datetime.fromtimestamp(at, zone)
        if _round(local, step):
            ticks.append(Tick(at, _time_label(local, step)))
        at += grain
    return ticks


def _round(local: datetime, step: int) -> bool:
    seconds = local.hour * HOUR + local.minute * MINUTE + local.second
    if step < DAY:
        return seconds % step == 0
    if seconds:
        return False
    days = step // DAY
    if days == 7:
        return local.weekday() == 0  # Mondays
    if days == 14:
        return local.weekday() == 0 and local.isocalendar().week % 2 == 0
    return local.toordinal() % days == 0


def _time_label(local: datetime, step: int) -> str:
    if step >= DAY or (local.hour == 0 and local.minute == 0):
        return f"{local:%b} {local.day}"
    return f"{local:%H:%M}"


def date_note(start: float, end: float, zone: ZoneInfo) -> str:
    """The date, or first and last dates, of start..end in ``zone`` (``2026-03-01`` or
    ``2026-03-28 to 2026-03-29``): the axis's hours say no day of their own."""
    first = datetime.fromtimestamp(start, zone).date()
    last = datetime.fromtimestamp(end, zone).date()
    return f"{first}" if first == last else f"{first} to {last}"


def value_ticks(top: float, most: int) -> list[Tick]:
    """Ticks from 0 to ``top`` on the largest round step (1, 2, 2.5 or 5 times a power
    of ten, at least 1) that gives at least 3 and at most ``most`` ticks, labelled with
    thousands separators."""
    steps = (m * 10**e for e in range(12) for m in (1, 2, 2.5, 5))
    step = next(s for s in steps if float(s).is_integer() and top / s <= most - 1)
    count = int(top // step)
    return [Tick(i * step, f"{i * step:,.0f}") for i in range(count + 1)]
