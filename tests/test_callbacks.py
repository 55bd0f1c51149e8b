"""Tencent's member-state webhook, read and checked (bot/tencent/callbacks.py): pure."""

from __future__ import annotations

import json

import pytest

from bot.tencent.callbacks import (
    MAX_SKEW,
    MEMBER_STATE_CHANGE,
    CallbackRefused,
    MemberStateChange,
    authenticate,
    parse,
    sign,
    signed_query,
)

APP = 1400000000
TOKEN = "webhook-token"
NOW = 1_700_000_000.0


def test_sign_matches_tencents_worked_example():
    # cloud.tencent.com/document/product/269/117703, "安全问题"
    assert sign("xxxxyyyy", "1669872112") == (
        "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
    )


def test_signed_query_passes_authentication():
    query = signed_query(APP, TOKEN, NOW)
    assert query["CallbackCommand"] == MEMBER_STATE_CHANGE
    assert query["RequestTime"] == str(int(NOW))
    authenticate(query, sdkappid=APP, token=TOKEN, now=NOW + MAX_SKEW)


def test_unsigned_query_has_no_sign():
    query = signed_query(APP, None, NOW)
    assert "Sign" not in query and "RequestTime" not in query
    authenticate(query, sdkappid=APP, token=None, now=NOW)


def _refusal(query, *, token=TOKEN, now=NOW, sdkappid=APP):
    with pytest.raises(CallbackRefused) as caught:
        authenticate(query, sdkappid=sdkappid, token=token, now=now)
    return caught.value


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"Sign": "0" * 64}, 401),  # forged
        ({"Sign": sign("another-token", str(int(NOW)))}, 401),  # another app's token
        ({"Sign": ""}, 401),
        ({"RequestTime": str(int(NOW) + 1)}, 401),  # the Sign was for another time
        ({"SdkAppid": "1400000001"}, 403),  # signed, but not for our app
        ({"SdkAppid": ""}, 403),
    ],
)
def test_bad_callbacks_are_refused_with_the_right_status(change, status):
    query = {**signed_query(APP, TOKEN, NOW), **change}
    refusal = _refusal(query)
    assert refusal.status == status
    assert TOKEN not in str(refusal)


def test_missing_sign_or_time_is_401():
    query = signed_query(APP, TOKEN, NOW)
    for key in ("Sign", "RequestTime"):
        partial = {k: v for k, v in query.items() if k != key}
        assert _refusal(partial).status == 401


@pytest.mark.parametrize("skew", [MAX_SKEW + 1, -(MAX_SKEW + 1), 3600])
def test_stale_or_future_request_time_is_refused(skew):
    query = signed_query(APP, TOKEN, NOW)
    refusal = _refusal(query, now=NOW + skew)
    assert refusal.status == 401 and "RequestTime" in str(refusal)


def test_request_time_that_is_no_number_is_refused_even_when_signed():
    query = {**signed_query(APP, TOKEN, NOW), "RequestTime": "soon"}
    query["Sign"] = sign(TOKEN, "soon")
    assert _refusal(query).status == 401


def test_without_a_token_the_app_id_is_still_checked():
    query = {**signed_query(APP, None, NOW), "SdkAppid": "42"}
    assert _refusal(query, token=None).status == 403


def _body(**fields):
    base = {
        "CallbackCommand": MEMBER_STATE_CHANGE,
        "GroupId": "@TGS#live",
        "EventType": "Offline",
        "EventCause": "HeartbeatInterrupt",
        "MemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}],
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_parse_reads_the_documented_example():
    change = parse(MEMBER_STATE_CHANGE, _body())
    assert change == MemberStateChange("@TGS#live", "Offline", "HeartbeatInterrupt", 2)
    assert change.delta == -2
    online = parse(MEMBER_STATE_CHANGE, _body(EventType="Online", EventCause="Join"))
    assert online is not None and online.delta == 2


def test_other_commands_are_ignored_whatever_their_body():
    assert parse("Group.CallbackAfterNewMemberJoin", b"not even json") is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        _body(GroupId=None),
        _body(GroupId=""),
        _body(GroupId=7),
        _body(EventType="Sideways"),
        _body(EventType=None),
        _body(MemberList=None),
        _body(MemberList={"Member_Account": "x"}),
    ],
)
def test_malformed_member_state_changes_are_400(body):
    with pytest.raises(CallbackRefused) as caught:
        parse(MEMBER_STATE_CHANGE, body)
    assert caught.value.status == 400


def test_an_empty_member_list_moves_nothing():
    change = parse(MEMBER_STATE_CHANGE, _body(MemberList=[]))
    assert change is not None and change.delta == 0


def test_a_callbacks_sign_is_scrubbed_from_any_log_line():
    from bot.logs import redact

    query = "&".join(f"{k}={v}" for k, v in signed_query(APP, TOKEN, NOW).items())
    line = redact(f"POST /tencent/callback?{query} HTTP/1.1")
    assert "Sign=<redacted>" in line and sign(TOKEN, str(int(NOW))) not in line
    assert "RequestTime=" in line  # the rest stays readable
