"""The Block Kit vocabulary: each builder, mentions only from IDs, every limit, escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.render.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_CHARS,
    Message,
    SlackFile,
    actions,
    button,
    channel_mention,
    channel_or_code,
    code,
    confirm,
    context,
    divider,
    header,
    image,
    is_channel_id,
    is_user_id,
    is_usergroup_id,
    mention_or_text,
    message,
    mrkdwn,
    pack,
    plain_text,
    section,
    text_chars,
    user_mention,
    user_or_text,
    usergroup_mention,
)
from bot.render.escape import cut_mrkdwn, escape_line, single_line
from bot.render.text import blocks_to_text

Block = dict[str, Any]
HOSTILE = ["<!channel>", "<https://evil.example|click>", "Tom & Jerry", "<@U123ABC>"]


def is_json(node: Any) -> bool:
    return json.loads(json.dumps(node)) == node


# --------------------------------------------------------------------------- text objects


def test_mrkdwn_is_verbatim_and_cut_at_3000() -> None:
    assert mrkdwn("*hi*") == {"type": "mrkdwn", "text": "*hi*", "verbatim": True}
    long = mrkdwn("x" * 5000)["text"]
    assert len(long) == 3000
    assert long.endswith("…")
    assert mrkdwn("x" * 3000)["text"] == "x" * 3000


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Math class", 150, "Math class"),
        ("", 150, " "),  # Slack refuses empty text
        ("a\nb\tc\x00d", 150, "a b c d"),  # one line: control characters as spaces
        ("  padded  ", 150, "padded"),
        ("x" * 10, 5, "xxxx…"),
        ("x" * 5, 5, "xxxxx"),
        ("<!channel> & co", 150, "<!channel> & co"),  # plain text shows literally as is
    ],
)
def test_plain_text(text: str, limit: int, expected: str) -> None:
    assert plain_text(text, limit) == {"type": "plain_text", "text": expected, "emoji": True}


@pytest.mark.parametrize(
    ("raw", "limit", "expected"),
    [
        ("@TGS#abc", 100, "`@TGS#abc`"),
        ("a<b>&c", 100, "`a&lt;b&gt;&amp;c`"),
        ("back`tick", 100, "back`tick"),  # a backtick would end the span: no span
        ("", 100, ""),
        ("two\nlines", 100, "`two lines`"),
        ("x" * 200, 10, "`" + "x" * 9 + "…`"),
    ],
)
def test_code(raw: str, limit: int, expected: str) -> None:
    assert code(raw, limit) == expected


# --------------------------------------------------------------------------- blocks


def test_header_is_plain_and_cut_at_150() -> None:
    block = header("h" * 400)
    assert block["type"] == "header"
    assert block["text"]["type"] == "plain_text"
    assert len(block["text"]["text"]) == 150
    assert block["text"]["text"].endswith("…")
    assert header("Online in Math")["text"]["text"] == "Online in Math"


def test_section_text_fields_and_their_limits() -> None:
    assert section("hi") == {"type": "section", "text": mrkdwn("hi")}
    block = section("t" * 4000, [f"f{i}" + "x" * 3000 for i in range(12)])
    assert len(block["text"]["text"]) == 3000
    assert len(block["fields"]) == 10
    assert all(len(field["text"]) == 2000 for field in block["fields"])
    assert block["fields"][0]["text"].startswith("f0")
    assert "text" not in section(None, ["only a field"])
    with pytest.raises(ValueError):
        section()


def test_context_keeps_ten_elements() -> None:
    block = context(*[f"line {i}" for i in range(12)])
    assert [e["text"] for e in block["elements"]] == [f"line {i}" for i in range(10)]
    assert all(e["verbatim"] is True for e in block["elements"])
    with pytest.raises(ValueError):
        context()


def test_divider() -> None:
    assert divider() == {"type": "divider"}


def test_button_label_value_style_confirm() -> None:
    dialog = confirm("T" * 200, "x" * 400, "Y" * 40, "N" * 40, style="danger")
    assert [len(dialog[k]["text"]) for k in ("title", "text", "confirm", "deny")] == [
        100,
        300,
        30,
        30,
    ]
    assert dialog["style"] == "danger"
    b = button("L" * 100, "act", "v" * 2000, style="primary", confirm=dialog)
    assert b["type"] == "button"
    assert len(b["text"]["text"]) == 75
    assert b["text"]["type"] == "plain_text"
    assert (b["action_id"], b["style"], b["confirm"]) == ("act", "primary", dialog)
    assert len(b["value"]) == 2000
    assert "style" not in button("Next", "next", "1")
    assert "confirm" not in button("Next", "next", "1")
    with pytest.raises(ValueError):
        button("Next", "next", "v" * 2001)


def test_actions_keeps_25_elements() -> None:
    elements = [button(str(i), f"a{i}", str(i)) for i in range(30)]
    block = actions("row", elements)
    assert block["block_id"] == "row"
    assert len(block["elements"]) == 25
    with pytest.raises(ValueError):
        actions("row", [])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://example.com/chart.png", {"image_url": "https://example.com/chart.png"}),
        (SlackFile(id="F0123ABC"), {"slack_file": {"id": "F0123ABC"}}),
        (
            SlackFile(url="https://files.slack.com/files-pri/T1-F1/chart.png"),
            {"slack_file": {"url": "https://files.slack.com/files-pri/T1-F1/chart.png"}},
        ),
    ],
)
def test_image_from_a_url_or_a_slack_file(source: str | SlackFile, expected: Block) -> None:
    block = image(source, "Online over the last hour", title="Math class")
    assert block == {
        "type": "image",
        **expected,
        "alt_text": "Online over the last hour",
        "title": plain_text("Math class"),
    }
    assert is_json(block)
    assert blocks_to_text([block]) == "[image: Online over the last hour]"


def test_image_limits_and_refusals() -> None:
    block = image("https://example.com/a.png", "a" * 3000, title="t" * 3000)
    assert len(block["alt_text"]) == 2000
    assert len(block["title"]["text"]) == 2000
    assert "title" not in image("https://example.com/a.png", "alt")
    assert image("https://example.com/a.png", "")["alt_text"]  # Slack requires one
    assert image("https://example.com/a.png", "line\nbreak <b>")["alt_text"] == "line break <b>"
    for bad in ("ftp://example.com/a.png", "javascript:alert(1)", "https://x/" + "a" * 3000):
        with pytest.raises(ValueError):
            image(bad, "alt")
    with pytest.raises(ValueError):
        SlackFile()
    with pytest.raises(ValueError):
        SlackFile(id="F1", url="https://files.slack.com/x.png")


# --------------------------------------------------------------------------- mentions

NOT_IDS = [
    "",
    "U1",  # too short
    "u123abc",  # lower case
    "U123 ABC",
    "U123ABC\n",
    "<!channel>",
    "U123>",
    "U123|x",
    "U123&amp;",
    "U" + "A" * 31,  # too long
    "online-bot",
    "@here",
]


@pytest.mark.parametrize(
    ("build", "valid", "expected", "other_kinds"),
    [
        (user_mention, "U0123ABC", "<@U0123ABC>", ["S0123ABC", "C0123ABC"]),
        (user_mention, "W0123ABC", "<@W0123ABC>", ["S0123ABC", "C0123ABC"]),
        (usergroup_mention, "S0123ABC", "<!subteam^S0123ABC>", ["U0123ABC", "C0123ABC"]),
        (channel_mention, "C0123ABC", "<#C0123ABC>", ["U0123ABC", "S0123ABC"]),
        (channel_mention, "G0123ABC", "<#G0123ABC>", ["U0123ABC", "S0123ABC"]),
        (channel_mention, "D0123ABC", "<#D0123ABC>", ["U0123ABC", "S0123ABC"]),
    ],
)
def test_mentions_only_from_ids(
    build: Callable[[str], str], valid: str, expected: str, other_kinds: list[str]
) -> None:
    assert build(valid) == expected
    for bad in [*NOT_IDS, *other_kinds]:
        with pytest.raises(ValueError):
            build(bad)


def test_id_shapes() -> None:
    assert is_user_id("U1AB") and is_user_id("W1AB")
    assert is_usergroup_id("S1AB") and not is_usergroup_id("U1AB")
    assert all(is_channel_id(f"{p}1AB") for p in "CGD")
    for bad in NOT_IDS:
        assert not (is_user_id(bad) or is_usergroup_id(bad) or is_channel_id(bad)), bad


@pytest.mark.parametrize(
    ("value", "user", "anyone"),
    [
        ("U0123ABC", "<@U0123ABC>", "<@U0123ABC>"),
        ("S0123ABC", "S0123ABC", "<!subteam^S0123ABC>"),
        ("online-bot", "online-bot", "online-bot"),
        ("<!channel>", "&lt;!channel&gt;", "&lt;!channel&gt;"),
        ("<@U0123ABC>", "&lt;@U0123ABC&gt;", "&lt;@U0123ABC&gt;"),
        ("x" * 100, "x" * 59 + "…", "x" * 59 + "…"),
    ],
)
def test_a_stored_value_that_is_not_an_id_is_text(value: str, user: str, anyone: str) -> None:
    assert user_or_text(value) == user
    assert mention_or_text(value) == anyone


def test_channel_or_code() -> None:
    assert channel_or_code("C0123ABC") == "<#C0123ABC>"
    assert channel_or_code("<!here>") == "`&lt;!here&gt;`"


# --------------------------------------------------------------------------- cutting


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("abcdefghijk", 10, "abcdefghi…"),
        ("abcdef&amp;xyz", 10, "abcdef…"),  # never half an entity
        ("abcdefg&lt;", 10, "abcdefg…"),
        ("ab&amp;cdefgh", 10, "ab&amp;cd…"),  # a whole entity stays
        ("a <@U0123ABC> b", 10, "a …"),  # never half a mention
        ("a <!date^1657773110^{date_short_pretty}|x> b", 20, "a …"),
        ("<@U1AB> and more text", 10, "<@U1AB> a…"),
    ],
)
def test_cut_mrkdwn(text: str, limit: int, expected: str) -> None:
    assert cut_mrkdwn(text, limit) == expected
    assert len(cut_mrkdwn(text, limit)) <= limit


@pytest.mark.parametrize(
    ("raw", "limit", "expected"),
    [
        ("Tom & Jerry", 100, "Tom &amp; Jerry"),
        ("<!channel>", 100, "&lt;!channel&gt;"),
        ("*bold* `c` @here #general", 100, "*bold* `c` @here #general"),
        ("a\nb", 100, "a b"),
        ("&&&&", 10, "&amp;…"),  # escaped form within the limit, whole entities only
    ],
)
def test_escape_line(raw: str, limit: int, expected: str) -> None:
    assert escape_line(raw, limit) == expected


def _single_line_by_rule(text: str) -> str:
    """Every control character (Unicode's Cc) a space, then the ends trimmed."""
    return re.sub("[\x00-\x1f\x7f-\x9f]", " ", text).strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("  Alice Chen  ", "Alice Chen"),
        ("a\tb\nc\r\n", "a b c"),
        ("\x85next\x9f", "next"),  # C1 controls
        ("\xa0nbsp\xa0", "nbsp"),  # not printable, not a control: trimmed at the ends only
        ("\u3000名前 \u3000x", "名前 \u3000x"),
        ("\u2028a\u2029", "a"),
        ("\u200bzero\u200b", "\u200bzero\u200b"),  # format characters are kept
        ("a\x00b\x7f", "a b"),
        ("🎸 Rocker", "🎸 Rocker"),
    ],
)
def test_single_line(text: str, expected: str) -> None:
    assert single_line(text) == expected == _single_line_by_rule(text)


