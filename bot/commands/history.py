"""The history form of ``/online``: ``history <groupId> [mark <K>] [<range>] [public]``,
parsed from the words after its keyword. Pure code.

The range is a duration (``1h``, ``6h``, ``24h``, ``7d``, ``1h30m``, ``90 min``), the
last that long; the options come in any order after the group ID.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from bot.commands.durations import (
    DAY,
    MINUTE,
    format_duration,
    looks_like_duration,
    parse_duration,
)
from bot.commands.query import PUBLIC_WORDS
from bot.commands.usage import HISTORY_FORM, UsageError
from bot.commands.values import DEFAULT_HISTORY_SECONDS, ShowHistory
from bot.commands.words import Word, Words, closest, parse_group_id, parse_mark, split_option
from bot.tencent.errors import InvalidInput
from bot.tencent.validation import quote, validate_group_id
from bot.zones import parse_zone

__all__ = ["HISTORY_RANGE", "check_range", "parse_history", "parse_history_options"]

#: The shortest and longest range a chart covers.
HISTORY_RANGE = (5 * MINUTE, 31 * DAY)

_RANGEISH_RE = re.compile(r"[0-9][0-9.,]*[a-z]+", re.ASCII)


def parse_history(words: Words) -> ShowHistory:
    """``history``'s command, from the words after the keyword."""
    first = words.next()
    if first is None:
        raise UsageError(
            "history needs a group ID, e.g. /online history @TGS#a6I4ZUUGO 24h.", HISTORY_FORM
        )
    if split_option(first, ("mark",))[0] in ("mark", *PUBLIC_WORDS) or _is_range(first, words):
        raise UsageError(
            f"Put the group ID right after history, e.g. /online history @TGS#a6I4ZUUGO "
            f"{first.text} ...",
            HISTORY_FORM,
        )
    group_id = parse_group_id(first.text, HISTORY_FORM)
    mark: int | None = None
    seconds: int | None = None
    public = False
    for word in words:
        key, value = split_option(word, ("mark",))
        if key in PUBLIC_WORDS:
            public = True
        elif key == "mark":
            if mark is not None:
                raise UsageError("Give one mark only.", HISTORY_FORM)
            mark = parse_mark(value or words.value("mark", "mark 1000", HISTORY_FORM), HISTORY_FORM)
        elif _is_range(word, words):
            if seconds is not None:
                raise UsageError("Give one range only, e.g. 24h or 7d.", HISTORY_FORM)
            words.push(word.text, word.start)
            seconds = check_range(words.duration("The range", "24h", HISTORY_FORM))
        elif re.fullmatch(r"[0-9]+", word.text):
            raise UsageError(
                f"{quote(word.text)} needs a unit for a range ({word.text}h, {word.text}d), or "
                f"the word mark before it for a mark (mark {word.text}).",
                HISTORY_FORM,
            )
        else:
            guess = closest(key, ("mark", *PUBLIC_WORDS))
            hint = f" Did you mean {quote(guess)}?" if guess else ""
            raise UsageError(
                f"I don't understand {quote(word.text)} in history.{hint}", HISTORY_FORM
            )
    return ShowHistory(group_id, mark, seconds or DEFAULT_HISTORY_SECONDS, public)


def _is_range(word: Word, words: Words) -> bool:
    """``24h``, ``1h30m``, or a number whose unit is the next word (``90 min``); also
    what is meant as one and is wrong (``1.5h``, ``3x``: the duration parser says why)."""
    if looks_like_duration(word.key) or _RANGEISH_RE.fullmatch(word.key):
        return True
    following = words.peek()
    return (
        re.fullmatch(r"[0-9]+", word.text) is not None
        and following is not None
        and looks_like_duration(f"{word.key} {following.key}")
    )


def check_range(seconds: int) -> int:
    """``seconds`` if a chart may cover that long, else UsageError saying what may."""
    lo, hi = HISTORY_RANGE
    if lo <= seconds <= hi:
        return seconds
    raise UsageError(
        f"The range must be from {format_duration(lo)} to {format_duration(hi)}, not "
        f"{format_duration(seconds)}.",
        HISTORY_FORM,
    )


def parse_history_options(
    group_id: str, range_text: str, zone_name: str | None
) -> tuple[int, ZoneInfo | None]:
    """The command line's ``online-bot history GROUP_ID --range DURATION --tz ZONE``: the
    range in seconds and the zone (None without ``--tz``), else UsageError saying which is
    wrong and why."""
    try:
        validate_group_id(group_id)
    except InvalidInput as error:
        raise UsageError(error.user_message, HISTORY_FORM) from None
    try:
        seconds = check_range(parse_duration(range_text))
    except UsageError as error:
        raise UsageError(f"--range {range_text}: {error.problem}", HISTORY_FORM) from None
    zone = None if zone_name is None else parse_zone(zone_name)
    if zone_name is not None and zone is None:
        raise UsageError(
            f"--tz {zone_name} is not a time zone: give an IANA name such as Europe/Paris, "
            "America/New_York or UTC.",
            HISTORY_FORM,
        )
    return seconds, zone
