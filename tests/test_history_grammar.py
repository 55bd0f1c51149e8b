"""The history form of /online: tables of what users type and what it means."""

from __future__ import annotations

import pytest
from support.usage import assert_refused

from bot.commands.grammar import Command, ShowHistory, UsageError, parse, parse_history_options

G = "@TGS#a6I4ZUUGO"
DAY = 86_400

VALID: list[tuple[str, Command]] = [
    (f"history {G}", ShowHistory(G, None, DAY, False)),
    (f"HISTORY {G}", ShowHistory(G)),
    (f"history {G} 1h", ShowHistory(G, seconds=3600)),
    (f"history {G} 6h", ShowHistory(G, seconds=6 * 3600)),
    (f"history {G} 24h", ShowHistory(G, seconds=DAY)),
    (f"history {G} 7d", ShowHistory(G, seconds=7 * DAY)),
    (f"history {G} 1w", ShowHistory(G, seconds=7 * DAY)),
    (f"history {G} 90 min", ShowHistory(G, seconds=5400)),
    (f"history {G} 1h30m", ShowHistory(G, seconds=5400)),
    (f"history {G} 1h 30m", ShowHistory(G, seconds=5400)),
    (f"history {G} 5m", ShowHistory(G, seconds=300)),
    (f"history {G} 31d", ShowHistory(G, seconds=31 * DAY)),
    (f"history {G} mark 1000", ShowHistory(G, mark=1000)),
    (f"history {G} mark=1000 7d", ShowHistory(G, 1000, 7 * DAY)),
    (f"history {G} 7d mark:7 public", ShowHistory(G, 7, 7 * DAY, True)),
    (f"history {G} public 6h", ShowHistory(G, seconds=6 * 3600, public=True)),
    (f"history {G} share", ShowHistory(G, public=True)),
    (f"history `{G}` 24h", ShowHistory(G)),
    (f"history {G} \u200b6h", ShowHistory(G, seconds=6 * 3600)),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid(text, expected):
    assert parse(text) == expected


REFUSED = [
    ("history", "history needs a group ID"),
    ("history 24h", "Put the group ID right after history"),
    ("history mark 1000", "Put the group ID right after history"),
    ("history public", "Put the group ID right after history"),
    (f"history {G} 24", '"24" needs a unit for a range (24h, 24d), or the word mark'),
    (f"history {G} 1000", "mark 1000"),
    (f"history {G} 4m", "The range must be from 5m to 31d, not 4m."),
    (f"history {G} 32d", "The range must be from 5m to 31d, not 32d."),
    (f"history {G} 1.5h", "write 90m rather than 1.5h"),
    (f"history {G} 3x", 'unknown unit "x"'),
    (f"history {G} 30d 2d", "The range must be from 5m to 31d, not 32d."),  # one range
    (f"history {G} 6h mark 1 7d", "Give one range only"),
    (f"history {G} mark 1 mark 2", "Give one mark only."),
    (f"history {G} mark", "mark needs a value after it"),
    (f"history {G} mark abc", "The mark must be a whole number"),
    (f"history {G} pubic", 'Did you mean "public"?'),
    (f"history {G} below 10", 'I don\'t understand "below" in history.'),
    ("history bad\u0001id", "Group IDs are printable ASCII"),
    (f"histroy {G}", 'Did you mean "history"?'),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSED)
def test_refused(text, fragment):
    assert_refused(text, fragment)


def test_refusals_show_the_history_form():
    with pytest.raises(Exception) as caught:
        parse(f"history {G} 3x")
    assert "/online history <groupId> [mark <K>] [1h|6h|24h|7d|<duration>] [public]" in str(
        caught.value
    )


def test_the_usage_text_lists_history():
    from bot.commands.grammar import USAGE

    assert "/online history <groupId> [24h]" in USAGE


# -- the command line's options (online-bot history GROUP_ID --range --tz) -----------------


@pytest.mark.parametrize(
    ("range_text", "zone_name", "seconds", "zone"),
    [
        ("24h", None, DAY, None),
        ("1h30m", "Europe/Paris", 5400, "Europe/Paris"),
        ("5m", "UTC", 300, "UTC"),
        ("31d", "Etc/UTC", 31 * DAY, "UTC"),  # another name of UTC, shown as UTC
    ],
)
def test_history_options(range_text, zone_name, seconds, zone):
    got_seconds, got_zone = parse_history_options(G, range_text, zone_name)
    assert got_seconds == seconds
    assert (got_zone.key if got_zone is not None else None) == zone


@pytest.mark.parametrize(
    ("group_id", "range_text", "zone_name", "problem"),
    [
        ("bad\u00e9id", "24h", None, "printable ASCII"),
        (G, "2y", None, '--range 2y: "2y" has an unknown unit "y"'),
        (G, "1m", None, "--range 1m: The range must be from 5m to 31d"),
        (G, "24h", "Mars/Base", "--tz Mars/Base is not a time zone: give an IANA name"),
        ("bad\u00e9id", "2y", "Mars/Base", "printable ASCII"),  # the group first, then --range
        (G, "2y", "Mars/Base", "--range 2y"),
    ],
)
def test_history_options_refused(group_id, range_text, zone_name, problem):
    with pytest.raises(UsageError) as refused:
        parse_history_options(group_id, range_text, zone_name)
    assert problem in refused.value.problem
