"""The /online grammar: tables of what users type and what it means."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.grammar import (
    DEFAULT_WITHIN_SECONDS,
    MAX_MARK,
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
    format_duration,
    parse,
    parse_duration,
)

G = "@TGS#a6I4ZUUGO"
U500 = tuple(f"u{i}" for i in range(500))

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
    # queries
    (G, Query(G)),
    (f"  {G}  ", Query(G)),
    (f"{G} 1000", Query(G, 1000)),
    (f"{G} 0", Query(G, 0)),
    (f"{G} {MAX_MARK}", Query(G, MAX_MARK)),
    (f"{G} 1,000", Query(G, 1000)),
    (f"{G} mark 1000", Query(G, 1000)),
    (f"{G} MARK 1000", Query(G, 1000)),
    (f"{G} mark=1000", Query(G, 1000)),
    (f"{G} mark = 1000", Query(G, 1000)),
    (f"{G} mark:1000", Query(G, 1000)),
    (f"{G} public", Query(G, None, True)),
    (f"{G} share", Query(G, None, True)),
    (f"{G} 1000 public", Query(G, 1000, True)),
    (f"{G} Public mark=1000", Query(G, 1000, True)),
    (f"{G}\t1000\u00a0PUBLIC", Query(G, 1000, True)),
    ("group_1-a", Query("group_1-a")),
    ("CaseMatters", Query("CaseMatters")),
    ("a" * 48, Query("a" * 48)),
    ("!\"#$%&'()*+,-./:;=?@[\\]^_{|}~", Query("!\"#$%&'()*+,-./:;=?@[\\]^_{|}~")),
    # as Slack sends it: quotes, entities, markup, invisible characters
    (f"\u201c{G}\u201d", Query(G)),
    (f"\u2018{G}\u2019 1000", Query(G, 1000)),
    (f'"{G}"', Query(G)),
    (f"`{G}` 1000", Query(G, 1000)),
    ("a&amp;b", Query("a&b")),
    ("&lt;abc&gt;", Query("abc")),
    ("a&amp;lt;b", Query("a&lt;b")),
    ("<mailto:x@y.z|x@y.z>", Query("x@y.z")),
    (f"\u200b{G}\u200b 1000", Query(G, 1000)),
    ("\uff20TGS\uff03abc", Query("@TGS#abc")),
    # is: are these accounts in the group now
    (f"{G} is alice", CheckMembers(G, ("alice",))),
    (f"{G} IS alice,bob", CheckMembers(G, ("alice", "bob"))),
    (f"{G} is alice, bob  carol", CheckMembers(G, ("alice", "bob", "carol"))),
    (f"{G} is alice,,bob,", CheckMembers(G, ("alice", "bob"))),
    (f"{G} is bob,alice,bob", CheckMembers(G, ("bob", "alice"))),
    (f"{G} is \u201calice\u201d,`bob`", CheckMembers(G, ("alice", "bob"))),
    (f"{G} is alice\uff0cbob\u3001carol", CheckMembers(G, ("alice", "bob", "carol"))),
    (f"{G} is a&amp;b,&lt;c&gt;", CheckMembers(G, ("a&b", "c"))),
    (f"{G} is public", CheckMembers(G, ("public",))),
    (f"{G} public is alice", CheckMembers(G, ("alice",), True)),
    (f"{G} is {'x' * 32}", CheckMembers(G, ("x" * 32,))),
    (f"{G} is {','.join(U500)}", CheckMembers(G, U500)),
    (f"{G} is 用户甲", CheckMembers(G, ("用户甲",))),
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
    # group IDs
    ("a" * 49, "at most 48 characters"),
    ("组1", "printable ASCII"),
    ("caf\u00e9", "printable ASCII"),
    ('""', "group ID is empty"),
    ("mark 1000", "group ID first"),
    ("public", "group ID first"),
    # marks
    (f"{G} -5", "whole number from 0 to 4,294,967,295"),
    (f"{G} 1.5", "whole number from 0"),
    (f"{G} 4294967296", "whole number from 0"),
    (f"{G} 99999999999999999999999999", "whole number from 0"),
    (f"{G} 1e3", "whole number from 0"),
    (f"{G} mark abc", "whole number from 0"),
    (f"{G} mark", "mark needs a value"),
    (f"{G} mark=", "mark needs a value"),
    (f"{G} 1000 2000", "one mark only"),
    (f"{G} \u0663", "understand"),  # an Arabic-Indic digit is not a mark
    (f"{G} foo", 'I don\'t understand "foo"'),
    (f"{G} below 10", "use watch"),
    # is
    (f"{G} is", "is needs the accounts"),
    (f"{G} is , ,", "is needs the accounts"),
    (f"{G} 1000 is alice", "leave the mark out"),
    (f"{G} is {','.join(f'u{i}' for i in range(501))}", "at most 500 accounts at a time; 501"),
    (f"{G} is {'x' * 33}", "1 to 32 bytes"),
    (f"{G} is {'用' * 11}", "1 to 32 bytes"),
    ("wacth g1 below 10", 'Did you mean "watch"?'),
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
    with pytest.raises(UsageError) as caught:
        parse(text)
    message = str(caught.value)
    assert fragment in message
    assert "Usage: /online" in message  # says what the right form is
    assert caught.value.problem in message
    assert len(message) < 600


def test_usage_error_is_a_value_error() -> None:
    assert issubclass(UsageError, ValueError)


def test_hysteresis_message_explains_itself() -> None:
    with pytest.raises(UsageError, match="clears once the count is back to 5") as caught:
        parse(f"watch {G} below 10 recover 5")
    assert "Use recover 10 or higher" in str(caught.value)


def test_long_user_words_are_cut_in_messages() -> None:
    with pytest.raises(UsageError) as caught:
        parse("x" * 500)
    assert "x" * 41 not in str(caught.value)


def test_control_characters_are_masked_in_messages() -> None:
    with pytest.raises(UsageError) as caught:
        parse(f"{G} \x1b[31mred")
    assert "\x1b" not in str(caught.value)


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


# --------------------------------------------------------------------------- durations

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


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=48)
)
def test_any_printable_ascii_group_id_is_a_query(group_id: str) -> None:
    keywords = {"help", "?", "-h", "--help", "watch", "watches", "unwatch", "mute", "unmute"}
    lowered = group_id.lower()
    quoted = len(group_id) >= 2 and group_id[0] == group_id[-1] and group_id[0] in "\"'`"
    markup = "<" in group_id or "&" in group_id
    looks_like_option = lowered in ("mark", "public", "share") or lowered.startswith(
        ("mark=", "mark:")
    )
    if lowered in keywords or quoted or markup or looks_like_option:
        return
    assert parse(group_id) == Query(group_id)


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


def test_commands_are_frozen() -> None:
    query = Query(G)
    with pytest.raises(AttributeError):
        query.group_id = "x"  # type: ignore[misc]
