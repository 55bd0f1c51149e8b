"""Alert messages: hostile text shown literally, the right buttons, Slack's limits."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from support.blockkit import assert_within_limits, buttons, mrkdwn, no_live_markup

from bot.alerts.rules import Reason, Rule
from bot.render.alerts import (
    ACK_ACTION,
    MUTE_ACTION,
    UNWATCH_ACTION,
    AlertView,
    alert_button_value,
    alert_metadata,
    parse_alert_button_value,
    render_error_alert,
    render_error_original_recovered,
    render_firing,
    render_recovered_reply,
    render_resolved_original,
    render_resolved_reply,
    sparkline,
)
from bot.render.blocks import Message
from bot.render.escape import escape_mrkdwn
from bot.render.text import blocks_to_text

G = "@TGS#a6I4ZUUGO"
T0 = 1657773110  # 2022-07-14 04:31:50 UTC
HOSTILE = ["<!channel>", "<https://evil.example|click>", "Tom & Jerry"]
RULE = Rule(kind="below", threshold=100, recover=120, for_seconds=300, repeat_seconds=3600)
RULE_TEXT = RULE.describe()


def view(**changes: Any) -> AlertView:
    base = AlertView(
        watch_id=12,
        group_id=G,
        group_name="Math class",
        mark=None,
        rule_text=RULE_TEXT,
        value=42,
        since=T0,
        now=T0 + 12 * 60 + 5,
        samples=(150, 140, None, 120, 90, 60, 42),
        acknowledged_by=None,
        acknowledged_at=None,
        muted_until=None,
        error=None,
        incident_id="inc-7f3a",
        repeat_seconds=3600,
    )
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------- helpers


def all_alert_messages(v: AlertView) -> list[Message]:
    return [
        render_firing(v, reason=Reason.FIRST_FIRING),
        render_resolved_reply(v, fired_for=23 * 60),
        render_resolved_original(v, fired_for=23 * 60, resolved_at=T0 + 23 * 60),
        render_error_alert(v),
        render_recovered_reply(v),
        render_error_original_recovered(v, recovered_at=T0 + 30 * 60),
    ]


# --------------------------------------------------------------------------- sparkline


@pytest.mark.parametrize(
    ("values", "width", "expected"),
    [
        ([], 20, ""),
        ([None, None], 20, "  "),
        ([5, 5, 5], 20, "▄▄▄"),
        ([7], 20, "▄"),
        ([0, 1, 2, 3, 4, 5, 6, 7], 20, "▁▂▃▄▅▆▇█"),
        ([7, 6, 5, 4, 3, 2, 1, 0], 20, "█▇▆▅▄▃▂▁"),
        ([10, None, 20], 20, "▁ █"),
        ([3, None, 3], 20, "▄ ▄"),
        ([0, 100, 50], 20, "▁█▅"),  # 3.5 of 7 rounds up
        (list(range(30)), 5, "▁▃▅▆█"),  # the last 5 (25..29) scaled among themselves
        ([1, 2, 3], 0, ""),
    ],
)
def test_sparkline(values: list[int | None], width: int, expected: str) -> None:
    assert sparkline(values, width) == expected


def test_sparkline_default_width_is_20() -> None:
    line = sparkline(list(range(100)))
    assert len(line) == 20
    assert line[0] == "▁"
    assert line[-1] == "█"


def test_sparkline_negative_and_huge_values() -> None:
    assert sparkline([-5, 0, 5]) == "▁▅█"
    assert sparkline([0, 10**12]) == "▁█"


# --------------------------------------------------------------------------- firing


def test_firing_message() -> None:
    message = render_firing(view(mark=1000), reason=Reason.FIRST_FIRING)
    assert_within_limits(message)
    header = message.blocks[0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🚨 Audience alert: Math class", "emoji": True},
    }
    body = mrkdwn(message)
    assert "*Math class* (`@TGS#a6I4ZUUGO`)" in body
    assert RULE_TEXT in body
    assert "*Online now*\n42" in body
    assert f"<!date^{T0}^" in body
    assert "(for 12m)" in body
    assert "`█▇ ▆▄▂▁` min 42 · max 150" in body
    assert "*Mark*\n1000" in body
    assert "#12" in body
    assert "First alert" in body
    assert "Acknowledged" not in body
    assert message.text == (
        "Audience alert: Math class: 42 online, rule: fewer than 100 online for 5m "
        "(resolves at 120 or more), reminding every 1h"
    )
    shown = blocks_to_text(message.blocks)
    assert "[Acknowledge]  [Mute 1h]  [Unwatch]" in shown


def test_firing_buttons_carry_watch_and_incident() -> None:
    message = render_firing(view(), reason="first_firing")
    found = buttons(message)
    assert list(found) == [ACK_ACTION, MUTE_ACTION, UNWATCH_ACTION]
    for button in found.values():
        assert json.loads(button["value"]) == {"w": 12, "i": "inc-7f3a"}
        assert parse_alert_button_value(button["value"]) == (12, "inc-7f3a")
    assert found[ACK_ACTION]["text"]["text"] == "Acknowledge"
    assert found[MUTE_ACTION]["text"]["text"] == "Mute 1h"
    unwatch = found[UNWATCH_ACTION]
    assert unwatch["style"] == "danger"
    confirm = unwatch["confirm"]
    assert set(confirm) == {"title", "text", "confirm", "deny", "style"}
    assert "Math class" in confirm["text"]["text"]
    assert "#12" in confirm["text"]["text"]


@pytest.mark.parametrize(
    "value",
    [
        '{"w": 0, "i": "x"}',
        '{"w": -1, "i": "x"}',
        '{"w": 2147483648, "i": "x"}',
        '{"w": 99999999999999999999999, "i": "x"}',
        '{"w": true, "i": "x"}',
        '{"w": 1.5, "i": "x"}',
        '{"w": 1}',
        "[1]",
        "nonsense",
    ],
)
def test_button_values_out_of_range_or_shape_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="Not an alert button value"):
        parse_alert_button_value(value)


def test_the_largest_watch_id_fits_a_button() -> None:
    assert parse_alert_button_value('{"w": 2147483647, "i": "x"}') == (2**31 - 1, "x")


def test_acknowledged_firing_has_no_ack_button() -> None:
    message = render_firing(
        view(acknowledged_by="U0123ABC", acknowledged_at=T0 + 60), reason=Reason.REPEAT_ELAPSED
    )
    assert_within_limits(message)
    assert list(buttons(message)) == [MUTE_ACTION, UNWATCH_ACTION]
    body = mrkdwn(message)
    assert f"Acknowledged by <@U0123ABC> at <!date^{T0 + 60}^" in body


def test_acknowledged_by_something_that_is_not_a_user_id_is_escaped() -> None:
    message = render_firing(view(acknowledged_by="<!channel>", acknowledged_at=None), reason="x")
    body = mrkdwn(message)
    assert "Acknowledged by &lt;!channel&gt;" in body
    assert ACK_ACTION not in buttons(message)
    no_live_markup(body)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (Reason.FIRST_FIRING, "First alert"),
        (Reason.REPEAT_ELAPSED, "Still firing (repeat every 1h)"),
        (Reason.MUTE_ENDED, "Reminder: the mute ended while this was still firing"),
        ("mute_ended", "Reminder: the mute ended while this was still firing"),
        ("<!here>_thing", "&lt;!here&gt; thing"),
    ],
)
def test_firing_reason_line(reason: str, expected: str) -> None:
    message = render_firing(view(), reason=reason)
    context = [b for b in message.blocks if b["type"] == "context"]
    assert expected in context[0]["elements"][0]["text"]
    no_live_markup(mrkdwn(message))


def test_repeat_without_interval() -> None:
    message = render_firing(view(repeat_seconds=None), reason=Reason.REPEAT_ELAPSED)
    assert "Still firing" in mrkdwn(message)
    assert "repeat every" not in mrkdwn(message)


def test_firing_while_muted_says_until_when() -> None:
    message = render_firing(view(muted_until=T0 + 3600), reason=Reason.FIRST_FIRING)
    assert f"Muted until <!date^{T0 + 3600}^" in mrkdwn(message)
    expired = render_firing(view(muted_until=T0), reason=Reason.MUTE_ENDED)
    assert "Muted until" not in mrkdwn(expired)


def test_firing_with_unknown_value_and_no_history() -> None:
    message = render_firing(view(value=None, since=None, samples=()), reason="first_firing")
    assert_within_limits(message)
    body = mrkdwn(message)
    assert "*Online now*\nunknown" in body
    assert "Recent counts" not in body
    assert "Since" not in body
    assert "unknown online" in message.text


def test_group_without_name_shows_its_id() -> None:
    message = render_firing(view(group_name=None), reason="first_firing")
    assert message.blocks[0]["text"]["text"] == f"🚨 Audience alert: {G}"
    assert f"*Group*\n`{G}`" in mrkdwn(message)
    assert message.text.startswith(f"Audience alert: {G}: 42 online")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_group_names_show_literally_everywhere(hostile: str) -> None:
    v = view(group_name=hostile, error=f"Tencent said {hostile}")
    for message in all_alert_messages(v):
        assert_within_limits(message)
        body = mrkdwn(message)
        if message.blocks[0]["type"] == "header":
            assert hostile in message.blocks[0]["text"]["text"]  # plain_text: never parsed
        if "Resolved:" not in body and "works again:" not in body:  # not the thread replies
            assert escape_mrkdwn(hostile) in body
        assert escape_mrkdwn(hostile) in message.text
        assert hostile not in message.text or hostile == escape_mrkdwn(hostile)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_group_ids_rules_and_errors(hostile: str) -> None:
    v = view(group_id=hostile + "`", group_name=None, rule_text=hostile, error=hostile)
    for message in all_alert_messages(v):
        assert_within_limits(message)
        assert escape_mrkdwn(hostile) in mrkdwn(message)


def test_header_is_cut_to_150() -> None:
    message = render_firing(view(group_name="x" * 5000), reason="first_firing")
    header = message.blocks[0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert header.startswith("🚨 Audience alert: xxx")
    assert_within_limits(message)


def test_huge_everything_stays_within_limits() -> None:
    v = view(
        group_id="&" * 5000,
        group_name="<" * 5000,
        rule_text="&" * 5000,
        error=">" * 50_000,
        acknowledged_by="&" * 5000,
        acknowledged_at=T0,
        samples=tuple(range(1000)),
        incident_id="i" * 100,
    )
    for message in all_alert_messages(v):
        assert_within_limits(message)
        assert len(message.text) <= 2000


def test_control_characters_stay_on_one_line() -> None:
    v = view(group_name="evil\n*fake line*\x07", error="line1\nline2")
    for message in all_alert_messages(v):
        dumped = json.dumps(message.blocks, ensure_ascii=False)
        assert "\x07" not in dumped
        assert "evil\n" not in dumped
        assert "\n" not in message.text


def test_an_incident_id_too_long_for_a_button_drops_the_buttons() -> None:
    message = render_firing(view(incident_id="x" * 3000), reason="first_firing")
    assert buttons(message) == {}
    assert_within_limits(message)


# --------------------------------------------------------------------------- resolved


def test_resolved_reply() -> None:
    message = render_resolved_reply(view(value=130), fired_for=23 * 60 + 10)
    assert_within_limits(message)
    assert mrkdwn(message) == (f"✅ Resolved: 130 online (rule: {RULE_TEXT}). Fired for 23m.")
    assert "Math class" in message.text
    assert "130 online" in message.text
    assert "Fired for 23m" in message.text
    assert buttons(message) == {}


def test_resolved_original_keeps_only_unwatch() -> None:
    v = view(value=130, acknowledged_by="U1AB", acknowledged_at=T0 + 60, muted_until=T0 + 9999)
    message = render_resolved_original(v, fired_for=23 * 60, resolved_at=T0 + 23 * 60)
    assert_within_limits(message)
    assert message.blocks[0]["text"]["text"] == "✅ Resolved audience alert: Math class"
    assert list(buttons(message)) == [UNWATCH_ACTION]
    body = mrkdwn(message)
    assert f"Resolved at <!date^{T0 + 23 * 60}^" in body
    assert "after 23m" in body
    assert "*Online*\n130" in body
    assert "Acknowledged by <@U1AB>" in body  # who acknowledged stays on record
    assert "Muted until" not in body
    assert "Resolved" in message.text
    assert "130 online" in message.text


# --------------------------------------------------------------------------- errors


def test_error_alert() -> None:
    v = view(error="Tencent refused the request: 70001 <bad usersig> & more", value=42)
    message = render_error_alert(v)
    assert_within_limits(message)
    body = mrkdwn(message)
    assert (
        "⚠️ Cannot check *Math class* (`@TGS#a6I4ZUUGO`): Tencent refused the request: "
        "70001 &lt;bad usersig&gt; &amp; more"
    ) in body
    assert "unwatch it" in body  # what to do
    assert "*Last count*\n42" in body
    assert "Failing since" in body
    assert list(buttons(message)) == [MUTE_ACTION, UNWATCH_ACTION]
    for button in buttons(message).values():
        assert json.loads(button["value"]) == {"w": 12, "i": "inc-7f3a"}
    assert message.text == (
        "Cannot check Math class: Tencent refused the request: 70001 &lt;bad usersig&gt; &amp; more"
    )


def test_error_alert_without_error_text_or_count() -> None:
    message = render_error_alert(view(error=None, value=None))
    assert_within_limits(message)
    assert "the check failed" in mrkdwn(message)
    assert "Last count" not in mrkdwn(message)


def test_recovered_reply() -> None:
    message = render_recovered_reply(view(value=130, since=T0, now=T0 + 23 * 60))
    assert_within_limits(message)
    assert mrkdwn(message) == (
        f"✅ Checking works again: 130 online (rule: {RULE_TEXT}). It failed for 23m."
    )
    assert "Math class" in message.text
    assert "130 online" in message.text


def test_error_original_recovered() -> None:
    v = view(value=130, since=T0, error="<!channel> timeout")
    message = render_error_original_recovered(v, recovered_at=T0 + 30 * 60)
    assert_within_limits(message)
    body = mrkdwn(message)
    assert "Checking *Math class* (`@TGS#a6I4ZUUGO`) works again" in body
    assert "Was: &lt;!channel&gt; timeout" in body
    assert f"Recovered at <!date^{T0 + 30 * 60}^" in body
    assert "after 30m" in body
    assert list(buttons(message)) == [UNWATCH_ACTION]
    assert "works again" in message.text


# --------------------------------------------------------------------------- values, metadata


def test_button_value_round_trip_and_refusals() -> None:
    value = alert_button_value(3, "abc")
    assert value == '{"w":3,"i":"abc"}'
    assert parse_alert_button_value(value) == (3, "abc")
    for bad in ("", "[]", "{}", '{"w":"3","i":"a"}', '{"w":true,"i":"a"}', '{"w":1}', "x"):
        with pytest.raises(ValueError):
            parse_alert_button_value(bad)


def test_alert_metadata_shape() -> None:
    assert alert_metadata("inc-1", 12, "firing") == {
        "event_type": "online_bot_alert",
        "event_payload": {"incident_id": "inc-1", "watch_id": 12, "kind": "firing"},
    }
    json.dumps(alert_metadata("inc-1", 12, "firing"))
