"""When a daily digest is due: its local time in its zone, across DST, as UTC instants.
Pure code: every function takes ``now``.

- **A time that does not exist** that day (the spring-forward gap, e.g. 02:30 in
  Europe/Paris on the last Sunday of March): the digest goes at the first instant after
  the gap (03:00 local), so that day still has one.
- **A time that happens twice** (fall back, e.g. 02:30 on the last Sunday of October):
  the first occurrence (``fold=0``), once.
- **Missed** (the bot was down at the time): the latest occurrence is sent late if no
  more than ``MAX_LATE_SECONDS`` have passed since it, and only if that local date has
  not had its digest; older ones are skipped, never sent several days at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["MAX_LATE_SECONDS", "Decision", "DigestTime", "decide", "next_due", "occurrence"]

#: A digest missed by more than this (the bot down at its time) is skipped, not sent late.
MAX_LATE_SECONDS = 3 * 3600


@dataclass(frozen=True, slots=True)
class DigestTime:
    """A time of day, ``HH:MM`` on a 24-hour clock."""

    hour: int
    minute: int

    def __post_init__(self) -> None:
        if not (0 <= self.hour <= 23 and 0 <= self.minute <= 59):
            raise ValueError(f"not a time of day: {self.hour}:{self.minute}")

    @property
    def text(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def occurrence(day: date, at: DigestTime, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``at`` on the local date ``day`` in ``zone``: in a gap, the first
    instant after it; in a fold, the first occurrence."""
    wall = datetime.combine(day, time(at.hour, at.minute))
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of a repeated time
    if _wall(first, zone) == wall:
        return first
    # ``wall`` is in a gap: find the first minute whose local time is past it (the gap's end).
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # before the gap: wall < it
    high = max(first, low)
    low = min(first, low)
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) // 2
        if _wall(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high if _wall(low, zone) < wall else low


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def next_due(at: DigestTime, zone: ZoneInfo, after: float) -> tuple[float, date]:
    """The first occurrence strictly after ``after`` (unix seconds), and its local date."""
    today = datetime.fromtimestamp(after, zone).date()
    for offset in range(-1, 3):
        day = today + timedelta(days=offset)
        instant = occurrence(day, at, zone).timestamp()
        if instant > after:
            return instant, day
    raise AssertionError("a time of day occurs within two days")  # pragma: no cover


def _previous_due(at: DigestTime, zone: ZoneInfo, now: float) -> tuple[float, date]:
    """The latest occurrence at or before ``now``, and its local date."""
    today = datetime.fromtimestamp(now, zone).date()
    for offset in range(1, -3, -1):
        day = today + timedelta(days=offset)
        instant = occurrence(day, at, zone).timestamp()
        if instant <= now:
            return instant, day
    raise AssertionError("a time of day occurred within two days")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a digest that came due: send it for ``day`` (None: send nothing,
    ``reason`` says why), and when it is next due (unix seconds)."""

    day: date | None
    next_due_at: float
    reason: str  # "due", "late", "missed", "already sent"


def decide(
    at: DigestTime,
    zone: ZoneInfo,
    *,
    last_sent_for: date | None,
    now: float,
    max_late: float = MAX_LATE_SECONDS,
) -> Decision:
    """Whether a digest whose ``next_due_at`` has passed is sent now, and for which date."""
    due, day = _previous_due(at, zone, now)
    upcoming, _ = next_due(at, zone, now)
    if last_sent_for is not None and day <= last_sent_for:
        return Decision(None, upcoming, "already sent")
    late = now - due
    if late > max_late:
        return Decision(None, upcoming, "missed")
    return Decision(day, upcoming, "late" if late > 300 else "due")
