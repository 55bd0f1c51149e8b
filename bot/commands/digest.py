"""The digest form of ``/online``: ``digest HH:MM [timezone]``, ``digest off``, or
``digest`` alone (the current setting), parsed from the words after its keyword.

The time is on a 24-hour clock (``9:00``, ``09:00``, ``21:30``); the zone an IANA name
(``Europe/Paris``, any case; ``UTC``), checked against this machine's time zone database.
Pure code but for that database, read by ``zoneinfo``.
"""

from __future__ import annotations

import functools
import re
import zoneinfo

from bot.commands.usage import DIGEST_FORM, UsageError
from bot.commands.values import DigestOff, SetDigest, ShowDigest
from bot.commands.words import Words, closest
from bot.tencent.validation import quote
from bot.zones import parse_zone

__all__ = ["parse_digest", "zone_name"]

_TIME_RE = re.compile(r"([0-9]{1,2})[:.h]([0-9]{2})", re.ASCII)
_OFF_WORDS = ("off", "none", "stop", "remove", "delete")
_ZONE_LIST = "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones"


def parse_digest(words: Words) -> SetDigest | DigestOff | ShowDigest:
    """``digest``'s command, from the words after the keyword."""
    first = words.next()
    if first is None:
        return ShowDigest()
    if first.key in _OFF_WORDS:
        _no_more(words, "digest off")
        return DigestOff()
    found = _TIME_RE.fullmatch(first.key)
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:
        hint = " (a 24-hour clock: 21:00, not 9pm)" if first.key.endswith(("am", "pm")) else ""
        raise UsageError(
            f"The digest's time must be HH:MM from 00:00 to 23:59{hint}, not {quote(first.text)}.",
            DIGEST_FORM,
        )
    zone_word = words.next()
    zone = None if zone_word is None else zone_name(zone_word.text)
    _no_more(words, f"digest {first.text} {zone or ''}".strip())
    return SetDigest(int(found[1]), int(found[2]), zone)


def _no_more(words: Words, form: str) -> None:
    extra = words.next()
    if extra is not None:
        raise UsageError(f"I don't understand {quote(extra.text)} after {form}.", DIGEST_FORM)


def zone_name(text: str) -> str:
    """The IANA name ``text`` means (any case), or UsageError saying what is wrong and what
    to do (with the closest known name)."""
    name = _names().get(text.lower())
    if name is not None and parse_zone(name) is not None:
        return name
    guess = closest(text.lower(), tuple(_names()))
    hint = f" Did you mean {quote(_names()[guess])}?" if guess else ""
    raise UsageError(
        f"I don't know the time zone {quote(text)}.{hint} Give an IANA name such as "
        f"Europe/Paris or America/New_York ({_ZONE_LIST}), or leave it out to use your "
        "Slack time zone.",
        DIGEST_FORM,
    )


@functools.cache
def _names() -> dict[str, str]:
    """Every zone name this machine knows, by its lower case."""
    return {name.lower(): name for name in sorted(zoneinfo.available_timezones())}
