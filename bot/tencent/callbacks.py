"""Tencent's webhook for audio-video groups: ``Group.CallbackOnMemberStateChange``.

Pure: signing, checking and reading one callback. No I/O, no clock (``now`` is given).

Tencent POSTs to the configured URL with ``SdkAppid``, ``CallbackCommand``,
``contenttype``, ``ClientIP`` and ``OptPlatform`` appended to its query string, and,
once a webhook authentication token is set (console, or ``v4/live_config/
set_callback_token``), ``RequestTime`` and ``Sign`` too:

    Sign = sha256(Token + RequestTime), lower-case hex

Source: Tencent Cloud's "第三方回调简介 > 安全问题" (Webhook Overview > Security
Considerations), https://cloud.tencent.com/document/product/269/117703, whose worked
example (Token ``xxxxyyyy``, RequestTime ``1669872112`` ->
``17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061``) is a test here.
The same page says a RequestTime more than one minute from now is to be refused
(replays), and every callback page says to check that ``SdkAppid`` is ours.

The body (https://cloud.tencent.com/document/product/269/76156)::

    {"CallbackCommand": "Group.CallbackOnMemberStateChange", "GroupId": "@TGS#2J4SZEAEL",
     "EventType": "Offline", "EventCause": "HeartbeatInterrupt",
     "MemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}]}

Online: ``Join`` (first entry) or ``HeartbeatRecover``; Offline: ``Quit`` (last exit)
or ``HeartbeatInterrupt`` (no heartbeat for about 20-30 s). One user on several
devices makes one event, so the events add up to the audience's moves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_SKEW",
    "MEMBER_STATE_CHANGE",
    "OK_ANSWER",
    "CallbackRefused",
    "MemberStateChange",
    "authenticate",
    "parse",
    "sign",
    "signed_query",
]

#: The one command the bot acts on; others are answered OK and ignored.
MEMBER_STATE_CHANGE = "Group.CallbackOnMemberStateChange"

#: Seconds a RequestTime may be from now (Tencent: "more than 1 minute: invalid").
MAX_SKEW = 60

#: What Tencent expects back, at once (it ignores the answer to an after-event callback).
OK_ANSWER = b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}'


class CallbackRefused(Exception):
    """A callback not to act on: ``status`` is the HTTP status to answer; the message
    says why, for the log (it never holds the token or the signature)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class MemberStateChange:
    """One callback: ``members`` accounts went ``event`` in ``group_id``."""

    group_id: str
    event: Literal["Online", "Offline"]
    cause: str
    members: int

    @property
    def delta(self) -> int:
        """The move of the audience this callback stands for."""
        return self.members if self.event == "Online" else -self.members


def sign(token: str, request_time: str) -> str:
    """Tencent's ``Sign`` for ``RequestTime``: lower-case hex SHA-256 of token + time."""
    return hashlib.sha256((token + request_time).encode()).hexdigest()


def signed_query(sdkappid: int, token: str | None, now: float) -> dict[str, str]:
    """The query string Tencent appends for this command (as the simulator sends it)."""
    query = {
        "SdkAppid": str(sdkappid),
        "CallbackCommand": MEMBER_STATE_CHANGE,
        "contenttype": "json",
        "ClientIP": "127.0.0.1",
        "OptPlatform": "RESTAPI",
    }
    if token:
        request_time = str(int(now))
        query["RequestTime"] = request_time
        query["Sign"] = sign(token, request_time)
    return query


def authenticate(query: Mapping[str, str], *, sdkappid: int, token: str | None, now: float) -> None:
    """Raise CallbackRefused unless ``query`` is a callback for our app, signed with
    ``token`` (when set) at a RequestTime within MAX_SKEW seconds of ``now``.

    401: no or wrong Sign, or a RequestTime that is missing, not a number, or stale.
    403: a valid request for another SdkAppid (checked after the signature, so an
    unsigned caller learns nothing).
    """
    if token:
        request_time = query.get("RequestTime", "")
        given = query.get("Sign", "")
        if not request_time or not given:
            raise CallbackRefused(401, "no Sign or RequestTime (is the token set in Tencent?)")
        if not hmac.compare_digest(sign(token, request_time).encode(), given.lower().encode()):
            raise CallbackRefused(401, "the Sign does not match TENCENT_IM_CALLBACK_TOKEN")
        try:
            sent_at = int(request_time)
        except ValueError:
            raise CallbackRefused(401, "RequestTime is not a Unix time") from None
        if abs(now - sent_at) > MAX_SKEW:
            raise CallbackRefused(
                401,
                f"RequestTime is {now - sent_at:+.0f} s from now (more than {MAX_SKEW} s: "
                "a replay, or a clock out of step)",
            )
    appid = query.get("SdkAppid", "")
    if appid != str(sdkappid):
        raise CallbackRefused(403, f"SdkAppid {appid[:20]!r} is not ours ({sdkappid})")


def parse(command: str, body: bytes) -> MemberStateChange | None:
    """The member-state change a callback carries; None for any other command (to be
    answered OK and ignored). A body that is not such a callback raises
    CallbackRefused(400)."""
    if command != MEMBER_STATE_CHANGE:
        return None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CallbackRefused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise CallbackRefused(400, "the body is not a JSON object")
    group_id, event, members = data.get("GroupId"), data.get("EventType"), data.get("MemberList")
    if not isinstance(group_id, str) or not group_id:
        raise CallbackRefused(400, "no GroupId")
    if event not in ("Online", "Offline"):
        raise CallbackRefused(400, f"EventType {str(event)[:20]!r} is neither Online nor Offline")
    if not isinstance(members, list):
        raise CallbackRefused(400, "MemberList is not an array")
    cause = data.get("EventCause")
    return MemberStateChange(
        group_id=group_id,
        event=event,
        cause=cause if isinstance(cause, str) else "",
        members=len(members),
    )
