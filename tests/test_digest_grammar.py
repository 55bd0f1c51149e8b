"""``/online digest``'s grammar (bot/commands/digest.py, through the one parser)."""

from __future__ import annotations

import pytest

from bot.commands.grammar import DigestOff, SetDigest, ShowDigest, UsageError, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digest", ShowDigest()),
        ("DIGEST off", DigestOff()),
        ("digest 9:00", SetDigest(9, 0, None)),
        ("digest 09:30 Europe/Paris", SetDigest(9, 30, "Europe/Paris")),
        ("digest 21:05 america/new_york", SetDigest(21, 5, "America/New_York")),
        ("digest 00:00 UTC", SetDigest(0, 0, "UTC")),
        ("digest 7h15", SetDigest(7, 15, None)),
    ],
)
def test_valid_digest_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("digest 25:00", 'not "25:00"'),
        ("digest 9:60", "00:00 to 23:59"),
        ("digest 9pm", "21:00, not 9pm"),
        ("digest nine", 'not "nine"'),
        ("digest 09:00 Europe/Pariss", 'Did you mean "Europe/Paris"?'),
        ("digest 09:00 Mars/Olympus", "IANA name such as Europe/Paris"),
        ("digest 09:00 UTC extra", 'I don\'t understand "extra"'),
        ("digest off now", 'I don\'t understand "now"'),
    ],
)
def test_invalid_digest_commands_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert says in str(caught.value)
    assert "/online digest HH:MM [timezone]" in str(caught.value)


def test_an_unknown_zone_says_what_to_do() -> None:
    with pytest.raises(UsageError) as caught:
        parse("digest 09:00 Nowhere/Atall")
    assert "leave it out to use your Slack time zone" in caught.value.problem


def test_help_mentions_the_digest() -> None:
    from bot.commands.grammar import USAGE, WATCH_USAGE

    assert "/online digest HH:MM [timezone]" in USAGE
    assert "digest off" in WATCH_USAGE
