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
    history <groupId> [mark <K>] [<range>] [public]
                                                ShowHistory
    digest [HH:MM [timezone] | off]             ShowDigest, SetDigest, DigestOff
    watches                                     ListWatches
    unwatch <id>                                Unwatch
    mute <id> <duration> [reason...]            Mute
    unmute <id>                                 Unmute

The App Home's lookup form asks the query in two fields: :func:`parse_lookup`
(FormError names each field that is wrong).

Keywords are case-insensitive, group IDs are not. Options after the group ID may
come in any order and as ``mark 1000``, ``mark=1000`` or ``mark:1000``. Anything
else raises :class:`UsageError`, whose ``str()`` says what was wrong and shows
the right form. Pure code: no I/O, nothing read from the environment.

This module is the one entry point, :func:`parse`, and it names the public words
of the grammar. The parts live beside it: ``words`` (Slack's text into words, and
the values every form shares), ``query`` and ``watch`` (the forms), ``durations``,
``history``, ``values`` (the command types) and ``usage`` (the forms and help texts).
"""

from __future__ import annotations

from bot.commands.digest import parse_digest
from bot.commands.durations import format_duration, parse_duration
from bot.commands.history import parse_history, parse_history_options
from bot.commands.query import PUBLIC_WORDS, FormError, parse_lookup, parse_query, split_accounts
from bot.commands.usage import (
    DIGEST_FORM,
    HISTORY_FORM,
    MUTE_FORM,
    QUERY_FORM,
    UNMUTE_FORM,
    UNWATCH_FORM,
    USAGE,
    WATCH_FORMS,
    WATCH_USAGE,
    WATCHES_FORM,
    UsageError,
)
from bot.commands.values import (
    DEFAULT_WITHIN_SECONDS,
    MAX_REASON_CHARS,
    MAX_THRESHOLD,
    MAX_WATCH_ID,
    CheckMembers,
    Command,
    DigestOff,
    Help,
    ListWatches,
    Mute,
    Query,
    SetDigest,
    ShowDigest,
    ShowHistory,
    Unmute,
    Unwatch,
    WatchDrop,
    WatchThreshold,
)
from bot.commands.watch import KEYWORD_PARSERS
from bot.commands.words import Words, closest, normalise, split_option
from bot.tencent.validation import MAX_CHECK_ACCOUNTS, MAX_GROUP_ID_BYTES, MAX_MARK, quote

__all__ = [
    "DEFAULT_WITHIN_SECONDS",
    "MAX_CHECK_ACCOUNTS",
    "MAX_GROUP_ID_BYTES",
    "MAX_MARK",
    "MAX_REASON_CHARS",
    "MAX_THRESHOLD",
    "MAX_WATCH_ID",
    "USAGE",
    "WATCH_USAGE",
    "CheckMembers",
    "Command",
    "DigestOff",
    "FormError",
    "Help",
    "ListWatches",
    "Mute",
    "Query",
    "SetDigest",
    "ShowDigest",
    "ShowHistory",
    "Unmute",
    "Unwatch",
    "UsageError",
    "WatchDrop",
    "WatchThreshold",
    "format_duration",
    "parse",
    "parse_duration",
    "parse_history_options",
    "parse_lookup",
    "split_accounts",
]

_HELP_WORDS = ("help", "?", "-h", "--help")
_WATCH_TOPICS = ("watch", "watches", "unwatch", "mute", "unmute", "alert", "alerts", "drop")
_KEYWORDS = ("help", "watch", "watches", "unwatch", "mute", "unmute", "history", "digest")
#: Each keyword's parser, given the words after the keyword.
_PARSERS = {**KEYWORD_PARSERS, "history": parse_history, "digest": parse_digest}


def parse(text: str) -> Command:
    """Parse the text after ``/online``; raise :class:`UsageError` if it is not a command."""
    words = Words(normalise(text))
    first = words.peek()
    if first is None:
        return Help()
    key = first.key
    if key in _HELP_WORDS:
        words.next()
        topic = words.next()
        return Help("watch" if topic is not None and topic.key in _WATCH_TOPICS else None)
    if key in _PARSERS:
        words.next()
        return _PARSERS[key](words)
    return _query(words)


def _query(words: Words) -> Query | CheckMembers:
    first = words.next()
    assert first is not None
    if split_option(first, ("mark",))[0] in ("mark", *PUBLIC_WORDS):
        raise UsageError(f"Put the group ID first, before {quote(first.text)}.")
    typo = closest(first.key, _KEYWORDS)
    try:
        return parse_query(first, words)
    except UsageError as exc:
        if typo is None:
            raise
        raise UsageError(f"{exc.problem} Did you mean {quote(typo)}?", _usage_of(typo)) from None


def _usage_of(keyword: str) -> str:
    return {
        "watch": WATCH_FORMS,
        "watches": WATCHES_FORM,
        "unwatch": UNWATCH_FORM,
        "mute": MUTE_FORM,
        "unmute": UNMUTE_FORM,
        "history": HISTORY_FORM,
        "digest": DIGEST_FORM,
    }.get(keyword, QUERY_FORM)
