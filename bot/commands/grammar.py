"""The grammar of ``/online``: the text after the command in, one frozen command value out.

::

    (empty) | help | ?                          Help(topic=None)
    help watch                                  Help(topic="watch")
    <groupId> [mark] [public]                   Query
    <groupId> [public] is <account>[,<account>...]
                                                CheckMembers
    watch <groupId> below|above <N> [for <d>] [recover <M>] [mark <K>] [repeat <d>]
                                                WatchThreshold
    watch <groupId> drop <P>% [within <d>] [mark <K>] [repeat <d>]
                                                WatchDrop
    watches                                     ListWatches
    unwatch <id>                                Unwatch
    mute <id> <duration> [reason...]            Mute
    unmute <id>                                 Unmute

Keywords are case-insensitive, group IDs are not. Options after the group ID may
come in any order and as ``mark 1000``, ``mark=1000`` or ``mark:1000``. Anything
else raises :class:`UsageError`, whose ``str()`` says what was wrong and shows
the right form. Pure code: no I/O, nothing read from the environment.

The text is taken as Slack sends it: ``&amp;``/``&lt;``/``&gt;`` are decoded,
Slack's own ``<url|label>`` markup is reduced to its label, zero-width
characters are dropped, and curly quotes or backticks around a word are removed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from bot.tencent.errors import InvalidInput
from bot.tencent.validation import (
    MAX_CHECK_ACCOUNTS,
    MAX_GROUP_ID_BYTES,
    MAX_MARK,
    validate_accounts,
)

__all__ = [
    "DEFAULT_WITHIN_SECONDS",
    "MAX_CHECK_ACCOUNTS",
    "MAX_GROUP_ID_BYTES",
    "MAX_MARK",
    "MAX_REASON_CHARS",
    "MAX_THRESHOLD",
    "USAGE",
    "WATCH_USAGE",
    "CheckMembers",
    "Command",
    "Help",
    "ListWatches",
    "Mute",
    "Query",
    "Unmute",
    "Unwatch",
    "UsageError",
    "WatchDrop",
    "WatchThreshold",
    "format_duration",
    "parse",
    "parse_duration",
    "split_accounts",
    "validate_group_id",
]

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

#: The largest threshold a watch accepts.
MAX_THRESHOLD = 1_000_000
#: Watch IDs are database keys: positive 32-bit integers (INTEGER on PostgreSQL).
MAX_WATCH_ID = 2**31 - 1
#: A mute reason longer than this is refused.
MAX_REASON_CHARS = 300
#: ``drop`` compares with the count this long ago unless ``within`` says otherwise.
DEFAULT_WITHIN_SECONDS = 5 * MINUTE

FOR_RANGE = (0, 24 * HOUR)
WITHIN_RANGE = (MINUTE, 24 * HOUR)
REPEAT_RANGE = (5 * MINUTE, 7 * DAY)
MUTE_RANGE = (MINUTE, 30 * DAY)

QUERY_FORM = "/online <groupId> [mark] [public]"
IS_FORM = "/online <groupId> is <account>[,<account>...]"
THRESHOLD_FORM = (
    "/online watch <groupId> below|above <N> [for <duration>] [recover <M>] [mark <K>] "
    "[repeat <duration>]"
)
DROP_FORM = "/online watch <groupId> drop <P>% [within <duration>] [mark <K>] [repeat <duration>]"
WATCH_FORMS = f"{THRESHOLD_FORM}  or  {DROP_FORM}"
UNWATCH_FORM = "/online unwatch <id>"
MUTE_FORM = "/online mute <id> <duration> [reason]"
UNMUTE_FORM = "/online unmute <id>"
WATCHES_FORM = "/online watches"
DURATION_FORM = "durations look like 30s, 5m, 2h, 1d or 1h30m"

USAGE = """\
/online <groupId> [mark] [public]    who is online in an audio-video group
  /online @TGS#a6I4ZUUGO
  /online @TGS#a6I4ZUUGO 1000 public   only mark 1000; answer in the channel
/online <groupId> is <account>[,...]  are these accounts in the group now (past the 1,000 cap)
  /online @TGS#a6I4ZUUGO is alice,bob