@given(st.text())
def test_single_line_is_the_rule_for_any_text(text: str) -> None:
    """The shortcut for printable text gives what the rule gives."""
    assert single_line(text) == _single_line_by_rule(text)


def test_message_keeps_50_blocks_and_cuts_the_fallback() -> None:
    blocks = [section(str(i)) for i in range(60)]
    msg = message("&amp;" * 1000, blocks)
    assert isinstance(msg, Message)
    assert len(msg.blocks) == MAX_BLOCKS
    assert msg.blocks[-1] == section("49")
    assert len(msg.text) <= MAX_FALLBACK_CHARS
    assert msg.text.endswith("&amp;…")
    assert message("hi", [divider()]) == Message(text="hi", blocks=[divider()])


def test_pack_keeps_order_and_limit() -> None:
    lines = [f"line {i} " + "x" * 50 for i in range(100)]
    chunks = pack(lines, 500)
    assert all(len(chunk) <= 500 for chunk in chunks)
    assert "\n".join(chunks).split("\n") == lines
    assert pack(["y" * 600], 500) == ["y" * 499 + "…"]
    assert pack([]) == []


def test_text_chars_counts_every_text_object() -> None:
    blocks = [
        header("abc"),
        section("de", ["fgh"]),
        context("i"),
        actions("a", [button("jk", "x", "value not counted")]),
    ]
    assert text_chars(blocks) == len("abcdefghijk")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_hostile_text_stays_literal_in_every_builder(hostile: str) -> None:
    text = escape_line(hostile, 3000)
    blocks = [header(hostile), section(text, [text]), context(text)]
    shown = blocks_to_text(blocks)
    assert shown.count(hostile) == 4
    for block in blocks:
        assert is_json(block)
