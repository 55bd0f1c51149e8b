"""What the Tencent client returns: plain frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "COMMUNITY",
    "COMMUNITY_ID_PREFIX",
    "COUNTABLE_GROUP_TYPES",
    "LOWER_EDITION_CAP",
    "MEMBER_CHECK_TYPES",
    "MEMBER_LIST_CAP",
    "SUPPORTED_GROUP_TYPES",
    "GroupInfo",
    "Member",
    "MemberCheck",
    "OnlineMembers",
    "Partial",
    "is_community",
]

#: get_members returns at most the 1,000 latest members: a list this long is a lower bound.
MEMBER_LIST_CAP = 1000
#: Editions below Pro return at most the 30 latest members.
LOWER_EDITION_CAP = 30
#: Group types whose online list Tencent serves (others answer 10007).
SUPPORTED_GROUP_TYPES = frozenset({"AVChatRoom", "Community"})
#: Group types Tencent counts online members of. Community groups on their own endpoint;
#: the others except AVChatRoom only on Pro or above with "Group Member Online Status".
COUNTABLE_GROUP_TYPES = frozenset(
    {"AVChatRoom", "Community", "Public", "Private", "Work", "ChatRoom", "Meeting"}
)
#: Group types check_members answers for (AVChatRoom only, Pro or above).
MEMBER_CHECK_TYPES = frozenset({"AVChatRoom"})
COMMUNITY = "Community"
#: Every Community group's ID starts with this (auto-assigned ones, and custom ones must).
COMMUNITY_ID_PREFIX = "@TGS#_"


def is_community(group_id: str, group_type: str | None = None) -> bool:
    """Whether the group is a Community: by its type when known, else by its ID's prefix."""
    if group_type:
        return group_type == COMMUNITY
    return group_id.startswith(COMMUNITY_ID_PREFIX)


@dataclass(frozen=True, slots=True)
class Member:
    account: str
    nickname: str
    avatar: str
    join_time: int  # unix seconds

    def as_dict(self) -> dict[str, object]:
        return {
            "account": self.account,
            "nickname": self.nickname,
            "avatar": self.avatar,
            "join_time": self.join_time,
        }


class Partial(StrEnum):
    """Why the pages of an online list stopped before Tencent said the list was over."""

    REPEATED_CURSOR = "repeated_cursor"
    EMPTY_PAGES = "empty_pages"
    PAGE_LIMIT = "page_limit"

    @property
    def explanation(self) -> str:
        """Why, in words, to follow "Tencent stopped paging: "."""
        return _PARTIAL_EXPLANATIONS[self]


_PARTIAL_EXPLANATIONS = {
    Partial.REPEATED_CURSOR: "it sent a page cursor it had already sent",
    Partial.EMPTY_PAGES: "it sent empty pages that still pointed to more",
    Partial.PAGE_LIMIT: "the list did not end within the page limit",
}


@dataclass(frozen=True, slots=True)
class OnlineMembers:
    """The online list of one group, every page followed.

    ``capped``: 1,000 or more members came back, so the list is a lower bound.
    ``edition_limited``: exactly 30 and no further page, which is what a lower
    edition returns whatever the audience: members may be hidden.
    ``partial``: Tencent's paging went wrong (see ``Partial``) and the walk stopped
    with the members gathered so far: the list is a lower bound.
    """

    group_id: str
    mark: int | None
    members: tuple[Member, ...]
    pages: int
    fetched_at: float  # unix seconds, when the last page arrived
    partial: Partial | None = None

    @property
    def capped(self) -> bool:
        return len(self.members) >= MEMBER_LIST_CAP

    @property
    def edition_limited(self) -> bool:
        return len(self.members) == LOWER_EDITION_CAP and self.pages == 1


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group_id: str
    name: str
    type: str

    @property
    def supports_online_list(self) -> bool:
        return self.type in SUPPORTED_GROUP_TYPES

    @property
    def countable(self) -> bool:
        return self.type in COUNTABLE_GROUP_TYPES

    @property
    def supports_member_check(self) -> bool:
        return self.type in MEMBER_CHECK_TYPES


@dataclass(frozen=True, slots=True)
class MemberCheck:
    """Which of the asked accounts are in the group now (check_members: 40 s granularity,
    and it sees members beyond the list's 1,000 cap). Both tuples keep the asked order."""

    group_id: str
    present: tuple[str, ...]
    absent: tuple[str, ...]
    checked_at: float  # unix seconds