/online watches                       this channel's watches
/online help watch                    alerts: below, above, drop, mute"""

WATCH_USAGE = """\
/online watch <groupId> below|above <N> [for <d>] [recover <M>] [mark <K>] [repeat <d>]
/online watch <groupId> drop <P>% [within <d>] [mark <K>] [repeat <d>]
/online watches  |  unwatch <id>  |  mute <id> <d> [reason]  |  unmute <id>
  for      how long the condition must last before the alert (0 to 24h; default 0)
  recover  the count that clears a below/above alert (hysteresis; default N)
  within   the window a drop is measured over (1m to 24h; default 5m)
  repeat   remind while still alerting (5m to 7d; default never)
  mark     count only members with this mark
  <d> is a duration: 30s, 5m, 2h, 1d, 1h30m
Examples:
  /online watch @TGS#a6I4ZUUGO below 10 for 5m recover 12
  /online watch @TGS#a6I4ZUUGO above 5000 mark 1000 repeat 1h
  /online watch @TGS#a6I4ZUUGO drop 30% within 10m
  /online mute 3 2h maintenance window"""


class UsageError(ValueError):
    """What the user typed is not a command.

    ``problem`` says what was wrong, ``usage`` the right form; ``str()`` is both.
    """

    def __init__(self, problem: str, usage: str = QUERY_FORM) -> None:
        self.problem = problem
        self.usage = usage
        super().__init__(f"{problem} Usage: {usage}" if usage else problem)


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    group_id: str
    mark: int | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class CheckMembers:
    """``<groupId> is <accounts>``: which of these accounts are in the group now."""

    group_id: str
    accounts: tuple[str, ...]
    public: bool = False


@dataclass(frozen=True, slots=True)
class WatchThreshold:
    group_id: str
    direction: Literal["below", "above"]
    threshold: int
    for_seconds: int = 0
    recover: int | None = None
    mark: int | None = None
    repeat_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class WatchDrop:
    group_id: str
    percent: int
    within_seconds: int = DEFAULT_WITHIN_SECONDS
    mark: int | None = None
    repeat_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ListWatches:
    pass


@dataclass(frozen=True, slots=True)
class Unwatch:
    watch_id: int


@dataclass(frozen=True, slots=True)
class Mute:
    watch_id: int
    seconds: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Unmute:
    watch_id: int


Command: TypeAlias = (
    Help | Query | CheckMembers | WatchThreshold | WatchDrop | ListWatches | Unwatch | Mute | Unmute
)

# --------------------------------------------------------------------------- durations

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), MINUTE),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), HOUR),
    **dict.fromkeys(("d", "day", "days"), DAY),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * DAY),
}
_DURATION_RE = re.compile(r"\s*(?:[0-9]+\s*[a-z]+\s*)+", re.ASCII)
_DURATION_PART_RE = re.compile(r"([0-9]+)\s*([a-z]+)", re.ASCII)
#: Numbers longer than this are out of every range (and int() of a huge string is slow).
_MAX_DIGITS = 15
#: ``1 d 2 h 3 m 4 s`` at most: a duration never spans more words than this.
_MAX_DURATION_WORDS = 8


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
            f"{_show(raw)} needs a unit: {value}s, {value}m, {value}h or {value}d.", ""
        )
    if re.search(r"[0-9][.,][0-9]", value):
        raise UsageError(
            f"Durations take whole numbers: write 90m rather than 1.5h ({_show(raw)}).", ""
        )
    if not _DURATION_RE.fullmatch(value):
        raise UsageError(f"{_show(raw)} is not a duration: {DURATION_FORM}.", "")
    total = 0
    for number, unit in _DURATION_PART_RE.findall(value):
        if unit not in _UNITS:
            raise UsageError(
                f"{_show(raw)} has an unknown unit {_show(unit)}: use s, m, h or d "
                f"({DURATION_FORM}).",
                "",
            )
        if len(number) > _MAX_DIGITS:
            raise UsageError(f"{_show(raw)} is far too long a duration.", "")
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


# --------------------------------------------------------------------------- values


def validate_group_id(group_id: str, usage: str = QUERY_FORM) -> str:
    """Return ``group_id`` if it could be a Tencent group ID, else raise UsageError saying why."""
    if not group_id:
        raise UsageError("The group ID is empty: give one like @TGS#a6I4ZUUGO.", usage)
    bad = next((ch for ch in group_id if not 0x21 <= ord(ch) <= 0x7E), None)
    if bad is not None:
        raise UsageError(
            f"Group IDs are printable ASCII without spaces (letters, digits and symbols such "
            f"as @ # _ -); {_show(group_id)} contains {_show(bad)}. Copy the ID from the "
            f"Chat console.",
            usage,
        )
    if len(group_id) > MAX_GROUP_ID_BYTES:
        raise UsageError(
            f"Group IDs have at most {MAX_GROUP_ID_BYTES} characters; {_show(group_id)} has "
            f"{len(group_id)}.",
            usage,
        )
    return group_id


_INT_RE = re.compile(r"[0-9]+(?:[,_][0-9]{3})*", re.ASCII)
_NUMBERISH_RE = re.compile(r"[-+\u2212]?[0-9.,_eE%]+", re.ASCII)


def _parse_int(text: str, what: str, lo: int, hi: int, usage: str, note: str = "") -> int:
    """A whole number in ``lo..hi`` (``1,000`` and ``1_000`` allowed) or UsageError."""
    digits = text.replace(",", "").replace("_", "")
    if _INT_RE.fullmatch(text) and len(digits) <= _MAX_DIGITS and lo <= int(digits) <= hi:
        return int(digits)
    raise UsageError(
        f"{what} must be a whole number from {lo:,} to {hi:,}{note}, not {_show(text)}.", usage
    )


def _parse_mark(text: str, usage: str) -> int:
    return _parse_int(
        text, "The mark", 0, MAX_MARK, usage, " (Tencent marks are usually 1000 or more)"
    )


def _parse_watch_id(text: str, usage: str) -> int:
    value = text.removeprefix("#")
    digits = len(str(MAX_WATCH_ID))
    if _INT_RE.fullmatch(value) and len(value) <= digits and 1 <= int(value) <= MAX_WATCH_ID:
        return int(value)
    raise UsageError(
        f"Watch IDs are whole numbers like 12 (see /online watches), not {_show(text)}.", usage
    )


def _check_range(
    seconds: int, what: str, bounds: tuple[int, int], usage: str, verb: str = "be"
) -> int:
    lo, hi = bounds
    if lo <= seconds <= hi:
        return seconds
    raise UsageError(
        f"{what} must {verb} from {format_duration(lo)} to {format_duration(hi)}, "
        f"not {format_duration(seconds)}.",
        usage,
    )


def _show(text: str, limit: int = 40) -> str:
    """A user's word quoted for an error message: control characters masked, long words cut."""
    clean = "".join("?" if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 else ch for ch in text)
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f'"{clean}"'


