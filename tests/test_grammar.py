"""The /online grammar's entry point: help, the usage texts, and any text at all
parsing into a command or a UsageError. The forms have their own tables:
test_query.py, test_watch_grammar.py, test_durations.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.grammar import (
    USAGE,
    WATCH_USAGE,
    CheckMembers,
    Command,
    Help,
    ListWatches,
    Mute,
    Query,
    Unmute,
    Unwatch,
    UsageError,
    WatchDrop,
    WatchThreshold,
    parse,
)

G = "@TGS#a6I4ZUUGO"

VALID: list[tuple[str, Command]] = [
    # help
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("HELP", Help()),
    ("?", Help()),
    ("--help", Help()),
    ("help watch", Help("watch")),
    ("Help  WATCH", Help("watch")),
    ("help mute", Help("watch")),
    ("help nonsense", Help()),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t) for t, _ in VALID])
def test_valid(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_usage_error_is_a_value_error() -> None:
    assert issubclass(UsageError, ValueError)


def test_usage_texts_show_the_forms() -> None:
    assert "/online <groupId> [mark] [public]" in USAGE
    assert "/online <groupId> is <account>" in USAGE
    assert "help watch" in USAGE
    for form in ("below|above <N>", "drop <P>%", "unwatch <id>", "mute <id>", "unmute <id>"):
        assert form in WATCH_USAGE
    for text in (USAGE, WATCH_USAGE):
        assert "```" not in text
        assert all(len(line) <= 100 for line in text.splitlines())


def test_usage_examples_parse() -> None:
    examples = [
        line.strip().split("   ")[0]
        for line in (USAGE + "\n" + WATCH_USAGE).splitlines()
        if line.startswith("  /online ")
    ]
    assert len(examples) >= 5
    for example in examples:
        parse(example.removeprefix("/online "))


# --------------------------------------------------------------------------- properties

COMMAND_TYPES = (
    Help,
    Query,
    CheckMembers,
    WatchThreshold,
    WatchDrop,
    ListWatches,
    Unwatch,
    Mute,
    Unmute,
)

_GRAMMAR_WORDS = """
    help ? watch watches unwatch mute unmute below above drop for within recover mark repeat
    public share is alice,bob = : % mark=1000 for=5m 0 1 10 30% 100 1000 -1 1.5 4294967296
    99999999999999999999 5m 1h30m 30s 7d 31d 1h 30 #3 g1 &amp; &lt; < > <x|y> ` "
"""
WORDS = st.sampled_from(
    [
        *_GRAMMAR_WORDS.split(),
        *["\u201c", "\u2019", "\u00e9", "\u200b", "\uff05", "\u0663", "\u00b2", "", G],
    ]
)


def _check(text: str) -> None:
    try:
        command = parse(text)
    except UsageError as exc:
        assert str(exc)
        assert exc.problem
    else:
        assert isinstance(command, COMMAND_TYPES)
        assert isinstance(command, Command)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_usage_error(text: str) -> None:
    _check(text)


@settings(max_examples=1000, deadline=None)
@given(st.lists(WORDS | st.text(max_size=8), max_size=12))
def test_any_grammar_words_parse_or_raise_usage_error(words: list[str]) -> None:
    _check(" ".join(words))


def test_commands_are_frozen() -> None:
    query = Query(G)
    with pytest.raises(AttributeError):
        query.group_id = "x"  # type: ignore[misc]
