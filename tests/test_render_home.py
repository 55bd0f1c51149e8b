"""The App Home's views (bot/render/home.py): pages within 100 blocks however the watches
fall into channels, every watch on exactly one page, the states and buttons, escaping,
the lookup modal, and the values its buttons carry."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.blockkit import assert_view_within_limits, text_objects

from bot.render.blocks import message, section
from bot.render.home import (
    FRAME_BLOCKS,
    HOME_LOOKUP_ACTION,
    HOME_MUTE_ACTION,
    HOME_NEXT_ACTION,
    HOME_PREVIOUS_ACTION,
    HOME_UNMUTE_ACTION,
    HOME_UNWATCH_ACTION,
    LOOKUP_CALLBACK,
    LOOKUP_GROUP_ID,
    LOOKUP_MARK,
    MAX_PAGE_WATCHES,
    Listed,
    page_number,
    page_of,
    parse_watch_value,
    render_changed_from_home,
    render_home,
    render_home_unavailable,
    render_lookup_modal,
)
from bot.render.text import blocks_to_text
from bot.render.watches import WatchRow

T0 = 1657773110
HOSTILE = "<!channel> <https://evil.example|click> Tom & Jerry"
#: The largest notice a Home shows (two blocks), as a button's answer might be.
NOTICE = message("Done.", [section("First."), section("Second."), section("Never shown.")])


def row(i: int, channel: str = "C0001", **changes: Any) -> WatchRow:
    base = WatchRow(
        watch_id=i,
        group_id=f"@TGS#group{i}",
        group_name=f"Group {i}",
        mark=None,
        rule_text="fewer than 100 online",
        status="ok",
        last_value=245,
        last_checked_at=T0 - 60,
        channel_id=channel,
        samples=(200, 220, None, 245),
    )
    return dataclasses.replace(base, **changes)


def listed(rows: list[WatchRow]) -> list[Listed]:
    """What the Home pages and counts of ``rows`` (Watches.listing reads it so)."""
    return [
        Listed(r.watch_id, r.channel_id, r.status, r.muted_until is not None, bool(r.paused_reason))
        for r in rows
    ]


def home(rows: list[WatchRow], number: int = 0, notice=None) -> dict[str, Any]:
    """The Home at page ``number`` of ``rows``, rendered from the rows it asks for."""
    page = page_of(listed(rows), number)
    by_id = {r.watch_id: r for r in rows}
    return render_home(page, {i: by_id[i] for i in page.wanted}, now=T0, notice=notice)


def sections(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "text" in b]


def watch_ids(view: dict[str, Any]) -> list[int]:
    return [int(t.split("*", 2)[1][1:]) for t in sections(view) if t.startswith("*#")]


def button_map(view: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (e["action_id"], e["value"]): e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


# -- pages --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    channels=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=300),
    attention=st.integers(min_value=0, max_value=30),
)
def test_every_page_fits_and_every_watch_is_on_one_page(channels, attention):
    rows = [
        row(i + 1, f"C{c:04d}", status="firing" if i < attention else "ok")
        for i, c in enumerate(channels)
    ]
    first = page_of(listed(rows), 0)
    seen: list[int] = []
    for number in range(first.pages):
        page = page_of(listed(rows), number)
        assert page.number == number and 1 <= len(page.shown) <= MAX_PAGE_WATCHES
        view = home(rows, number, notice=NOTICE)  # the frame in full
        assert_view_within_limits(view)
        assert watch_ids(view) == [item.watch_id for item in page.shown]
        seen += watch_ids(view)
        # a page is as full as it may be: the next watch would not have fitted
        if number + 1 < first.pages:
            following = page_of(listed(rows), number + 1).shown[0]
            headings = len({item.channel_id for item in page.shown})
            extra = 2 + (1 if following.channel_id != page.shown[-1].channel_id else 0)
            used = 2 * len(page.shown) + headings
            assert len(page.shown) == MAX_PAGE_WATCHES or used + extra > 100 - FRAME_BLOCKS
    expected = sorted(rows, key=lambda r: (r.channel_id, r.watch_id))
    assert seen == [r.watch_id for r in expected]


def test_a_page_number_past_the_end_shows_the_last_page():
    rows = [row(i) for i in range(1, 101)]
    assert page_of(listed(rows), 99).number == page_of(listed(rows), 2).number == 2
    assert page_of(listed(rows), -5).number == 0


def test_a_channel_cut_by_a_page_is_continued_and_counted():
    rows = [row(i, "C0001") for i in range(1, 46)] + [row(i, "C0002") for i in range(46, 50)]
    first, second = page_of(listed(rows), 0), page_of(listed(rows), 1)
    assert (len(first.shown), first.more_in_last_channel, first.continued) == (40, 5, False)
    assert (second.more_in_last_channel, second.continued) == (0, True)
    first_text = blocks_to_text(home(rows, 0)["blocks"])
    assert "…and 5 more watches in #C0001 on the next page" in first_text
    assert "Page 1 of 2 · watches 1 to 40 of 49" in first_text
    second_text = blocks_to_text(home(rows, 1)["blocks"])
    assert "#C0001* (continued) · 45 watches" in second_text
    assert "#C0002* · 4 watches" in second_text
    assert "more watches in" not in second_text


def test_paging_buttons_carry_the_page_they_show():
    rows = [row(i) for i in range(1, 121)]
    middle = home(rows, 1)
    buttons = button_map(middle)
    assert (HOME_PREVIOUS_ACTION, '{"page":0}') in buttons
    assert (HOME_NEXT_ACTION, '{"page":2}') in buttons
    assert page_number(middle["private_metadata"]) == 1
    first = button_map(home(rows, 0))
    assert not any(action == HOME_PREVIOUS_ACTION for action, _ in first)
    single = home(rows[:3], 0)
    assert "Page 1" not in json.dumps(single)


# -- what a watch shows -------------------------------------------------------------------


def test_the_summary_counts_states_and_lists_what_needs_attention():
    rows = [
        row(1, status="firing"),
        row(2, status="error", channel="C0002"),
        row(3, status="pending"),
        row(4, muted_until=T0 + 600),
        row(5, status="firing", paused_reason="not_in_channel"),
    ]
    text = blocks_to_text(home(rows, 0)["blocks"])
    assert "*5 watches* in 2 channels · 🔴 2 firing · ⚠️ 1 in error · 🟡 1 pending" in text
    assert "🟢 1 OK · 🔇 1 muted · ⏸️ 1 paused" in text
    attention = text.split("*Needs attention*")[1].split("─")[0]
    assert "*#1*" in attention and "*#2*" in attention and "in #C0002" in attention
    assert "*#5*" not in attention  # paused: nothing will be posted until it is resumed


def test_needs_attention_names_the_first_ten():
    rows = [row(i, status="firing") for i in range(1, 15)]
    text = blocks_to_text(home(rows, 0)["blocks"])
    attention = text.split("*Needs attention*")[1].split("─")[0]
    assert attention.count("🔴") == 10 and "…and 4 more" in attention


def test_a_watch_shows_its_rule_state_count_sparkline_and_feed():
    watch = row(
        7,
        mark=1000,
        status="firing",
        last_value=12,
        last_push_at=T0 - 30,
        push_fed=True,
        samples=(500, 480, None, 12),
    )
    (text,) = [t for t in sections(home([watch], 0)) if t.startswith("*#7*")]
    assert text.startswith(
        "*#7* *Group 7* (`@TGS#group7`) · mark 1000\n🔴 firing · 12 online 1m ago"
    )
    assert "📡 push-fed, last callback 30s ago" in text
    assert "Rule: fewer than 100 online" in text
    assert "Recent counts: `██ ▁` min 12 · max 500" in text


def test_a_watch_never_checked_has_no_sparkline():
    fresh = row(1, last_value=None, last_checked_at=None, samples=())
    (text,) = [t for t in sections(home([fresh], 0)) if t.startswith("*#1*")]
    assert "not checked yet" in text and "Recent counts" not in text


@pytest.mark.parametrize(
    ("changes", "toggle", "label"),
    [
        ({}, HOME_MUTE_ACTION, "Mute 1h"),
        ({"muted_until": T0 + 60}, HOME_UNMUTE_ACTION, "Unmute"),
        ({"paused_reason": "is_archived"}, HOME_UNMUTE_ACTION, "Resume"),
    ],
)
def test_each_watch_has_its_buttons(changes, toggle, label):
    view = home([row(3, **changes)])
    buttons = button_map(view)
    assert buttons[(toggle, "3")]["text"]["text"] == label
    unwatch = buttons[(HOME_UNWATCH_ACTION, "3")]
    assert unwatch["style"] == "danger" and "watch #3" in unwatch["confirm"]["text"]["text"]
    assert (HOME_LOOKUP_ACTION, "lookup") in buttons


def test_text_from_tencent_and_users_is_escaped_and_cut():
    hostile = row(
        1,
        group_name=HOSTILE * 20,
        rule_text=HOSTILE * 50,
        last_error=HOSTILE * 100,
        muted_until=T0 + 60,
        mute_reason=HOSTILE,
        status="error",
    )
    view = home([hostile], 0)
    assert_view_within_limits(view)  # no live markup but dates, mentions and channels
    text = json.dumps(view)
    assert "&lt;!channel&gt;" in text and "Tom &amp; Jerry" in text
    assert all(len(o["text"]) <= 3000 for o in text_objects(view["blocks"]))


def test_a_notice_shows_at_the_top():
    view = home([row(1)], 0, notice=NOTICE)
    texts = [b["text"]["text"] for b in view["blocks"][:6] if b["type"] == "section"]
    assert texts[:2] == ["First.", "Second."] and "Never shown." not in json.dumps(view)


def test_an_empty_workspace_says_how_to_start():
    view = home([], 0)
    assert_view_within_limits(view)
    assert "No watches yet" in json.dumps(view) and (HOME_LOOKUP_ACTION, "lookup") in button_map(
        view
    )


def test_unavailable_escapes_and_keeps_the_lookup():
    view = render_home_unavailable("a <b> & c", notice=NOTICE)
    assert_view_within_limits(view)
    assert ":warning: a &lt;b&gt; &amp; c" in sections(view)
    assert (HOME_LOOKUP_ACTION, "lookup") in button_map(view)


# -- the modal, the channel's notice, and the values ---------------------------------------


def test_the_lookup_modal():
    modal = render_lookup_modal()
    assert_view_within_limits(modal)
    assert modal["callback_id"] == LOOKUP_CALLBACK
    assert len(modal["title"]["text"]) <= 24 and modal["submit"]["text"] == "Look up"
    inputs = [b for b in modal["blocks"] if b["type"] == "input"]
    assert [(b["block_id"], b["element"]["action_id"], b["optional"]) for b in inputs] == [
        (LOOKUP_GROUP_ID, LOOKUP_GROUP_ID, False),
        (LOOKUP_MARK, LOOKUP_MARK, True),
    ]
    assert "direct messages" in json.dumps(modal)


def test_a_change_from_the_home_says_so_in_its_channel():
    told = render_changed_from_home(
        message("<@U0ALICE> muted it.", [section("<@U0ALICE> muted it.")])
    )
    assert told.text == "<@U0ALICE> muted it. (from the App Home)"
    assert told.blocks[-1]["elements"][0]["text"] == "Changed from the bot's App Home."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"page":3}', 3),
        ('{"page":0}', 0),
        ('{"page":-1}', 0),
        ('{"page":"2"}', 0),
        ('{"page":true}', 0),
        ("[1]", 0),
        ("not json", 0),
        (None, 0),
        ("", 0),
    ],
)
def test_page_number(value, expected):
    assert page_number(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "x", "", "٣", "2147483648", "9" * 40])
def test_a_watch_button_value_that_is_not_a_watch_is_refused(value):
    with pytest.raises(ValueError, match="Not a watch button value"):
        parse_watch_value(value)


def test_a_watch_button_value():
    assert parse_watch_value("1") == 1 and parse_watch_value("2147483647") == 2147483647


def test_a_watch_removed_between_the_listing_and_its_row_is_left_out():
    rows = [row(1, "C0001"), row(2, "C0001"), row(3, "C0002")]
    page = page_of(listed(rows), 0)
    assert page.wanted == [1, 2, 3]
    view = render_home(page, {1: rows[0], 3: rows[2]}, now=T0)
    assert watch_ids(view) == [1, 3]
    assert_view_within_limits(view)
