"""The words of ``/online``: Slack's text normalised, split into words, and the values
every form shares (numbers, marks, group IDs), read with errors that say how to fix
them. Used by the query and watch grammars. Pure code.

The text is taken as Slack sends it: ``&amp;``/``&lt;``/``&gt;`` are decoded,
Slack's own ``<url|label>`` markup is reduced to its label, zero-width
characters are dropped, and curly quotes or backticks around a word are removed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.commands.durations import (
    MAX_DIGITS,
    MAX_DURATION_WORDS,
    looks_like_duration,
    parse_duration,
)
from bot.commands.usage import QUERY_FORM, UsageError
from bot.tencent.errors import InvalidInput
from bot.tencent.validation import MAX_MARK, quote, validate_group_id

__all__ = [
    "NUMBERISH_RE",
    "RULE_WORDS",
    "Word",
    "Words",
    "closest",
    "normalise",
    "parse_group_id",
    "parse_int",
    "parse_mark",
    "parse_watch_id",
    "split_option",
    "unquote",
]

_INT_RE = re.compile(r"[0-9]+(?:[,_][0-9]{3})*", re.ASCII)
#: The rules a watch takes (after a group ID in a query they mean "use watch").
RULE_WORDS = ("below", "above", "drop")
#: What a user means as a number (a mark), even if it is not a valid one.
NUMBERISH_RE = re.compile(r"[-+\u2212]?[0-9.,_eE%]+", re.ASCII)

_SLACK_MARKUP_RE = re.compile(r"<([^<>]*)>")
_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
#: Full-width % = # @ and space, as East Asian input methods type them.
_FULLWIDTH = str.maketrans("\uff05\uff1d\uff03\uff20\u3000", "%=#@ ")
#: Curly and angle quotes: never part of a group ID, stripped from either end of a word.
_CURLY = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2018\u2019\u201a\u201b\u2039\u203a"
_STRAIGHT = "\"'`"


def parse_group_id(text: str, usage: str = QUERY_FORM) -> str:
    """``text`` if it is a group ID Tencent could accept (the one rule:
    :func:`bot.tencent.validation.validate_group_id`), else UsageError saying why."""
    try:
        return validate_group_id(text)
    except InvalidInput as error:
        raise UsageError(error.user_message, usage) from None


def parse_int(text: str, what: str, lo: int, hi: int, usage: str, note: str = "") -> int:
    """A whole number in ``lo..hi`` (``1,000`` and ``1_000`` allowed) or UsageError."""
    digits = text.replace(",", "").replace("_", "")
    if _INT_RE.fullmatch(text) and len(digits) <= MAX_DIGITS and lo <= int(digits) <= hi:
        return int(digits)
    raise UsageError(
        f"{what} must be a whole number from {lo:,} to {hi:,}{note}, not {quote(text)}.", usage
    )


def parse_mark(text: str, usage: str) -> int:
    return parse_int(
        text, "The mark", 0, MAX_MARK, usage, " (Tencent marks are usually 1000 or more)"
    )


def parse_watch_id(text: str, max_id: int, usage: str) -> int:
    """``12`` or ``#12``, from 1 to ``max_id``, or UsageError."""
    value = text.removeprefix("#")
    digits = len(str(max_id))
    if _INT_RE.fullmatch(value) and len(value) <= digits and 1 <= int(value) <= max_id:
        return int(value)
    raise UsageError(
        f"Watch IDs are whole numbers like 12 (see /online watches), not {quote(text)}.", usage
    )


def _slack_markup(match: re.Match[str]) -> str:
    inner = match.group(1)
    if "|" in inner:
        return inner.rsplit("|", 1)[1]
    inner = inner.removeprefix("mailto:")
    return "@" + inner[1:] if inner.startswith("!") else inner


def normalise(text: str) -> str:
    """Slack's text as the user typed it: entities decoded, markup reduced, invisibles gone."""
    # A raw "<" can only be Slack's own markup: what users type arrives as "&lt;".
    text = _SLACK_MARKUP_RE.sub(_slack_markup, text)
    text = _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(1)], text)
    return text.translate(_INVISIBLE).translate(_FULLWIDTH)


def unquote(word: str) -> str:
    word = word.strip(_CURLY)
    if len(word) >= 2 and (
        (word[0] == word[-1] and word[0] in _STRAIGHT) or (word[0], word[-1]) == ("<", ">")
    ):
        word = word[1:-1]  # "x", 'x', `x`, and <x> copied from the usage text
    return word


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # unquoted
    start: int  # offset in the normalised text, for "the rest of the line"

    @property
    def key(self) -> str:
        return self.text.lower()


class Words:
    """A cursor over the words of the normalised text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._words = [Word(unquote(m.group()), m.start()) for m in re.finditer(r"\S+", text)]
        self._i = 0

    def peek(self) -> Word | None:
        return self._words[self._i] if self._i < len(self._words) else None

    def next(self) -> Word | None:
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
        self._words.insert(self._i, Word(text, start))

    def __iter__(self) -> Iterator[Word]:
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
            len(parts) < MAX_DURATION_WORDS
            and (nxt := self.peek()) is not None
            and looks_like_duration(" ".join([*parts, nxt.text]).lower())
        ):
            parts.append(nxt.text)
            self.next()
        try:
            return parse_duration(" ".join(parts))
        except UsageError as exc:
            raise UsageError(exc.problem, usage) from None


def split_option(word: Word, options: tuple[str, ...]) -> tuple[str, str | None]:
    """``mark=1000`` → ``("mark", "1000")``; ``mark`` → ``("mark", None)``; else ``(key, None)``."""
    for sep in ("=", ":"):
        head, found, tail = word.text.partition(sep)
        if found and head.lower() in options:
            return head.lower(), tail or None
    return word.key, None


def closest(word: str, choices: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return found[0] if found else None