# --------------------------------------------------------------------------- words

_SLACK_MARKUP_RE = re.compile(r"<([^<>]*)>")
_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
#: Full-width % = # @ and space, as East Asian input methods type them.
_FULLWIDTH = str.maketrans("\uff05\uff1d\uff03\uff20\u3000", "%=#@ ")
#: Curly and angle quotes: never part of a group ID, stripped from either end of a word.
_CURLY = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2018\u2019\u201a\u201b\u2039\u203a"
_STRAIGHT = "\"'`"


def _slack_markup(match: re.Match[str]) -> str:
    inner = match.group(1)
    if "|" in inner:
        return inner.rsplit("|", 1)[1]
    inner = inner.removeprefix("mailto:")
    return "@" + inner[1:] if inner.startswith("!") else inner


def _normalise(text: str) -> str:
    # A raw "<" can only be Slack's own markup: what users type arrives as "&lt;".
    text = _SLACK_MARKUP_RE.sub(_slack_markup, text)
    text = _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(1)], text)
    return text.translate(_INVISIBLE).translate(_FULLWIDTH)


def _unquote(word: str) -> str:
    word = word.strip(_CURLY)
    if len(word) >= 2 and (
        (word[0] == word[-1] and word[0] in _STRAIGHT) or (word[0], word[-1]) == ("<", ">")
    ):
        word = word[1:-1]  # "x", 'x', `x`, and <x> copied from the usage text
    return word


@dataclass(frozen=True, slots=True)
class _Word:
    text: str  # unquoted
    start: int  # offset in the normalised text, for "the rest of the line"

    @property
    def key(self) -> str:
        return self.text.lower()


