"""Durations, one vocabulary for reading and writing them.

Users type ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m`` or ``1h 30m``
(:func:`parse_duration`); the bot writes them back the same way
(:func:`format_duration`, exact; :func:`format_span`, to the unit that matters;
:func:`format_ago`; :func:`format_age`, one unit in words). Pure code.
"""

from __future__ import annotations

import re

from bot.commands.usage import UsageError
from bot.tencent.validation import quote

__all__ = [
    "DAY",
    "DURATION_FORM",
    "HOUR",
    "MAX_DIGITS",
    "MAX_DURATION_WORDS",
    "MINUTE",
    "WEEK",
    "format_age",
    "format_ago",
    "format_duration",
    "format_span",
    "looks_like_duration",
    "parse_duration",
]

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

DURATION_FORM = "durations look like 30s, 5m, 2h, 1d or 1h30m"
#: Numbers longer than this are out of every range (and int() of a huge string is slow).
MAX_DIGITS = 15
#: ``1 d 2 h 3 m 4 s`` at most: a duration never spans more words than this.
MAX_DURATION_WORDS = 8

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), MINUTE),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), HOUR),
    **dict.fromkeys(("d", "day", "days"), DAY),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), WEEK),
}
_DURATION_RE = re.compile(r"\s*(?:[0-9]+\s*[a-z]+\s*)+", re.ASCII)
_DURATION_PART_RE = re.compile(r"([0-9]+)\s*([a-z]+)", re.ASCII)


def looks_like_duration(text: str) -> bool:
    """Numbers each followed by a word (``5 min``, ``1h 30m``), lower case: worth parsing."""
    return _DURATION_RE.fullmatch(text) is not None


def parse_duration(text: str) -> int:
    """``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"1h30m"``, ``"1h 30m"`` → seconds.

    ``"0"`` is 0. Raises :class:`UsageError` for anything else.
    """
    raw = text.strip()
    value = raw.lower()
    if value == "0":
        return 0
    if not value:
        raise UsageError(f"A duration is missing: {DURATION_FORM}.", "")
    if re.fullmatch(r"[0-9]+", value, re.ASCII):
        raise UsageError(
            f"{quote(raw)} needs a unit: {value}s, {value}m, {value}h or {value}d.", ""
        )
    if re.search(r"[0-9][.,][0-9]", value):
        raise UsageError(
            f"Durations take whole numbers: write 90m rather than 1.5h ({quote(raw)}).", ""
        )
    if not looks_like_duration(value):
        raise UsageError(f"{quote(raw)} is not a duration: {DURATION_FORM}.", "")
    total = 0
    for number, unit in _DURATION_PART_RE.findall(value):
        if unit not in _UNITS:
            raise UsageError(
                f"{quote(raw)} has an unknown unit {quote(unit)}: use s, m, h or d "
                f"({DURATION_FORM}).",
                "",
            )
        if len(number) > MAX_DIGITS:
            raise UsageError(f"{quote(raw)} is far too long a duration.", "")
        total += int(number) * _UNITS[unit]
    return total


def format_duration(seconds: int) -> str:
    """Seconds as ``"1d 2h"``, ``"1h 30m"``, ``"45s"``; 0 is ``"0s"``."""
    seconds = int(seconds)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def format_span(seconds: float) -> str:
    """A duration for people: ``45s``, ``12m``, ``1h 5m``, ``2d 3h`` (never negative)."""
    s = max(0, int(seconds))
    if s < MINUTE:
        return format_duration(s)
    if s < DAY:
        return format_duration(s - s % MINUTE)
    return format_duration(s - s % HOUR)


def format_ago(seconds: float, unit: int | None = None) -> str:
    """``"12m ago"``, or ``"just now"`` under a second.

    With ``unit`` (e.g. MINUTE): ``"just now"`` under one unit, else rounded down to
    it (``"1d 2h 3m ago"``); without, rounded as :func:`format_span` does.
    """
    if unit is None:
        return "just now" if seconds < 1 else f"{format_span(seconds)} ago"
    if seconds < unit:
        return "just now"
    whole = int(seconds)
    return f"{format_duration(whole - whole % unit)} ago"


def format_age(seconds: int) -> str:
    """One unit, rounded down, in words: ``"12 min"``, ``"3 h"``, ``"2 d"``."""
    if seconds < HOUR:
        return f"{seconds // MINUTE} min"
    if seconds < DAY:
        return f"{seconds // HOUR} h"
    return f"{seconds // DAY} d"
