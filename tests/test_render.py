"""Rendering: hostile names shown literally, Slack's limits kept, CSV safe, terminal readable."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.blockkit import buttons, text_objects

from bot.render.blocks import Message
from bot.render.escape import date_token, escape_mrkdwn, plain, single_line
from bot.render.members import (
    CSV_HEADER,
    NEXT_PAGE_ACTION,
    PREVIOUS_PAGE_ACTION,
    members_csv,
    render_count_only,
    render_error,
    render_looking_up,
    render_member_check,
    render_online,
    spreadsheet_safe,
)
from bot.render.text import blocks_to_text
from bot.tencent.models import GroupInfo, Member, MemberCheck, OnlineMembers, Partial

G = "@TGS#a6I4ZUUGO"
T0 = 1657773110  # 2022-07-14 04:31:50 UTC
NOW = T0 + 100.0
GROUP = GroupInfo(G, "Math class", "AVChatRoom")
HOSTILE = ["<!channel>", "<https://evil.example|click>", "Tom & Jerry"]


def members(n: int, *, nickname: str | None = None) -> tuple[Member, ...]:
    return tuple(
        Member(f"user{i}", nickname if nickname is not None else f"Nick {i}", "", T0 + i)
        for i in range(n)
    )


def online(
    n: int = 0, *, mark: int | None = None, pages: int | None = None, nickname: str | None = None
) -> OnlineMembers:
    if pages is None:
        pages = max(1, -(-n // 500))
    return OnlineMembers(G, mark, members(n, nickname=nickname), pages, float(T0 + 60))


def texts(node: Any) -> list[str]:
    """Every text object's text, anywhere in the blocks."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append(node["text"])
        else:
            for value in node.values():
                found.extend(texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(texts(item))
    return found


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> str:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def assert_within_limits(message: Message) -> None:
    blocks = message.blocks
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert 1 <= len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        if block["type"] == "actions":
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= 75
                assert len(button["value"]) <= 2000
    assert sum(len(t) for t in texts(blocks)) <= 10_000
    assert json.loads(json.dumps(blocks)) == blocks  # plain JSON, nothing exotic
    for block in blocks:  # user text is never auto-linked or auto-parsed
        for node in text_objects(block):
            if node["type"] == "mrkdwn":
                assert node.get("verbatim") is True


def no_live_markup(mrkdwn: str) -> None:
    """Only date tokens may be live markup: no mention, no link."""
    for token in re.findall(r"<[^<>]*>", mrkdwn):
        assert token.startswith("<!date^"), token


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("&amp;", "&amp;amp;"),
        ("*bold* _it_ ~s~ `c` @here #general", "*bold* _it_ ~s~ `c` @here #general"),
        ("", ""),
    ],
)
def test_escape_mrkdwn(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


def test_plain_strips_control_characters_only() -> None:
    assert plain("a\x00b\x1b[31mc\nd\te\x7f <!here> & é") == "ab[31mcde <!here> & é"


def test_date_token() -> None:
    assert date_token(T0, "2022-07-14 04:31 UTC") == (
        "<!date^1657773110^{date_short_pretty} {time}|2022-07-14 04:31 UTC>"
    )
    assert date_token(T0) == date_token(T0, "2022-07-14 04:31 UTC")
    assert date_token(T0, "a <b> | c") == (
        "<!date^1657773110^{date_short_pretty} {time}|a &lt;b&gt; / c>"
    )


@pytest.mark.parametrize("nickname", HOSTILE)
def test_hostile_nicknames_show_literally(nickname: str) -> None:
    result = OnlineMembers(G, None, (Member(nickname, nickname, "", T0),), 1, float(T0))
    group = GroupInfo(G, nickname, "AVChatRoom")
    message = render_online(result, group=group, online_count=1, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert escape_mrkdwn(nickname) in body
    no_live_markup(body)
    no_live_markup(message.text)
    assert escape_mrkdwn(nickname) in message.text
    header = message.blocks[0]
    assert header["type"] == "header"
    assert nickname in header["text"]["text"]  # plain_text: shown as is, never parsed
    assert nickname in blocks_to_text(message.blocks)


def test_hostile_group_id_and_file_note() -> None:
    gid = "<!here>&`x"
    result = OnlineMembers(gid, 5, members(2), 1, float(T0))
    message = render_online(result, group=None, online_count=2, now=NOW, file_note="<!channel>")
    body = mrkdwn_texts(message.blocks)
    no_live_markup(body)
    assert "&lt;!here&gt;&amp;`x" in body
    assert "&lt;!channel&gt;" in body


def test_huge_group_name_and_id_stay_within_limits() -> None:
    result = OnlineMembers("&" * 5000, None, members(60), 1, float(T0))
    message = render_online(
        result, group=GroupInfo("&" * 5000, "<" * 5000, "AVChatRoom"), online_count=60, now=NOW
    )
    assert_within_limits(message)
    assert len(message.text) < 2000


def test_control_characters_in_nicknames_do_not_break_lines() -> None:
    result = OnlineMembers(G, None, (Member("a\nb", "evil\n• fake line\x07", "", T0),), 1, T0)
    message = render_online(result, group=GROUP, online_count=1, now=NOW)
    member_sections = [b for b in message.blocks if "evil" in b.get("text", {}).get("text", "")]
    assert len(member_sections) == 1
    assert member_sections[0]["text"]["text"].count("\n") == 0
    assert "\x07" not in json.dumps(message.blocks, ensure_ascii=False)


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("n", [0, 1, 29, 30, 31, 50, 51, 499, 500, 999, 1000])
@pytest.mark.parametrize("nickname", [None, "N" * 200, "&" * 200, "<!channel>" * 20, "昵称" * 100])
def test_limits(n: int, nickname: str | None) -> None:
    result = online(n, nickname=nickname)
    for page in {0, 1, max(0, (n - 1) // 50)}:
        message = render_online(
            result,
            group=GROUP,
            online_count=n + 7,
            now=NOW,
            page=page,
            file_note=f"Full list attached as online-{G}.csv",
        )
        assert_within_limits(message)
        no_live_markup(mrkdwn_texts(message.blocks))


@pytest.mark.parametrize("n", [1, 50, 51, 1000])
def test_limits_with_hostile_accounts(n: int) -> None:
    crowd = tuple(Member("<!channel>&" * 10 + str(i), "&<>" * 70, "", T0 + i) for i in range(n))
    result = OnlineMembers(G, None, crowd, 2, float(T0))
    for page in (0, 1):
        message = render_online(result, group=GROUP, online_count=n, now=NOW, page=page)
        assert_within_limits(message)
        no_live_markup(mrkdwn_texts(message.blocks))


def test_empty_list() -> None:
    message = render_online(online(0), group=GROUP, online_count=0, now=NOW)
    assert "Nobody is in the online list" in mrkdwn_texts(message.blocks)
    assert buttons(message) == {}
    assert "0 online" in message.text


def test_empty_list_with_a_count_explains_the_lag() -> None:
    message = render_online(online(0), group=GROUP, online_count=4, now=NOW)
    assert "The count says 4" in mrkdwn_texts(message.blocks)


def test_one_member() -> None:
    result = OnlineMembers(G, None, (Member("teacher2", "Teacher t02", "", T0),), 1, T0 + 60)
    message = render_online(result, group=GROUP, online_count=1, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert "*Teacher t02* — `teacher2` · joined <!date^1657773110^" in body
    assert "*1 online*" in body
    assert "*Math class*" in body and f"`{G}`" in body
    assert "Showing" not in body
    assert buttons(message) == {}
    assert message.text == f"1 online in Math class ({G})"
    assert message.blocks[0]["text"]["text"] == "Online in Math class"


def test_summary_says_when_and_how_fresh() -> None:
    message = render_online(online(3, mark=1000), group=GROUP, online_count=3, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert f"<!date^{T0 + 60}^" in body
    assert "up to 40 s old" in body
    assert "mark 1000" in body


def test_an_old_saved_copy_says_its_age() -> None:
    result = online(3)
    message = render_online(result, group=GROUP, online_count=3, now=result.fetched_at + 600)
    assert "10 min old" in mrkdwn_texts(message.blocks)


def test_without_count_the_list_length_is_given() -> None:
    message = render_online(online(7), group=None, online_count=None, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert "*7 members in the online list*" in body
    assert f"`{G}`" in body
    assert message.blocks[0]["text"]["text"] == f"Online in {G}"


def test_count_and_list_length_both_shown_when_they_differ() -> None:
    message = render_online(online(12), group=GROUP, online_count=15, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert "*15 online*" in body and "12 members in the list" in body


def test_page_of_fifty_members() -> None:
    message = render_online(online(50), group=GROUP, online_count=50, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert body.count("• ") == 50
    assert "Showing" not in body
    assert buttons(message) == {}


def test_fifty_one_members_page_zero() -> None:
    message = render_online(online(51), group=GROUP, online_count=51, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert body.count("• ") == 50
    assert "Showing 1\u201350 of 51" in body
    found = buttons(message)
    assert set(found) == {NEXT_PAGE_ACTION}
    assert found[NEXT_PAGE_ACTION]["text"]["text"] == "Next 50"
    assert json.loads(found[NEXT_PAGE_ACTION]["value"]) == {"g": G, "m": None, "p": 1}
    assert found[NEXT_PAGE_ACTION]["value"] == f'{{"g":"{G}","m":null,"p":1}}'


def test_fifty_one_members_last_page() -> None:
    message = render_online(online(51, mark=1000), group=GROUP, online_count=51, now=NOW, page=1)
    body = mrkdwn_texts(message.blocks)
    assert body.count("• ") == 1
    assert "user50" in body
    assert "Showing 51\u201351 of 51" in body
    found = buttons(message)
    assert set(found) == {PREVIOUS_PAGE_ACTION}
    assert found[PREVIOUS_PAGE_ACTION]["text"]["text"] == "Previous"
    assert json.loads(found[PREVIOUS_PAGE_ACTION]["value"]) == {"g": G, "m": 1000, "p": 0}


def test_middle_page_has_both_buttons() -> None:
    message = render_online(online(1000), group=GROUP, online_count=1500, now=NOW, page=3)
    body = mrkdwn_texts(message.blocks)
    assert "Showing 151\u2013200 of 1,000" in body
    assert "user150" in body and "user199" in body and "user200" not in body
    found = buttons(message)
    assert json.loads(found[NEXT_PAGE_ACTION]["value"])["p"] == 4
    assert json.loads(found[PREVIOUS_PAGE_ACTION]["value"])["p"] == 2


def test_page_out_of_range_is_clamped() -> None:
    message = render_online(online(51), group=GROUP, online_count=51, now=NOW, page=99)
    assert "Showing 51\u201351 of 51" in mrkdwn_texts(message.blocks)
    message = render_online(online(51), group=GROUP, online_count=51, now=NOW, page=-4)
    assert "Showing 1\u201350 of 51" in mrkdwn_texts(message.blocks)


def test_long_names_are_shortened_not_dropped() -> None:
    message = render_online(online(50, nickname="N" * 200), group=GROUP, online_count=50, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert body.count("• ") == 50
    assert "N" * 200 not in body
    assert "shortened" in body


def test_names_that_cannot_fit_are_left_out_and_said_so() -> None:
    # every character escapes to five, in nicknames and accounts alike
    crowd = tuple(Member("&" * 60 + str(i), "&" * 200, "", T0) for i in range(50))
    result = OnlineMembers(G, None, crowd, 1, float(T0))
    note = "Full list attached as online-x.csv"
    message = render_online(result, group=GROUP, online_count=50, now=NOW, file_note=note)
    body = mrkdwn_texts(message.blocks)
    shown = body.count("• ")
    assert 0 < shown < 50
    assert f"Showing 1\u2013{shown} of 50" in body
    assert "did not fit" in body
    assert note in body
    assert_within_limits(message)


def test_capped_note() -> None:
    message = render_online(online(1000), group=GROUP, online_count=4321, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert "only the 1,000 most recent members" in body
    assert "the count of 4,321 is exact" in body
    message = render_online(online(1000), group=GROUP, online_count=None, now=NOW)
    assert "at least 1,000 people are online" in mrkdwn_texts(message.blocks)


def test_edition_limited_note() -> None:
    message = render_online(online(30, pages=1), group=GROUP, online_count=250, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert "Only 30 of 250 are listed" in body
    assert '"List of online audio-video group members"' in body
    assert "Pro, Pro Plus or Enterprise" in body
    assert "Chat console" in body
    message = render_online(online(30, pages=1), group=GROUP, online_count=None, now=NOW)
    assert "there may be more" in mrkdwn_texts(message.blocks)


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        (Partial.REPEATED_CURSOR, "it sent a page cursor it had already sent"),
        (Partial.EMPTY_PAGES, "it sent empty pages that still pointed to more"),
        (Partial.PAGE_LIMIT, "the list did not end within the page limit"),
    ],
)
def test_partial_note_says_the_list_is_incomplete_and_why(reason: Partial, why: str) -> None:
    result = OnlineMembers(G, None, members(120), 3, float(T0 + 60), partial=reason)
    message = render_online(result, group=GROUP, online_count=700, now=NOW)
    notes = [t for t in mrkdwn_texts(message.blocks).split("\n") if "Incomplete list" in t]
    assert notes == [
        f":warning: Incomplete list: Tencent stopped paging after 3 pages ({why}); these are "
        "the members it sent. Ask again in a minute."
    ]
    body = mrkdwn_texts(message.blocks)
    assert "*700 online*" in body and "120 members in the list" in body
    assert "can differ a little" not in body  # the difference is not the snapshot's lag
    assert members_csv(result).count("\r\n") == 121  # the CSV still holds every member sent
    assert_within_limits(message)


def test_no_notes_for_an_ordinary_list() -> None:
    message = render_online(online(31), group=GROUP, online_count=31, now=NOW)
    body = mrkdwn_texts(message.blocks)
    assert "1,000 most recent" not in body
    assert "Pro Plus" not in body
    assert "Incomplete" not in body


def test_file_note_shown_only_when_given() -> None:
    note = f"Full list attached as online-{G}.csv"
    with_note = render_online(online(60), group=GROUP, online_count=60, now=NOW, file_note=note)
    assert note in mrkdwn_texts(with_note.blocks)
    without = render_online(online(60), group=GROUP, online_count=60, now=NOW)
    assert "attached" not in mrkdwn_texts(without.blocks)


def test_message_is_frozen() -> None:
    message = render_error("x")
    with pytest.raises(AttributeError):
        message.text = "y"  # type: ignore[misc]


# --------------------------------------------------------------------------- other replies


def test_render_error_escapes() -> None:
    message = render_error("Group IDs are printable ASCII; <!channel> & co. Usage: /online <id>")
    assert "&lt;!channel&gt; &amp; co" in message.text
    no_live_markup(mrkdwn_texts(message.blocks))
    assert_within_limits(message)
    assert_within_limits(render_error("x" * 10_000))
    huge = render_error("<&>" * 5_000)
    assert_within_limits(huge)
    assert huge.text.endswith("&gt;…") or huge.text.endswith(";…")


def test_render_error_keeps_line_breaks() -> None:
    message = render_error("Bad mark.\n\n/online <groupId> [mark]\x07")
    assert message.text == "Bad mark.\n\n/online &lt;groupId&gt; [mark]"


def test_render_looking_up() -> None:
    message = render_looking_up(G, 1000)
    assert G in message.text and "mark 1000" in message.text
    assert "Looking up" in message.text
    assert_within_limits(message)
    hostile = render_looking_up("<!here>", None)
    no_live_markup(hostile.text)
    assert "mark" not in hostile.text


# --------------------------------------------------------------------------- CSV


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_header_and_rows() -> None:
    result = OnlineMembers(
        G, None, (Member("teacher2", "Teacher t02", "http://x/t.jpg", T0),), 1, T0
    )
    rows = read_csv(members_csv(result))
    assert rows == [
        ["account", "nickname", "avatar", "join_time_utc"],
        ["teacher2", "Teacher t02", "http://x/t.jpg", "2022-07-14T04:31:50Z"],
    ]


def test_csv_quoting() -> None:
    nickname = 'Smith, "Bob"'
    result = OnlineMembers(G, None, (Member("a,b", nickname, "", T0),), 1, T0)
    text = members_csv(result)
    assert '"Smith, ""Bob"""' in text
    assert read_csv(text)[1][:2] == ["a,b", nickname]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("plain", "plain"),
        ("a=b", "a=b"),
    ],
)
def test_csv_formula_injection_is_neutralised(cell: str, safe: str) -> None:
    result = OnlineMembers(G, None, (Member(cell, cell, cell, T0),), 1, T0)
    assert read_csv(members_csv(result))[1][:3] == [safe, safe, safe]


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
        ("a - b", "a - b"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t'=1"),
        ("\r=1", "'\r'=1"),
        ("  =1", "  '=1"),
        ("x;=cmd|' /C calc'!A0", "x;'=cmd|' /C calc'!A0"),
        ("x,=1", "x,'=1"),
        ("x\t+1", "x\t'+1"),
        ("x\n@A1", "x\n'@A1"),
        ("x; -1", "x; '-1"),
        ("x;;=1", "x;;'=1"),
        ("x;y=1", "x;y=1"),
    ],
)
def test_spreadsheet_safe(value: str, safe: str) -> None:
    assert spreadsheet_safe(value) == safe


def _spreadsheet_safe_by_char(value: str) -> str:
    """The rule, one character at a time: a ' before a formula start where a cell starts."""
    out, cell_start = [], True
    for ch in value:
        if cell_start and ch in "=+-@\t\r":
            out.append("'")
        out.append(ch)
        cell_start = ch in ",;\t\r\n" or (cell_start and ch == " ")
    return "".join(out)


def test_spreadsheet_safe_is_the_rule_for_every_short_string() -> None:
    """Every string of up to 4 characters from the ones that matter (the shortcut for a
    single cell included)."""
    strings, level = [""], [""]
    for _ in range(4):
        level = [s + ch for s in level for ch in " ,;\t\r\n=+-@a'"]
        strings += level
    for value in strings:
        assert spreadsheet_safe(value) == _spreadsheet_safe_by_char(value), repr(value)


HOSTILE_CELLS = ["x;=cmd|' /C calc'!A0", "x,+1", "ok; @SUM(A1)", "=1", "a\t-2", "Tom, Jerry"]


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_csv_has_no_formula_whatever_the_separator_a_spreadsheet_uses(separator: str) -> None:
    members = tuple(Member(f"acct{i}", cell, cell, T0) for i, cell in enumerate(HOSTILE_CELLS))
    text = members_csv(OnlineMembers(G, None, members, len(members), T0))
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    cells = [cell.lstrip(' "') for row in rows for cell in row]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@")] == []


def test_csv_quotes_every_cell() -> None:
    result = OnlineMembers(G, None, (Member("a", "b", "", T0),), 1, T0)
    assert members_csv(result).splitlines()[1] == '"a","b","","2022-07-14T04:31:50Z"'


def test_csv_has_every_member_even_beyond_a_page() -> None:
    assert len(read_csv(members_csv(online(1000)))) == 1001


def _members_csv_by_the_book(result: OnlineMembers) -> str:
    """The CSV written cell by cell with the csv module: every cell on one line, made
    spreadsheet_safe and quoted; the join time by the C library, or its number."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_HEADER)
    for m in result.members:
        try:
            joined = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.join_time))
        except (OverflowError, OSError, ValueError):
            joined = str(m.join_time)
        cells = (m.account, m.nickname, m.avatar, joined)
        writer.writerow([spreadsheet_safe(single_line(cell)) for cell in cells])
    return out.getvalue()


#: Join times around the edges of the shortcut (1970 to 9999) and past what the C library
#: can read.
EDGE_TIMES = [0, 1, 59, 60, 86_399, 86_400, T0, 951_782_400, 253_402_300_799, 253_402_300_800]
EDGE_TIMES += [-1, -86_401, 2**31, 2**53, 10**20, -(10**20)]


@pytest.mark.parametrize("join_time", EDGE_TIMES)
def test_csv_join_time_is_iso_utc_or_the_number(join_time: int) -> None:
    result = OnlineMembers(G, None, (Member("a", "b", "", join_time),), 1, T0)
    assert members_csv(result) == _members_csv_by_the_book(result)


def test_csv_of_hostile_and_unusual_cells_is_the_book_one() -> None:
    cells = [*HOSTILE_CELLS, 'Smith, "Bob"', ' "=1"', "  =1  ", "a\x85b", "\xa0-1", "🎸 Rocker"]
    cells += ["\u3000@x", "x\u2028=1", "名前", "", " ", '"', "'=1", "a\x00b", "é;+1"]
    result = OnlineMembers(G, None, tuple(Member(c, c, c, T0) for c in cells), 1, T0)
    assert members_csv(result) == _members_csv_by_the_book(result)


_CELL_TEXT = st.text(
    st.sampled_from(list(" ,;\t\r\n=+-@\"'a1é名🎸\x85\xa0\u3000\u2028\u200b\x00\x7f"))
    | st.characters()
)
_MEMBER = st.builds(
    Member,
    _CELL_TEXT,
    _CELL_TEXT,
    _CELL_TEXT,
    st.sampled_from(EDGE_TIMES) | st.integers(-(2**40), 2**40),
)


@given(st.lists(_MEMBER, max_size=8))
def test_csv_is_the_book_one_for_any_members(members: list[Member]) -> None:
    """The shortcuts (plain cells, join times formatted once a day) write what the csv
    module writes cell by cell."""
    result = OnlineMembers(G, None, tuple(members), 1, T0)
    assert members_csv(result) == _members_csv_by_the_book(result)


# --------------------------------------------------------------------------- terminal


def test_blocks_to_text_kinds() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Title & <x>"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*bold* &amp; &lt;b&gt; <https://a.example|site>"},
            "fields": [
                {"type": "mrkdwn", "text": "<!date^1657773110^{date_short_pretty}|fallback>"},
                {"type": "plain_text", "text": "&amp; stays"},
            ],
            "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Go"}},
        },
        {"type": "divider"},
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "http://x/i.png", "alt_text": "logo"},
                {"type": "mrkdwn", "text": "<@U123> <#C1|general> <!here> <https://b.example>"},
            ],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Previous"}},
                {"type": "button", "text": {"type": "plain_text", "text": "Next 50"}},
            ],
        },
        {"type": "image", "image_url": "http://x/c.png", "alt_text": "chart"},
    ]
    assert blocks_to_text(blocks).splitlines() == [
        "Title & <x>",
        "═" * len("Title & <x>"),
        "*bold* & <b> site (https://a.example)",
        "fallback",
        "&amp; stays",
        "[Go]",
        "─" * 40,
        "[image: logo]  @U123 #general @here https://b.example",
        "[Previous]  [Next 50]",
        "[image: chart]",
    ]


def test_blocks_to_text_of_a_rendered_page() -> None:
    result = OnlineMembers(
        G, None, (*members(50), Member("x", "Tom & Jerry <!channel>", "", T0)), 1, T0 + 60
    )
    message = render_online(result, group=GROUP, online_count=51, now=NOW, page=1)
    text = blocks_to_text(message.blocks)
    assert "Online in Math class\n═" in text
    assert "Tom & Jerry <!channel>" in text
    assert "joined 2022-07-14 04:31 UTC" in text
    assert "[Previous]" in text
    assert "&amp;" not in text and "<!date" not in text


def test_blocks_to_text_header_width_counts_wide_characters() -> None:
    text = blocks_to_text([{"type": "header", "text": {"type": "plain_text", "text": "数学"}}])
    assert text.splitlines()[1] == "════"


# --------------------------------------------------------------------------- counts, checks


def test_count_only_says_why_there_is_no_list() -> None:
    group = GroupInfo("@TGS#team", "<!here> & co", "Public")
    message = render_count_only(group, 1234, now=NOW)
    assert_within_limits(message)
    text = mrkdwn_texts(message.blocks)
    no_live_markup(text)
    assert "*1,234 online* in *&lt;!here&gt; &amp; co*" in text
    assert "this is a Public group: count only" in text
    assert "about every 10 s" in text


def test_community_list_says_how_fresh_its_count_is() -> None:
    group = GroupInfo("@TGS#_fans", "Fans", "Community")
    message = render_online(online(3), group=group, online_count=3, now=NOW)
    assert "about every 4 minutes" in mrkdwn_texts(message.blocks)
    ordinary = render_online(online(3), group=GROUP, online_count=3, now=NOW)
    assert "4 minutes" not in mrkdwn_texts(ordinary.blocks)


def test_member_check_lists_in_and_out_escaped() -> None:
    check = MemberCheck(G, ("alice", "<!channel>"), ("b&c",), float(T0))
    message = render_member_check(check, GROUP, now=NOW)
    assert_within_limits(message)
    text = mrkdwn_texts(message.blocks)
    no_live_markup(text)
    assert "*2 of 3* are in *Math class*" in text
    assert "In the group (2):\n`alice`, `&lt;!channel&gt;`" in text
    assert "Not in the group (1):\n`b&amp;c`" in text
    assert "up to 40 s old" in text and "1,000 cap" in text


@pytest.mark.parametrize(("present", "summary"), [((), "*Not in*"), (("alice",), "*In*")])
def test_member_check_of_one_account(present: tuple[str, ...], summary: str) -> None:
    absent = () if present else ("alice",)
    message = render_member_check(MemberCheck(G, present, absent, float(T0)), None, now=NOW)
    assert mrkdwn_texts(message.blocks).startswith(f"{summary} `{G}` now")


def test_member_check_of_500_long_accounts_fits_one_message() -> None:
    accounts = tuple(f"{i:03d}" + "<" * 29 for i in range(500))
    check = MemberCheck(G, accounts[:300], accounts[300:], float(T0))
    message = render_member_check(check, GROUP, now=NOW)
    assert_within_limits(message)
    text = mrkdwn_texts(message.blocks)
    shown = len(re.findall(r"`\d{3}", text))
    assert 0 < shown < 500
    assert f"{500 - shown:,} more accounts did not fit" in text
