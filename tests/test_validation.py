"""What Tencent would refuse, checked before any call: one rule per kind of value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands.grammar import Query, UsageError, parse
from bot.tencent.errors import InvalidInput
from bot.tencent.validation import MAX_GROUP_ID_BYTES, quote, validate_group_id


@pytest.mark.parametrize(
    "group_id",
    ["@TGS#a6I4ZUUGO", "@TGS#_community", "a" * MAX_GROUP_ID_BYTES, "my group", " ", "~!{}"],
)
def test_group_ids_tencent_accepts(group_id: str) -> None:
    assert validate_group_id(group_id) == group_id


@pytest.mark.parametrize(
    ("group_id", "fragment"),
    [
        ("", "group ID is empty"),
        ("a" * 49, 'at most 48 characters; "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…" has 49'),
        (
            "caf\u00e9",
            'printable ASCII (letters, digits and symbols such as @ # _ -); "café" contains "é"',
        ),
        ("tab\there", 'contains "?"'),
        ("del\x7f", 'contains "?"'),
        ("组1", 'contains "组"'),
    ],
)
def test_group_ids_tencent_refuses_say_why(group_id: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_group_id(group_id)
    assert fragment in caught.value.user_message
    assert "\t" not in caught.value.user_message and "\x7f" not in caught.value.user_message


@given(st.text(max_size=60))
def test_one_rule_printable_ascii_at_most_48_bytes(group_id: str) -> None:
    valid = 0 < len(group_id.encode()) <= MAX_GROUP_ID_BYTES and all(
        0x20 <= ord(ch) <= 0x7E for ch in group_id
    )
    try:
        validate_group_id(group_id)
    except InvalidInput:
        assert not valid
    else:
        assert valid


@pytest.mark.parametrize("group_id", ["a" * 49, "caf\u00e9", "\x1b[31m"])
def test_the_grammar_refuses_group_ids_by_the_same_rule(group_id: str) -> None:
    with pytest.raises(InvalidInput) as rule:
        validate_group_id(group_id)
    with pytest.raises(UsageError) as grammar:
        parse(group_id)
    assert grammar.value.problem == rule.value.user_message


def test_a_group_id_with_a_space_is_two_words_to_the_grammar() -> None:
    assert parse("my 1000") == Query("my", 1000)
    with pytest.raises(UsageError, match='I don\'t understand "group" after the group ID'):
        parse("my group")


def test_quote_masks_control_characters_and_cuts_long_words() -> None:
    assert quote("a\x1bb\x85c") == '"a?b?c"'
    assert quote("x" * 50) == '"' + "x" * 39 + '…"'
