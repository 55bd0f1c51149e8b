"""The watch forms of /online (watch, watches, unwatch, mute, unmute): tables of what
users type and what it means."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.usage import assert_refused

from bot.commands.grammar import (
    DEFAULT_WITHIN_SECONDS,
    Command,
    ListWatches,
    Mute,
    Unmute,
    Unwatch,
    UsageError,
    WatchDrop,
    WatchThreshold,
    parse,
)

G = "@TGS#a6I4ZUUGO"

VALID: list[tuple[str, Command]] = [
    # watch: below / above
    (f"watch {G} below 10", WatchThreshold(G, "below", 10)),
    (f"WATCH {G} Below 10", WatchThreshold(G, "below", 10)),
    (f"watch {G} above 5000", WatchThreshold(G, "above", 5000)),
    (f"watch {G} below 0", WatchThreshold(G, "below", 0)),
    (f"watch {G} above 1000000", WatchThreshold(G, "above", 1_000_000)),
    (
        f"watch {G} below 10 for 5m recover 12 mark 1000 repeat 1h",
        WatchThreshold(G, "below", 10, 300, 12, 1000, 3600),
    ),
    (
        f"watch {G} below 10 repeat=2h mark=1000 recover=10 for=30s",
        WatchThreshold(G, "below", 10, 30, 10, 1000, 7200),
    ),
    (f"watch {G} mark 7 above 9", WatchThreshold(G, "above", 9, mark=7)),
    (f"watch {G} above 100 recover 80", WatchThreshold(G, "above", 100, recover=80)),
    (f"watch {G} above 100 recover 100", WatchThreshold(G, "above", 100, recover=100)),
    (f"watch {G} below 10 for 0", WatchThreshold(G, "below", 10)),
    (f"watch {G} below 10 for 24h", WatchThreshold(G, "below", 10, 86400)),
    (f"watch {G} below 10 for 1h30m", WatchThreshold(G, "below", 10, 5400)),
    (f"watch {G} below 10 for 1h 30m", WatchThreshold(G, "below", 10, 5400)),
    (f"watch {G} below 10 for 90 min", WatchThreshold(G, "below", 10, 5400)),
    (f"watch {G} below 10 repeat 5m", WatchThreshold(G, "below", 10, repeat_seconds=300)),
    (f"watch {G} below 10 repeat 7d", WatchThreshold(G, "below", 10, repeat_seconds=604800)),
    (f"watch {G} below 10 repeat 1w", WatchThreshold(G, "below", 10, repeat_seconds=604800)),
    # watch: drop
    (f"watch {G} drop 30%", WatchDrop(G, 30)),
    (f"watch {G} drop 30", WatchDrop(G, 30)),
    (f"watch {G} drop 30 %", WatchDrop(G, 30)),
    (f"watch {G} drop 30 percent", WatchDrop(G, 30)),
    (f"watch {G} drop 30\uff05", WatchDrop(G, 30)),
    (f"watch {G} DROP 1%", WatchDrop(G, 1)),
    (f"watch {G} drop 100%", WatchDrop(G, 100)),
    (f"watch {G} drop 30% within 10m", WatchDrop(G, 30, 600)),
    (f"watch {G} drop 30% within 1m", WatchDrop(G, 30, 60)),
    (f"watch {G} drop 30% within 24h", WatchDrop(G, 30, 86400)),
    (
        f"watch {G} drop 50% within 2h mark 1000 repeat 1d",
        WatchDrop(G, 50, 7200, 1000, 86400),
    ),
    # managing watches
    ("watches", ListWatches()),
    ("WATCHES", ListWatches()),
    ("unwatch 12", Unwatch(12)),
    ("unwatch #12", Unwatch(12)),
    ("unmute 3", Unmute(3)),
    ("mute 3 2h", Mute(3, 7200)),
    ("mute 3 1m", Mute(3, 60)),
    ("mute 3 30d", Mute(3, 30 * 86400)),
    ("mute #3 1h30m deploy", Mute(3, 5400, "deploy")),
    ("mute 3 2h maintenance &amp; upgrade", Mute(3, 7200, "maintenance & upgrade")),
    ("mute 3 1h 30m  back   at 5", Mute(3, 5400, "back   at 5")),
    ("mute 3 2 hours \u201cplanned\u201d", Mute(3, 7200, "\u201cplanned\u201d")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t) for t, _ in VALID])
def test_valid(text: str, expected: Command) -> None:
    assert parse(text) == expected


INVALID: list[tuple[str, str]] = [
    # watch: structure
    ("watch", "needs a group ID and a rule"),
    (f"watch {G}", "below <N>, above <N> or drop <P>%"),
    ("watch below 10", "group ID right after watch"),
    (f"watch {G} beloww 10", 'Did you mean "below"?'),
    (f"watch {G} sideways 10", "don't understand"),
    (f"watch {G} below", "below needs a value"),
    (f"watch {G} below 10 above 20", "One rule per watch"),
    (f"watch {G} below 10 mark 1 mark 2", "mark is given twice"),
    (f"watch {G} below 10 for 5m for 6m", "for is given twice"),
    ("watch \u00e9 below 10", "printable ASCII"),
    # watch: values
    (f"watch {G} below -1", "from 0 to 1,000,000"),
    (f"watch {G} below 1000001", "from 0 to 1,000,000"),
    (f"watch {G} above 2.5", "whole number"),
    (f"watch {G} below 10 recover 5", "recover must be at least the threshold"),
    (f"watch {G} above 10 recover 11", "recover must be at most the threshold"),
    (f"watch {G} below 10 recover 2000000", "from 0 to 1,000,000"),
    (f"watch {G} below 10 for 25h", "for must be from 0s to 1d"),
    (f"watch {G} below 10 for 5", "needs a unit"),
    (f"watch {G} below 10 for 1.5h", "whole numbers"),
    (f"watch {G} below 10 for 5y", 'unknown unit "y"'),
    (f"watch {G} below 10 for 5 parsecs", "unknown unit"),
    (f"watch {G} below 10 for", "for needs a value"),
    (f"watch {G} below 10 repeat 4m", "repeat must be from 5m to 7d"),
    (f"watch {G} below 10 repeat 8d", "repeat must be from 5m to 7d"),
    (f"watch {G} below 10 within 5m", "within goes with drop rules"),
    (f"watch {G} drop 0%", "from 1% to 100%"),
    (f"watch {G} drop 101%", "from 1% to 100%"),
    (f"watch {G} drop -5%", "from 1% to 100%"),
    (f"watch {G} drop 12.5%", "from 1% to 100%"),
    (f"watch {G} drop 30% within 30s", "within must be from 1m to 1d"),
    (f"watch {G} drop 30% within 2d", "within must be from 1m to 1d"),
    (f"watch {G} drop 30% for 5m", "for goes with below/above rules"),
    (f"watch {G} drop 30% recover 5", "recover goes with below/above rules"),
    # managing watches
    ("watches all", "watches takes nothing"),
    ("unwatch", "needs a watch ID"),
    ("unwatch abc", "Watch IDs are whole numbers"),
    ("unwatch 0", "Watch IDs are whole numbers"),
    ("unwatch -3", "Watch IDs are whole numbers"),
    ("unwatch 1 2", "one watch ID"),
    ("unmute", "needs a watch ID"),
    ("unmute 99999999999999999999", "Watch IDs are whole numbers"),
    ("unmute 2147483648", "Watch IDs are whole numbers"),  # past INTEGER: no such row
    ("unwatch 9223372036854775807", "Watch IDs are whole numbers"),
    ("mute 2147483648 2h", "Watch IDs are whole numbers"),
    ("mute", "needs a watch ID and a duration"),
    ("mute 3", "needs a duration"),
    ("mute x 2h", "Watch IDs are whole numbers"),
    ("mute 3 soon", "not a duration"),
    ("mute 3 30s", "mute must last from 1m to 30d"),
    ("mute 3 31d", "mute must last from 1m to 30d"),
    ("mute 3 2h " + "x" * 301, "under 300 characters"),
]


@pytest.mark.parametrize(("text", "fragment"), INVALID, ids=[repr(t)[:60] for t, _ in INVALID])
def test_invalid(text: str, fragment: str) -> None:
    assert_refused(text, fragment)


def test_hysteresis_message_explains_itself() -> None:
    with pytest.raises(UsageError, match="clears once the count is back to 5") as caught:
        parse(f"watch {G} below 10 recover 5")
    assert "Use recover 10 or higher" in str(caught.value)


@given(st.integers(min_value=0, max_value=1_000_000), st.integers(min_value=0, max_value=10**6))
def test_recover_on_the_right_side_only(threshold: int, recover: int) -> None:
    text = f"watch {G} below {threshold} recover {recover}"
    if recover >= threshold:
        assert parse(text) == WatchThreshold(G, "below", threshold, recover=recover)
    else:
        with pytest.raises(UsageError, match="recover must be at least"):
            parse(text)


def test_defaults() -> None:
    drop = parse(f"watch {G} drop 10%")
    assert isinstance(drop, WatchDrop)
    assert drop.within_seconds == DEFAULT_WITHIN_SECONDS == 300
    assert drop.mark is None and drop.repeat_seconds is None
    rule = parse(f"watch {G} above 1")
    assert isinstance(rule, WatchThreshold)
    assert (rule.for_seconds, rule.recover, rule.mark, rule.repeat_seconds) == (0, None, None, None)
