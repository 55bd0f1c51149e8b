"""The commands ``/online`` understands, as frozen values: what the parser returns and
what the handlers, the watch commands and the rule engine take. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from bot.commands.durations import DAY, MINUTE

__all__ = [
    "DEFAULT_HISTORY_SECONDS",
    "DEFAULT_WITHIN_SECONDS",
    "MAX_REASON_CHARS",
    "MAX_THRESHOLD",
    "MAX_WATCH_ID",
    "CheckMembers",
    "Command",
    "DigestOff",
    "Help",
    "ListWatches",
    "Mute",
    "Query",
    "SetDigest",
    "ShowDigest",
    "ShowHistory",
    "Unmute",
    "Unwatch",
    "WatchDrop",
    "WatchThreshold",
]

#: The largest threshold a watch accepts.
MAX_THRESHOLD = 1_000_000
#: Watch IDs are database keys: positive 32-bit integers (INTEGER on PostgreSQL).
MAX_WATCH_ID = 2**31 - 1
#: A mute reason longer than this is refused.
MAX_REASON_CHARS = 300
#: ``drop`` compares with the count this long ago unless ``within`` says otherwise.
DEFAULT_WITHIN_SECONDS = 5 * MINUTE
#: ``history`` charts this long a time unless told otherwise.
DEFAULT_HISTORY_SECONDS = DAY


@dataclass(frozen=True, slots=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    group_id: str
    mark: int | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class CheckMembers:
    """``<groupId> is <accounts>``: which of these accounts are in the group now."""

    group_id: str
    accounts: tuple[str, ...]
    public: bool = False


@dataclass(frozen=True, slots=True)
class ShowHistory:
    """``history <groupId>``: a chart of the group's stored samples over the last ``seconds``."""

    group_id: str
    mark: int | None = None
    seconds: int = DEFAULT_HISTORY_SECONDS
    public: bool = False


@dataclass(frozen=True, slots=True)
class WatchThreshold:
    group_id: str
    direction: Literal["below", "above"]
    threshold: int
    for_seconds: int = 0
    recover: int | None = None
    mark: int | None = None
    repeat_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class WatchDrop:
    group_id: str
    percent: int
    within_seconds: int = DEFAULT_WITHIN_SECONDS
    mark: int | None = None
    repeat_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ListWatches:
    pass


@dataclass(frozen=True, slots=True)
class Unwatch:
    watch_id: int


@dataclass(frozen=True, slots=True)
class Mute:
    watch_id: int
    seconds: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Unmute:
    watch_id: int


@dataclass(frozen=True, slots=True)
class SetDigest:
    """``digest HH:MM [zone]``: this channel's daily digest at that local time; ``zone``
    an IANA name as the user typed it, checked (None: the requester's Slack zone, else UTC)."""

    hour: int
    minute: int
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class DigestOff:
    """``digest off``: no daily digest in this channel any more."""


@dataclass(frozen=True, slots=True)
class ShowDigest:
    """``digest``: this channel's digest setting, and how to change it."""


Command: TypeAlias = (
    Help
    | Query
    | CheckMembers
    | WatchThreshold
    | WatchDrop
    | ListWatches
    | Unwatch
    | Mute
    | Unmute
    | ShowHistory
    | SetDigest
    | DigestOff
    | ShowDigest
)
