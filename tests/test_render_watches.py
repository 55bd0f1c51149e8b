"""Watch command answers: what is watched, the channel's list within Slack's limits, notices."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from support.blockkit import assert_within_limits, mrkdwn

from bot.alerts.rules import Rule
from bot.render.blocks import Message
from bot.render.escape import escape_mrkdwn
from bot.render.watches import (
    MAX_LISTED_WATCHES,
    WatchRow,
    render_admins_only,
    render_muted,
    render_unmuted,
    render_unwatched,
    render_watch_created,
    render_watch_list,
)

G = "@TGS#a6I4ZUUGO"
T0 = 1657773110  # 2022-07-14 04:31:50 UTC
HOSTILE = ["<!channel>", "<https://evil.example|click>", "Tom & Jerry"]
RULE = Rule(kind="below", threshold=100, recover=120, for_seconds=300, repeat_seconds=3600)
RULE_TEXT = RULE.describe()


def row(i: int, **changes: Any) -> WatchRow:
    base = WatchRow(
        watch_id=i,
        group_id=f"@TGS#group{i}",
        group_name=f"Group {i}",
        mark=None,
        rule_text=RULE_TEXT,
        status="ok",
        last_value=245,
        last_checked_at=T0 - 180,
    )
    return dataclasses.replace(base, **changes)


def created(**changes: Any) -> Message:
    args: dict[str, Any] = {
        "watch_id": 12,
        "group_id": G,
        "group_name": "Math class",
        "rule_text": RULE_TEXT,
        "mark": None,
        "current": 245,
        "current_error": None,
        "channel_id": "C0123",
    }
    return render_watch_created(**{**args, **changes})


def test_watch_created() -> None:
    message = created(mark=1000)
    assert_within_limits(message)
    body = mrkdwn(message)
    assert "Watching *Math class* (`@TGS#a6I4ZUUGO`) (#12) (members with mark 1000)" in body
    assert RULE_TEXT in body
    assert "now 245 online" in body
    assert "<#C0123>" in body
    assert "/online unwatch 12" in body
    assert message.text == f"Watching Math class (#12): rule {RULE_TEXT}; now 245 online"


def test_watch_created_when_the_check_failed() -> None:
    message = created(current=None, current_error="<!channel> & down", channel_id="<!here>")
    assert_within_limits(message)
    body = mrkdwn(message)
    assert "could not check now: &lt;!channel&gt; &amp; down" in body
    assert "&lt;!here&gt;" in body
    assert "could not check now: &lt;!channel&gt; &amp; down" in message.text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_watch_created_escapes_names(hostile: str) -> None:
    message = created(group_name=hostile, group_id=hostile, rule_text=hostile)
    assert_within_limits(message)
    assert escape_mrkdwn(hostile) in mrkdwn(message)
    assert escape_mrkdwn(hostile) in message.text


def test_empty_watch_list() -> None:
    message = render_watch_list([], now=T0)
    assert_within_limits(message)
    expected = "This channel watches no groups yet. Try `/online watch @TGS#... below 100`."
    assert message.text == expected
    assert mrkdwn(message) == expected


def test_watch_list_states() -> None:
    rows = [
        row(1),
        row(2, status="pending"),
        row(3, status="firing", last_value=42),
        row(4, status="error", last_error="<!channel> went wrong", last_value=None),
        row(5, status="firing", muted_until=T0 + 3600, mute_reason="maintenance <!here>"),
        row(6, paused_reason="Tencent app <disabled> & gone"),
        row(7, last_checked_at=None, last_value=None, mark=1000, group_name=None),
        row(8, status="weird<>", last_change="muted by <@U1AB> 5m ago <!channel>"),
    ]
    message = render_watch_list(rows, now=T0)
    assert_within_limits(message)
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert len(sections) == 8
    assert sections[0].startswith("*#1* *Group 1* (`@TGS#group1`)")
    assert "🟢 ok · 245 online 3m ago" in sections[0]
    assert f"Rule: {RULE_TEXT}" in sections[0]
    assert "🟡 pending" in sections[1]
    assert "🔴 firing · 42 online 3m ago" in sections[2]
    assert "⚠️ error · no count 3m ago" in sections[3]
    assert "Last error: &lt;!channel&gt; went wrong" in sections[3]
    assert f"🔇 muted until <!date^{T0 + 3600}^" in sections[4]
    assert "(maintenance &lt;!here&gt;) · 🔴 firing" in sections[4]
    assert "⏸️ paused: Tencent app &lt;disabled&gt; &amp; gone" in sections[5]
    assert sections[6].startswith("*#7* `@TGS#group7` · mark 1000")
    assert "not checked yet" in sections[6]
    assert "❔ weird&lt;&gt;" in sections[7]
    assert "Last change: muted by <@U1AB> 5m ago &lt;!channel&gt;" in sections[7]
    assert message.text == "8 watches in this channel (all shown)"


def test_watch_list_of_100_stays_within_limits() -> None:
    rows = [row(i) for i in range(1, 101)]
    message = render_watch_list(rows, now=T0)
    assert_within_limits(message)
    sections = [b for b in message.blocks if b["type"] == "section"]
    assert len(sections) == MAX_LISTED_WATCHES
    assert "and 55 more" in mrkdwn(message)
    assert "100 watches" in message.text


def test_watch_list_of_huge_rows_shortens_then_shows_fewer() -> None:
    rows = [
        row(
            i,
            group_name="&" * 3000,
            group_id="<" * 3000,
            rule_text="&" * 3000,
            last_error="<" * 3000,
            last_change="&" * 3000,
            paused_reason="&" * 3000,
        )
        for i in range(1, 101)
    ]
    message = render_watch_list(rows, now=T0)
    assert_within_limits(message)
    sections = [b for b in message.blocks if b["type"] == "section"]
    assert 1 <= len(sections) < MAX_LISTED_WATCHES
    assert f"and {100 - len(sections)} more" in mrkdwn(message)
    assert "…" in sections[0]["text"]["text"]


def test_watch_list_shortens_before_dropping() -> None:
    rows = [row(i, last_error="e" * 300, last_change="c" * 200) for i in range(1, 41)]
    message = render_watch_list(rows, now=T0)
    assert_within_limits(message)
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert len(sections) == 40
    assert "not shown" not in mrkdwn(message)
    assert "e" * 300 not in sections[0]
    assert "…" in sections[0]


def test_watch_list_of_45_busy_watches_shows_them_all() -> None:
    rows = [
        row(
            i,
            group_id="@TGS#" + "a" * 43,
            group_name="名" * 60,
            mark=1000,
            status="firing",
            muted_until=T0 + 3600,
            mute_reason="maintenance window " * 10,
            last_error="e" * 300,
            last_change="muted by <@U0123ABCD> 5m ago " * 5,
        )
        for i in range(1, MAX_LISTED_WATCHES + 1)
    ]
    message = render_watch_list(rows, now=T0)
    assert_within_limits(message)
    assert len([b for b in message.blocks if b["type"] == "section"]) == MAX_LISTED_WATCHES
    assert "not shown" not in mrkdwn(message)


# --------------------------------------------------------------------------- last change


@pytest.mark.parametrize(
    ("by", "ago_seconds", "expected"),
    [
        ("U1AB", 300, "Last change: muted by <@U1AB> 5m ago"),
        ("U1AB", 59, "Last change: muted by <@U1AB> just now"),
        ("U1AB", 90061, "Last change: muted by <@U1AB> 1d 1h 1m ago"),
        ("online-bot", 120, "Last change: muted by online-bot 2m ago"),
        ("<!channel>", 120, "Last change: muted by &lt;!channel&gt; 2m ago"),
        ("S1AB", 120, "Last change: muted by S1AB 2m ago"),  # changes are made by users
    ],
)
def test_watch_list_last_change_from_data(by: str, ago_seconds: int, expected: str) -> None:
    changed = row(1, last_change="muted", last_change_by=by, last_change_at=T0 - ago_seconds)
    message = render_watch_list([changed], now=T0)
    assert_within_limits(message)
    assert expected in mrkdwn(message)


# --------------------------------------------------------------------------- notices


def notice_text(message: Message) -> str:
    assert len(message.blocks) == 1
    assert message.blocks[0]["type"] == "section"
    assert message.blocks[0]["text"]["text"] == message.text
    return message.text


def test_unwatched_notice() -> None:
    message = render_unwatched(actor="U1AB", group_id=G, mark=None, watch_id=3)
    assert_within_limits(message)
    assert notice_text(message) == f"<@U1AB> stopped watching `{G}` (#3)."


def test_muted_notice() -> None:
    message = render_muted(
        actor="U1AB", group_id=G, mark=1000, watch_id=3, until=T0 + 7200, reason="deploy <!here>"
    )
    assert_within_limits(message)
    assert notice_text(message) == (
        f"<@U1AB> muted `{G}` (mark 1000) (#3) until <!date^{T0 + 7200}^"
        "{date_short_pretty} {time}|2022-07-14 06:31 UTC> (deploy &lt;!here&gt;). "
        "It is still checked; alerts resume after."
    )
    plain = render_muted(actor="U1AB", group_id=G, mark=None, watch_id=3, until=T0, reason=None)
    assert "until <!date^" in plain.text
    assert "(" not in plain.text.split(">")[-1]


@pytest.mark.parametrize(("resumed", "word"), [(False, "unmuted"), (True, "resumed")])
def test_unmuted_notice(resumed: bool, word: str) -> None:
    message = render_unmuted(actor="U1AB", group_id=G, mark=None, watch_id=3, resumed=resumed)
    assert_within_limits(message)
    assert notice_text(message) == f"<@U1AB> {word} `{G}` (#3)."


@pytest.mark.parametrize("hostile", HOSTILE)
def test_notices_escape_group_ids_and_actors(hostile: str) -> None:
    for message in (
        render_unwatched(actor=hostile, group_id=hostile, mark=None, watch_id=3),
        render_muted(
            actor=hostile, group_id=hostile, mark=None, watch_id=3, until=T0, reason=hostile
        ),
        render_unmuted(actor=hostile, group_id=hostile, mark=None, watch_id=3, resumed=False),
    ):
        assert_within_limits(message)
        assert escape_mrkdwn(hostile) in message.text


def test_admins_only_mentions_users_and_user_groups() -> None:
    message = render_admins_only("create watches", frozenset({"U2AB", "S1AB", "<!channel>"}))
    body = mrkdwn(message)
    assert body == (
        ":warning: Only the watch admins may create watches (WATCH_ADMINS). Ask one of them: "
        "&lt;!channel&gt;, <!subteam^S1AB>, <@U2AB>."
    )
    assert message.text == body.removeprefix(":warning: ")
