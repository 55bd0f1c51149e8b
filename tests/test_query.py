"""The query forms of /online (``<groupId> [mark] [public]``, ``<groupId> is <accounts>``):
tables of what users type and what it means."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.usage import assert_refused

from bot.commands.grammar import (
    MAX_MARK,
    CheckMembers,
    Command,
    FormError,
    Query,
    UsageError,
    parse,
    parse_lookup,
)

G = "@TGS#a6I4ZUUGO"
U500 = tuple(f"u{i}" for i in range(500))

VALID: list[tuple[str, Command]] = [
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
]


@pytest.mark.parametrize(("text", "fragment"), INVALID, ids=[repr(t)[:60] for t, _ in INVALID])
def test_invalid(text: str, fragment: str) -> None:
    assert_refused(text, fragment)


def test_long_user_words_are_cut_in_messages() -> None:
    with pytest.raises(UsageError) as caught:
        parse("x" * 500)
    assert "x" * 41 not in str(caught.value)


def test_control_characters_are_masked_in_messages() -> None:
    with pytest.raises(UsageError) as caught:
        parse(f"{G} \x1b[31mred")
    assert "\x1b" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=48)
)
def test_any_printable_ascii_group_id_is_a_query(group_id: str) -> None:
    keywords = {"help", "?", "-h", "--help", "watch", "watches", "unwatch", "mute", "unmute"}
    keywords |= {"history", "digest"}  # `/online digest` alone shows the channel's digest
    lowered = group_id.lower()
    quoted = len(group_id) >= 2 and group_id[0] == group_id[-1] and group_id[0] in "\"'`"
    markup = "<" in group_id or "&" in group_id
    looks_like_option = lowered in ("mark", "public", "share") or lowered.startswith(
        ("mark=", "mark:")
    )
    if lowered in keywords or quoted or markup or looks_like_option:
        return
    assert parse(group_id) == Query(group_id)


# -- the App Home's lookup form: the same query, a field at a time ------------------------


@pytest.mark.parametrize(
    ("group_id", "mark", "expected"),
    [
        (G, None, Query(G)),
        (G, "", Query(G)),
        (f"  {G}\n", "  ", Query(G)),
        (f"`{G}`", "'1000'", Query(G, 1000)),
        (G, "1,000", Query(G, 1000)),
        (G, str(MAX_MARK), Query(G, MAX_MARK)),
    ],
)
def test_the_lookup_form_asks_a_query(group_id, mark, expected):
    assert parse_lookup(group_id, mark) == expected
    if expected.mark is None:  # the same as the command
        assert parse(group_id.strip().strip("`")) == expected


@pytest.mark.parametrize(
    ("group_id", "mark", "problems"),
    [
        ("", None, {"group_id": "The group ID is empty"}),
        ("   ", "1000", {"group_id": "The group ID is empty"}),
        ("@TGS#é", None, {"group_id": "Group IDs are printable ASCII"}),
        ("@TGS#" + "a" * 44, None, {"group_id": "Group IDs have at most 48 characters"}),
        (G, "x", {"mark": "The mark must be a whole number from 0 to 4,294,967,295"}),
        (G, str(MAX_MARK + 1), {"mark": "The mark must be a whole number"}),
        ("", "-1", {"group_id": "The group ID is empty", "mark": 'not "-1"'}),
    ],
)
def test_the_lookup_form_names_each_wrong_field(group_id, mark, problems):
    with pytest.raises(FormError) as refused:
        parse_lookup(group_id, mark)
    assert set(refused.value.problems) == set(problems)
    for field, part in problems.items():
        assert part in refused.value.problems[field]
        assert "Usage:" not in refused.value.problems[field]  # the field says it all