class _Words:
    """A cursor over the words of the normalised text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._words = [_Word(_unquote(m.group()), m.start()) for m in re.finditer(r"\S+", text)]
        self._i = 0

    def peek(self) -> _Word | None:
        return self._words[self._i] if self._i < len(self._words) else None

    def next(self) -> _Word | None:
        word = self.peek()
        if word is not None:
            self._i += 1
        return word

    def rest(self) -> str:
        word = self.peek()
        self._i = len(self._words)
        return "" if word is None else self.text[word.start :].strip()

    def push(self, text: str, start: int) -> None:
        """Put a word back in front: the value of ``mark=1000`` once split off."""
        self._words.insert(self._i, _Word(text, start))

    def __iter__(self) -> Iterator[_Word]:
        while (word := self.next()) is not None:
            yield word

    def value(self, option: str, example: str, usage: str) -> str:
        """The word after an option keyword (a lone ``=`` or ``:`` in between is skipped)."""
        word = self.next()
        if word is not None and word.text in ("=", ":"):
            word = self.next()
        if word is None:
            raise UsageError(f"{option} needs a value after it, e.g. {example}.", usage)
        return word.text

    def duration(self, what: str, example: str, usage: str) -> int:
        """A duration that may span words: ``1h 30m``, ``5 min``."""
        first = self.value(what, example, usage)
        parts = [first]
        while (
            len(parts) < _MAX_DURATION_WORDS
            and (nxt := self.peek()) is not None
            and _DURATION_RE.fullmatch(" ".join([*parts, nxt.text]).lower())
        ):
            parts.append(nxt.text)
            self.next()
        try:
            return parse_duration(" ".join(parts))
        except UsageError as exc:
            raise UsageError(exc.problem, usage) from None


def _split_option(word: _Word, options: tuple[str, ...]) -> tuple[str, str | None]:
    """``mark=1000`` → ``("mark", "1000")``; ``mark`` → ``("mark", None)``; else ``(key, None)``."""
    for sep in ("=", ":"):
        head, found, tail = word.text.partition(sep)
        if found and head.lower() in options:
            return head.lower(), tail or None
    return word.key, None


def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return found[0] if found else None


# --------------------------------------------------------------------------- parsing

_HELP_WORDS = ("help", "?", "-h", "--help")
_WATCH_TOPICS = ("watch", "watches", "unwatch", "mute", "unmute", "alert", "alerts", "drop")
_KEYWORDS = ("help", "watch", "watches", "unwatch", "mute", "unmute")
_RULES = ("below", "above", "drop")
_PUBLIC = ("public", "share")


def parse(text: str) -> Command:
    """Parse the text after ``/online``; raise :class:`UsageError` if it is not a command."""
    words = _Words(_normalise(text))
    first = words.peek()
    if first is None:
        return Help()
    key = first.key
    if key in _HELP_WORDS:
        words.next()
        topic = words.next()
        return Help("watch" if topic is not None and topic.key in _WATCH_TOPICS else None)
    if key in ("watch", "unwatch", "watches", "mute", "unmute"):
        words.next()
        return _KEYWORD_PARSERS[key](words)
    return _parse_query(words)


def _parse_query(words: _Words) -> Query | CheckMembers:
    first = words.next()
    assert first is not None
    if _split_option(first, ("mark",))[0] in ("mark", *_PUBLIC):
        raise UsageError(f"Put the group ID first, before {_show(first.text)}.")
    typo = _closest(first.key, _KEYWORDS)
    try:
        return _query_options(first, words)
    except UsageError as exc:
        if typo is None:
            raise
        raise UsageError(f"{exc.problem} Did you mean {_show(typo)}?", _usage_of(typo)) from None


def _query_options(first: _Word, words: _Words) -> Query | CheckMembers:
    group_id = validate_group_id(first.text)
    mark: int | None = None
    public = False
    for word in words:
        key, value = _split_option(word, ("mark",))
        if key in _PUBLIC:
            public = True
            continue
        if key == "is":
            if mark is not None:
                raise UsageError(
                    "is checks accounts in the whole group: leave the mark out.", IS_FORM
                )
            return CheckMembers(group_id, split_accounts(words.rest()), public)
        if key == "mark":
            text = value or words.value("mark", "mark 1000", QUERY_FORM)
        elif _NUMBERISH_RE.fullmatch(word.text) and re.search("[0-9]", word.text):
            text = word.text
        elif key in _RULES:
            raise UsageError(
                f"To be alerted when the count goes {key} a value, use watch: "
                f"/online watch {group_id} {key} ...",
                WATCH_FORMS,
            )
        else:
            raise UsageError(f"I don't understand {_show(word.text)} after the group ID.")
        if mark is not None:
            raise UsageError("Give one mark only.")
        mark = _parse_mark(text, QUERY_FORM)
    return Query(group_id, mark, public)


_ACCOUNT_SEPARATORS_RE = re.compile(r"[\s,\uff0c\u3001]+")


def split_accounts(text: str) -> tuple[str, ...]:
    """Accounts separated by commas and/or spaces, each once, checked as Tencent would
    take them in one check_members call; raise :class:`UsageError` otherwise."""
    accounts = [_unquote(part) for part in _ACCOUNT_SEPARATORS_RE.split(text)]
    accounts = [account for account in accounts if account]
    if not accounts:
        raise UsageError("is needs the accounts to check after it, e.g. is alice,bob.", IS_FORM)
    try:
        return validate_accounts(accounts)
    except InvalidInput as error:
        raise UsageError(error.user_message, IS_FORM) from None


def _parse_watch(words: _Words) -> WatchThreshold | WatchDrop:
    first = words.next()
    if first is None:
        raise UsageError("watch needs a group ID and a rule.", WATCH_FORMS)
    if first.key in _RULES or first.key in ("for", "within", "recover", "mark", "repeat"):
        raise UsageError(
            f"Put the group ID right after watch, e.g. /online watch @TGS#a6I4ZUUGO "
            f"{first.key} ...",
            WATCH_FORMS,
        )
    group_id = validate_group_id(first.text, WATCH_FORMS)
    options = ("for", "within", "recover", "mark", "repeat")
    rule: str | None = None
    amount = 0
    seen: dict[str, int] = {}
    for word in words:
        key, value = _split_option(word, options)
        if key in _RULES:
            if rule is not None:
                raise UsageError(f"One rule per watch: {rule} or {key}, not both.", WATCH_FORMS)
            rule = key
            amount = _rule_amount(rule, word, words)
            continue
        if key not in options:
            guess = _closest(key, (*_RULES, *options))
            hint = f" Did you mean {_show(guess)}?" if guess else ""
            raise UsageError(
                f"I don't understand {_show(word.text)} in a watch.{hint}", WATCH_FORMS
            )
        if key in seen:
            raise UsageError(f"{key} is given twice; give it once.", WATCH_FORMS)
        usage = DROP_FORM if rule == "drop" else THRESHOLD_FORM if rule else WATCH_FORMS
        if value is not None:
            words.push(value, word.start)
        if key == "mark":
            seen[key] = _parse_mark(words.value("mark", "mark 1000", usage), usage)
        elif key == "recover":
            seen[key] = _parse_int(
                words.value("recover", "recover 12", usage), "recover", 0, MAX_THRESHOLD, usage
            )
        elif key == "for":
            seen[key] = _check_range(
                words.duration("for", "for 5m", usage), "for", FOR_RANGE, usage
            )
        elif key == "within":
            seen[key] = _check_range(
                words.duration("within", "within 10m", usage), "within", WITHIN_RANGE, usage
            )
        else:
            seen[key] = _check_range(
                words.duration("repeat", "repeat 1h", usage), "repeat", REPEAT_RANGE, usage
            )
    if rule is None:
        raise UsageError(
            f"Say when to alert about {group_id}: below <N>, above <N> or drop <P>%.", WATCH_FORMS
        )
    if rule == "drop":
        return _drop(group_id, amount, seen)
    return _threshold(group_id, rule, amount, seen)


def _rule_amount(rule: str, word: _Word, words: _Words) -> int:
    inline = _split_option(word, _RULES)[1]
    if rule == "drop":
        text = inline or words.value("drop", "drop 30%", DROP_FORM)
        nxt = words.peek()
        if nxt is not None and nxt.key in ("%", "percent", "pct"):
            words.next()
        try:
            return _parse_int(text.removesuffix("%"), "The drop", 1, 100, DROP_FORM, " percent")
        except UsageError:
            raise UsageError(
                f"The drop must be a whole percentage from 1% to 100%, not {_show(text)}.",
                DROP_FORM,
            ) from None
    text = inline or words.value(rule, f"{rule} 10", THRESHOLD_FORM)
    return _parse_int(text, f"The {rule} threshold", 0, MAX_THRESHOLD, THRESHOLD_FORM)


def _drop(group_id: str, percent: int, seen: dict[str, int]) -> WatchDrop:
    for wrong, right in (("for", "within"), ("recover", None)):
        if wrong in seen:
            instead = f"; use {right} for the window a drop is measured over" if right else ""
            raise UsageError(f"{wrong} goes with below/above rules, not drop{instead}.", DROP_FORM)
    return WatchDrop(
        group_id,
        percent,
        seen.get("within", DEFAULT_WITHIN_SECONDS),
        seen.get("mark"),
        seen.get("repeat"),
    )


def _threshold(group_id: str, rule: str, threshold: int, seen: dict[str, int]) -> WatchThreshold:
    if "within" in seen:
        raise UsageError(
            f"within goes with drop rules; a {rule} rule uses for (how long the count must "
            f"stay {rule} {threshold} before the alert).",
            THRESHOLD_FORM,
        )
    recover = seen.get("recover")
    if recover is not None:
        if rule == "below" and recover < threshold:
            raise UsageError(
                f"recover must be at least the threshold for a below rule: the alert fires "
                f"below {threshold:,} and clears once the count is back to {recover:,} or "
                f"more, so {recover:,} would clear it while still alerting. Use recover "
                f"{threshold:,} or higher.",
                THRESHOLD_FORM,
            )
        if rule == "above" and recover > threshold:
            raise UsageError(
                f"recover must be at most the threshold for an above rule: the alert fires "
                f"above {threshold:,} and clears once the count is back to {recover:,} or "
                f"less, so {recover:,} would clear it while still alerting. Use recover "
                f"{threshold:,} or lower.",
                THRESHOLD_FORM,
            )
    direction: Literal["below", "above"] = "below" if rule == "below" else "above"
    return WatchThreshold(
        group_id,
        direction,
        threshold,
        seen.get("for", 0),
        recover,
        seen.get("mark"),
        seen.get("repeat"),
    )


def _parse_watches(words: _Words) -> ListWatches:
    if words.peek() is not None:
        raise UsageError("watches takes nothing after it.", WATCHES_FORM)
    return ListWatches()


def _one_id(words: _Words, verb: str, usage: str) -> int:
    word = words.next()
    if word is None:
        raise UsageError(f"{verb} needs a watch ID (see /online watches).", usage)
    watch_id = _parse_watch_id(word.text, usage)
    if words.peek() is not None:
        raise UsageError(f"{verb} takes one watch ID, e.g. {verb} 12.", usage)
    return watch_id


def _parse_unwatch(words: _Words) -> Unwatch:
    return Unwatch(_one_id(words, "unwatch", UNWATCH_FORM))


def _parse_unmute(words: _Words) -> Unmute:
    return Unmute(_one_id(words, "unmute", UNMUTE_FORM))


def _parse_mute(words: _Words) -> Mute:
    word = words.next()
    if word is None:
        raise UsageError("mute needs a watch ID and a duration, e.g. mute 12 2h.", MUTE_FORM)
    watch_id = _parse_watch_id(word.text, MUTE_FORM)
    if words.peek() is None:
        raise UsageError("mute needs a duration after the watch ID, e.g. 2h or 1d.", MUTE_FORM)
    seconds = _check_range(
        words.duration("mute", "2h", MUTE_FORM), "A mute", MUTE_RANGE, MUTE_FORM, verb="last"
    )
    reason = words.rest() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise UsageError(
            f"Keep the reason under {MAX_REASON_CHARS} characters (it has {len(reason)}).",
            MUTE_FORM,
        )
    return Mute(watch_id, seconds, reason)


def _usage_of(keyword: str) -> str:
    return {
        "watch": WATCH_FORMS,
        "watches": WATCHES_FORM,
        "unwatch": UNWATCH_FORM,
        "mute": MUTE_FORM,
        "unmute": UNMUTE_FORM,
    }.get(keyword, QUERY_FORM)


_KEYWORD_PARSERS = {
    "watch": _parse_watch,
    "watches": _parse_watches,
    "unwatch": _parse_unwatch,
    "mute": _parse_mute,
    "unmute": _parse_unmute,
}
