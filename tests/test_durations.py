"""Durations: what users type (30s, 5m, 1h30m) and how the bot writes them back."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import durations, grammar
from bot.commands.durations import MINUTE, format_age, format_ago, format_span
from bot.commands.grammar import UsageError, format_duration, parse_duration

DURATIONS = [
    ("0", 0),
    ("30s", 30),
    ("5m", 300),
    ("2h", 7200),
    ("1d", 86400),
    ("90m", 5400),
    ("1h30m", 5400),
    ("1h 30m", 5400),
    ("1H30M", 5400),
    ("2 hours", 7200),
    ("10 min", 600),
    ("1w", 604800),
    ("1d 2h 3m 4s", 93784),
]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "missing"),
        ("30", "needs a unit"),
        ("1.5h", "whole numbers"),
        ("5y", "unknown unit"),
        ("h", "not a duration"),
        ("-5m", "not a duration"),
        ("9" * 40 + "s", "far too long"),
    ],
)
def test_parse_duration_rejects(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (300, "5m"), (5400, "1h 30m"), (86400, "1d"), (93784, "1d 2h 3m 4s")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


# --------------------------------------------------------------------------- for people


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (45.9, "45s"),
        (60, "1m"),
        (3599, "59m"),
        (3661, "1h 1m"),
        (86399, "23h 59m"),
        (86400 + 3 * 3600 + 59 * 60, "1d 3h"),
        (2 * 86400 + 59, "2d"),
    ],
)
def test_format_span_keeps_the_units_that_matter(seconds: float, text: str) -> None:
    assert format_span(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "unit", "text"),
    [
        (-3, None, "just now"),
        (0.5, None, "just now"),
        (1, None, "1s ago"),
        (3661, None, "1h 1m ago"),
        (90061, None, "1d 1h ago"),
        (59.9, MINUTE, "just now"),
        (60, MINUTE, "1m ago"),
        (90061, MINUTE, "1d 1h 1m ago"),
    ],
)
def test_format_ago(seconds: float, unit: int | None, text: str) -> None:
    assert format_ago(seconds, unit) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 min"),
        (300, "5 min"),
        (3599, "59 min"),
        (3600, "1 h"),
        (86399, "23 h"),
        (86400, "1 d"),
    ],
)
def test_format_age_is_one_unit_in_words(seconds: int, text: str) -> None:
    assert format_age(seconds) == text


def test_the_grammar_names_the_same_durations() -> None:
    assert grammar.parse_duration is durations.parse_duration
    assert grammar.format_duration is durations.format_duration


def test_the_rule_engine_and_the_renderers_take_durations_without_the_parser() -> None:
    code = (
        "import sys, bot.alerts.rules, bot.render.alerts, bot.render.members; "
        "print(sorted(m for m in sys.modules if m.startswith('bot.commands.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "bot.commands.durations" in loaded
    for parser in ("grammar", "words", "query", "watch"):
        assert f"bot.commands.{parser}'" not in loaded
