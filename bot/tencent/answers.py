"""Reading Tencent's answers: a field Tencent documents is there, or the answer is
malformed (a :class:`TransportError`, retried like any), never zero or empty.

Each reader takes the decoded JSON of an OK answer and returns the data the
client hands on. Pure code.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from bot.tencent.errors import ApiError, TransportError, api_error
from bot.tencent.models import GroupInfo, Member

__all__ = [
    "group_infos",
    "is_int",
    "members_page",
    "online_count",
    "present_accounts",
    "request_id",
]


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (Python's bool is an int, JSON's true is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def request_id(data: dict[str, Any]) -> str:
    return str(data.get("RequestId", ""))


def online_count(data: dict[str, Any]) -> int:
    count = data.get("OnlineMemberNum")
    if not is_int(count) or count < 0:
        raise TransportError(
            "Tencent's answer had no online count (OnlineMemberNum); try again in a minute."
        )
    return count


def present_accounts(data: dict[str, Any]) -> set[str]:
    found = data.get("Member_Account")
    if not isinstance(found, list):
        raise TransportError(
            "Tencent's answer about the members was incomplete (no Member_Account); try again."
        )
    return {str(account) for account in found}


def members_page(data: dict[str, Any]) -> tuple[list[Member], int]:
    """One get_members page: its members and ``NextTimestamp`` (0 on the last page).

    ``MemberList`` must be an array and ``NextTimestamp`` an integer: an answer
    without them is malformed, not an empty group. A member without JoinTime keeps 0
    (shown as 1970): it changes no count. Entries without an account cannot be named
    and are skipped.
    """
    raw, cursor = data.get("MemberList"), data.get("NextTimestamp")
    if not isinstance(raw, list) or not is_int(cursor):
        missing = "member list (MemberList)" if not isinstance(raw, list) else "page cursor"
        raise TransportError(f"Tencent's member list page had no {missing}; try again in a minute.")
    members: list[Member] = []
    add = members.append
    for item in raw:
        if not isinstance(item, dict):
            continue
        account = item.get("Member_Account")
        if not account:
            continue
        nickname, avatar = item.get("NickName"), item.get("Avatar")
        join_time = item.get("JoinTime")
        add(
            Member(  # the strings and integer JSON gives are taken as they are
                account if type(account) is str else str(account),
                nickname if type(nickname) is str else str(nickname or ""),
                avatar if type(avatar) is str else str(avatar or ""),
                join_time if type(join_time) is int or is_int(join_time) else 0,
            )
        )
    return members, cursor


def group_infos(data: dict[str, Any], ids: list[str]) -> dict[str, GroupInfo | ApiError]:
    """get_group_info's entries for ``ids``. Each has its own ErrorCode; an OK one has a
    Type and a Name. An answer without an entry like that for every ID is malformed."""
    found: dict[str, GroupInfo | ApiError] = {}
    entries = data.get("GroupInfo")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("GroupId") not in ids:
            continue
        group_id, code = str(entry["GroupId"]), entry.get("ErrorCode")
        name, kind = entry.get("Name"), entry.get("Type")
        if not is_int(code):
            continue
        if code:
            found[group_id] = api_error(code, str(entry.get("ErrorInfo", "")), request_id(data))
        elif isinstance(name, str) and isinstance(kind, str) and kind:
            found[group_id] = GroupInfo(group_id, name, kind)
    if any(group_id not in found for group_id in ids):
        raise TransportError("Tencent's answer about the groups was incomplete; try again.")
    return found
