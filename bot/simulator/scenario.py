"""Scenarios for the Tencent Cloud Chat simulator: pure data, curves and members.

A scenario says which app the simulator pretends to be, which groups exist and
how many people are online in each over time. Nothing here does I/O except
``load_scenario``, which reads one YAML file.

Scenario YAML format (every key optional except ``groups[].group_id`` and
``groups[].name``; unknown keys are rejected so typos do not pass silently)::

    sdkappid: 1400000000          # the SDKAppID the simulator answers to
    secret_key: "5bd2...3b5e"     # key used to verify UserSigs
    admin: administrator          # the App admin identifier
    rate_limit: 200               # calls per second, per API
    edition: pro                  # pro | lower (lower: at most the 30 latest members)
    online_status: true           # "Group Member Online Status" enabled: non-AV groups counted
    cache_seconds: 40             # get_members / check_members snapshot refresh; 0 = live
    community_refresh_seconds: 240  # Community count refresh (million_group API); 0 = live
    page_size: 500                # members per get_members page
    seed: 0                       # seeds who leaves when an audience shrinks
    faults:
      latency_ms: 0               # added before every answer
      http_502_rate: 0.0          # share of requests answered HTTP 502 (HTML body)
      malformed_rate: 0.0         # share answered HTTP 200 with a body that is not JSON
      missing_fields_rate: 0.0    # share of OK answers sent without their fields
                                  # (OnlineMemberNum, MemberList and NextTimestamp, GroupInfo)
      repeated_cursor_rate: 0.0   # share of get_members pages after the first whose
                                  # NextTimestamp repeats the cursor they were asked with
      empty_page_rate: 0.0        # share of get_members pages after the first answered
                                  # empty, with a new cursor to the same place
      slow_rate: 0.0              # share answered after an extra slow_ms
      slow_ms: 4000
      seed: 0                     # seeds the fault dice
    groups:
      - group_id: "@TGS#demo-small"
        name: Office Hours
        type: AVChatRoom          # AVChatRoom (default), Community, Public, Private, Work,
                                  # ChatRoom, Meeting
        steady: 12                # exactly one audience curve per group, see below
        marks: {1000: 0.1}        # share of members carrying mark 1000 (marks >= 1000)
        seed: 3                   # optional; defaults to a hash of group_id

Audience curves, evaluated at ``t`` = seconds since the simulator started:

- ``steady: N`` -- N members all the time;
- ``ramp: {from: A, to: B, over: S}`` -- from A to B linearly over S seconds
  (one step per second), then B;
- ``drop: {from: A, to: B, at: S, recover_at: R}`` -- A until S, then B;
  back to A at R when ``recover_at`` is given;
- ``walk: {start: A, step: D, min: L, max: H, seed: X, every: 10}`` -- a
  deterministic random walk: every ``every`` seconds it moves by a whole number
  in [-D, D], clamped to [L, H].

A curve is a start value plus change points (``changes()``): the simulator
replays them in order, so the same accounts stay online from call to call and
people who join later have later join times.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bot.tencent.models import Member

__all__ = [
    "DEMO_ADMIN",
    "DEMO_SDKAPPID",
    "DEMO_SECRET_KEY",
    "GROUP_TYPES",
    "NICKNAMES",
    "Audience",
    "Curve",
    "Drop",
    "EventRun",
    "Faults",
    "GroupSpec",
    "Ramp",
    "Scenario",
    "ScenarioError",
    "Steady",
    "Walk",
    "WireMember",
    "avatar_url",
    "has_mark",
    "load_scenario",
    "make_member",
    "wire_member",
]

DEMO_SDKAPPID = 1400000000
#: The test-vector key from tencent-rest.md: public, for demos only.
DEMO_SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
DEMO_ADMIN = "administrator"
GROUP_TYPES = frozenset(
    {"AVChatRoom", "Community", "Public", "Private", "Work", "ChatRoom", "Meeting"}
)
EDITIONS = frozenset({"pro", "lower"})

#: Nicknames handed out in join order. The hostile ones sit in the first twelve so
#: that even a small group shows them: the bot must escape them for Slack.
NICKNAMES: tuple[str, ...] = (
    "Alice Chen",
    "<!channel>",
    "Bob Martin",
    "<https://evil.example|click me>",
    "Chloé Dubois",
    "Tom & Jerry",
    "小明",
    "*bold*",
    "",
    "🎸 Rocker",
    "<@U024BE7LH>",
    "_italic_ ~strike~ `code`",
    "Dmitri Ivanov",
    "Eve",
    "Fatima Zahra",
    "Gao Yan",
    "Hiro Tanaka",
    "Ines Garcia",
    "Jonas Berg",
    "Kofi Mensah",
    "Lena Novak",
    "Mateo Rossi",
    "Nadia Petrova",
    "Oscar Lindqvist",
)


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the bad field."""


def _check(ok: bool, where: str, problem: str) -> None:
    if not ok:
        raise ScenarioError(f"{where}: {problem}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True, slots=True)
class Steady:
    """The same audience all the time."""

    count: int

    def __post_init__(self) -> None:
        _check(_is_int(self.count) and self.count >= 0, "steady", "must be an integer >= 0")

    @property
    def initial(self) -> int:
        return self.count

    def changes(self) -> Iterator[tuple[float, int]]:
        """(seconds since start, new audience) for every change, in time order."""
        return iter(())

    def value(self, t: float) -> int:
        return self.count


@dataclass(frozen=True, slots=True)
class Ramp:
    """From ``start`` to ``end`` linearly over ``over`` seconds, one step a second."""

    start: int
    end: int
    over: float

    def __post_init__(self) -> None:
        _check(_is_int(self.start) and self.start >= 0, "ramp.from", "must be an integer >= 0")
        _check(_is_int(self.end) and self.end >= 0, "ramp.to", "must be an integer >= 0")
        _check(_is_number(self.over) and self.over > 0, "ramp.over", "must be a number > 0")

    @property
    def initial(self) -> int:
        return self.start

    def value(self, t: float) -> int:
        if t >= self.over:
            return self.end
        whole = max(int(t), 0)
        return round(self.start + (self.end - self.start) * whole / self.over)

    def changes(self) -> Iterator[tuple[float, int]]:
        previous = self.start
        second = 1
        while second < self.over:
            current = self.value(second)
            if current != previous:
                yield float(second), current
                previous = current
            second += 1
        if self.end != previous:
            yield float(self.over), self.end


@dataclass(frozen=True, slots=True)
class Drop:
    """``start`` until ``at``, then ``end``; back to ``start`` at ``recover_at`` if given."""

    start: int
    end: int
    at: float
    recover_at: float | None = None

    def __post_init__(self) -> None:
        _check(_is_int(self.start) and self.start >= 0, "drop.from", "must be an integer >= 0")
        _check(_is_int(self.end) and self.end >= 0, "drop.to", "must be an integer >= 0")
        _check(_is_number(self.at) and self.at >= 0, "drop.at", "must be a number >= 0")
        if self.recover_at is not None:
            _check(
                _is_number(self.recover_at) and self.recover_at > self.at,
                "drop.recover_at",
                "must be a number greater than drop.at",
            )

    @property
    def initial(self) -> int:
        return self.start

    def value(self, t: float) -> int:
        if t < self.at:
            return self.start
        if self.recover_at is not None and t >= self.recover_at:
            return self.start
        return self.end

    def changes(self) -> Iterator[tuple[float, int]]:
        yield float(self.at), self.end
        if self.recover_at is not None:
            yield float(self.recover_at), self.start


@dataclass(frozen=True, slots=True)
class Walk:
    """A deterministic random walk: every ``every`` s a step in [-step, step], clamped."""

    start: int
    step: int
    low: int
    high: int
    seed: int = 0
    every: float = 10.0

    def __post_init__(self) -> None:
        _check(_is_int(self.low) and self.low >= 0, "walk.min", "must be an integer >= 0")
        _check(
            _is_int(self.high) and self.high >= self.low, "walk.max", "must be an integer >= min"
        )
        _check(
            _is_int(self.start) and self.low <= self.start <= self.high,
            "walk.start",
            "must be an integer between min and max",
        )
        _check(_is_int(self.step) and self.step >= 0, "walk.step", "must be an integer >= 0")
        _check(_is_int(self.seed), "walk.seed", "must be an integer")
        _check(_is_number(self.every) and self.every > 0, "walk.every", "must be a number > 0")

    @property
    def initial(self) -> int:
        return self.start

    def _steps(self) -> Iterator[tuple[float, int]]:
        rng = random.Random(self.seed)
        current = self.start
        n = 0
        while True:
            n += 1
            current = min(self.high, max(self.low, current + rng.randint(-self.step, self.step)))
            yield n * self.every, current

    def changes(self) -> Iterator[tuple[float, int]]:
        previous = self.start
        for at, current in self._steps():
            if current != previous:
                yield at, current
                previous = current

    def value(self, t: float) -> int:
        current = self.start
        for at, value in self._steps():
            if at > t:
                break
            current = value
        return current


Curve = Steady | Ramp | Drop | Walk


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class Faults:
    """Network trouble to simulate; rates are shares of requests, 0..1."""

    latency_ms: float = 0.0
    http_502_rate: float = 0.0
    malformed_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 4000.0
    seed: int = 0
    missing_fields_rate: float = 0.0
    repeated_cursor_rate: float = 0.0
    empty_page_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "http_502_rate",
            "malformed_rate",
            "missing_fields_rate",
            "repeated_cursor_rate",
            "empty_page_rate",
            "slow_rate",
        ):
            value = getattr(self, name)
            _check(
                _is_number(value) and 0 <= value <= 1, f"faults.{name}", "must be between 0 and 1"
            )
        for name in ("latency_ms", "slow_ms"):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0, f"faults.{name}", "must be a number >= 0")
        _check(_is_int(self.seed), "faults.seed", "must be an integer")


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One group: its ID, name, type, audience curve and mark shares."""

    group_id: str
    name: str
    type: str = "AVChatRoom"
    curve: Curve = field(default_factory=lambda: Steady(0))
    marks: Mapping[int, float] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        _check(
            isinstance(self.group_id, str) and self.group_id != "",
            "group_id",
            "must be a non-empty string",
        )
        _check(isinstance(self.name, str), "name", "must be a string")
        _check(self.type in GROUP_TYPES, "type", f"must be one of {sorted(GROUP_TYPES)}")
        _check(
            isinstance(self.curve, Steady | Ramp | Drop | Walk),
            "curve",
            "must be Steady, Ramp, Drop or Walk",
        )
        for mark, share in self.marks.items():
            _check(_is_int(mark) and mark >= 1000, "marks", f"mark {mark!r} must be an int >= 1000")
            _check(
                _is_number(share) and 0 <= share <= 1,
                "marks",
                f"share of mark {mark} must be between 0 and 1",
            )
        _check(self.seed is None or _is_int(self.seed), "seed", "must be an integer")

    @property
    def member_seed(self) -> int:
        """Seed for who leaves: ``seed`` or a stable hash of the group ID."""
        if self.seed is not None:
            return self.seed
        return int.from_bytes(hashlib.blake2b(self.group_id.encode(), digest_size=8).digest())


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the simulator pretends: the app, its limits, its groups."""

    sdkappid: int = DEMO_SDKAPPID
    secret_key: str = DEMO_SECRET_KEY
    admin: str = DEMO_ADMIN
    rate_limit: int = 200
    edition: str = "pro"
    online_status: bool = True
    cache_seconds: float = 40.0
    community_refresh_seconds: float = 240.0
    page_size: int = 500
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    groups: tuple[GroupSpec, ...] = ()

    def __post_init__(self) -> None:
        _check(_is_int(self.sdkappid) and self.sdkappid > 0, "sdkappid", "must be an integer > 0")
        _check(
            isinstance(self.secret_key, str) and self.secret_key != "",
            "secret_key",
            "must be a non-empty string",
        )
        _check(
            isinstance(self.admin, str) and self.admin != "", "admin", "must be a non-empty string"
        )
        _check(
            _is_int(self.rate_limit) and self.rate_limit > 0, "rate_limit", "must be an integer > 0"
        )
        _check(self.edition in EDITIONS, "edition", "must be 'pro' or 'lower'")
        _check(isinstance(self.online_status, bool), "online_status", "must be true or false")
        _check(
            _is_number(self.community_refresh_seconds) and self.community_refresh_seconds >= 0,
            "community_refresh_seconds",
            "must be a number >= 0",
        )
        _check(
            _is_number(self.cache_seconds) and self.cache_seconds >= 0,
            "cache_seconds",
            "must be a number >= 0",
        )
        _check(
            _is_int(self.page_size) and self.page_size > 0, "page_size", "must be an integer > 0"
        )
        _check(_is_int(self.seed), "seed", "must be an integer")
        _check(isinstance(self.faults, Faults), "faults", "must be a Faults")
        object.__setattr__(self, "groups", tuple(self.groups))
        seen: set[str] = set()
        for spec in self.groups:
            _check(isinstance(spec, GroupSpec), "groups", "must hold GroupSpec entries")
            _check(spec.group_id not in seen, "groups", f"group_id {spec.group_id!r} appears twice")
            seen.add(spec.group_id)

    def group(self, group_id: str) -> GroupSpec:
        """The spec of ``group_id``; KeyError if the scenario has no such group."""
        for spec in self.groups:
            if spec.group_id == group_id:
                return spec
        raise KeyError(group_id)


# --------------------------------------------------------------------------- members


def avatar_url(account: str) -> str:
    return f"https://example.com/avatars/{account}.png"


def make_member(group_index: int, seq: int, join_time: int) -> Member:
    """The ``seq``-th person to join group number ``group_index``: always the same one."""
    account = f"user{group_index * 100_000 + seq:06d}"
    return Member(
        account=account,
        nickname=NICKNAMES[seq % len(NICKNAMES)],
        avatar=avatar_url(account),
        join_time=join_time,
    )


def has_mark(group_id: str, seq: int, mark: int, share: float) -> bool:
    """Whether the ``seq``-th joiner carries ``mark`` in a group where ``share`` of joiners do.

    Exactly ``share`` of any run of joiners, spread evenly; each mark starts at
    its own phase so different marks land on different members.
    """
    digest = hashlib.blake2b(f"{group_id}|{mark}".encode(), digest_size=8).digest()
    position = seq + int.from_bytes(digest) % 10_007
    return math.floor((position + 1) * share) > math.floor(position * share)


#: Initial members joined during the hour before the simulator started.
_BACKFILL_SECONDS = 3600


class WireMember(NamedTuple):
    """One online member as get_members sends it, encoded once at join time."""

    account: str
    join_time: int
    json: bytes  # UTF-8 {"Member_Account": ..., "NickName": ..., "Avatar": ..., "JoinTime": ...}


def wire_member(member: Member) -> WireMember:
    fields = {
        "Member_Account": member.account,
        "NickName": member.nickname,
        "Avatar": member.avatar,
        "JoinTime": member.join_time,
    }
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return WireMember(member.account, member.join_time, text.encode())


#: Accounts that went ``"Online"`` or ``"Offline"`` together, in the order they moved.
EventRun = tuple[str, list[str]]


class Audience:
    """The live online list of one group, replayed from its curve in time order.

    Pure state (no clock of its own, no lock): the simulator passes ``now`` and
    serialises access. Members are kept in join order as ``WireMember``
    (encoded once). When the audience shrinks, randomly chosen members leave
    (seeded); when it grows, new accounts join with the change point's time as
    JoinTime. Initial members joined over the hour before ``origin``.

    With ``record`` (or after ``record_events(True)``) every join and leave is
    also kept, in order, until ``take_events`` (the member-state callbacks): the
    events since recording started add up to the change of ``len(members)``.
    """

    def __init__(self, spec: GroupSpec, index: int, origin: float, *, record: bool = False) -> None:
        self.spec = spec
        self.index = index
        self.origin = origin
        self.version = 0
        self.cursor_loop: int | None = None
        self.members: list[WireMember] = []
        self.marks: dict[str, set[int]] = {}
        self._rng = random.Random(spec.member_seed)
        self._next_seq = 0
        self._changes: Iterator[tuple[float, int]] = iter(())
        self._pending: tuple[float, int] | None = None
        self._snapshot: tuple[WireMember, ...] | None = None
        self._snapshot_key: object = None
        self._events: list[EventRun] | None = [] if record else None
        self._start_curve(spec.curve)

    def _start_curve(self, curve: Curve) -> None:
        count = curve.initial
        for i in range(count):
            self._join(int(self.origin - _BACKFILL_SECONDS * (count - i) / count))
        self._changes = curve.changes()
        self._pending = next(self._changes, None)

    def advance(self, now: float) -> None:
        """Replay every curve change up to ``now`` (time never runs backwards here)."""
        elapsed = now - self.origin
        while self._pending is not None and self._pending[0] <= elapsed:
            at, count = self._pending
            self.resize(count, int(self.origin + at))
            self._pending = next(self._changes, None)

    def resize(self, count: int, join_time: int) -> None:
        grow = count - len(self.members)
        for _ in range(grow):
            self._join(join_time)
        if grow < 0:
            self._leave(-grow)

    def script(self, count: int, now: float) -> None:
        """From now on, exactly ``count`` members (``set_audience``)."""
        self.advance(now)
        self._changes, self._pending = iter(()), None
        self.resize(count, int(now))
        self.invalidate()

    def replace(self, members: Iterable[Member], marks: Mapping[str, Iterable[int]]) -> None:
        """Exactly these members and marks from now on (``set_members``)."""
        ordered = sorted(members, key=lambda member: member.join_time)
        accounts = [member.account for member in ordered]
        if len(set(accounts)) != len(accounts):
            raise ValueError("set_members: an account appears twice")
        self._changes, self._pending = iter(()), None
        online = set(accounts)
        if self._events is not None:
            before = {entry.account for entry in self.members}
            left = [entry.account for entry in self.members if entry.account not in online]
            self._note("Offline", left)
            self._note("Online", [account for account in accounts if account not in before])
        self.members = [wire_member(member) for member in ordered]
        self.marks = {acc: set(values) for acc, values in marks.items() if acc in online}
        self.invalidate()

    def invalidate(self) -> None:
        self.version += 1
        self._snapshot = None

    def record_events(self, enabled: bool) -> None:
        """Keep joins and leaves from now on (already recording: unchanged), or stop and
        forget those kept."""
        if not enabled:
            self._events = None
        elif self._events is None:
            self._events = []

    def take_events(self) -> list[EventRun]:
        """The joins and leaves kept since the last call, oldest first; consecutive moves
        the same way share one run. Empty when not recording."""
        events = self._events
        if not events:
            return []
        self._events = []
        return events

    def _note(self, event: str, accounts: list[str]) -> None:
        events = self._events
        if events is None or not accounts:
            return
        if events and events[-1][0] == event:
            events[-1][1].extend(accounts)
        else:
            events.append((event, accounts))

    def _join(self, join_time: int) -> None:
        seq = self._next_seq
        self._next_seq += 1
        member = make_member(self.index, seq, join_time)
        self.members.append(wire_member(member))
        if self._events is not None:
            self._note("Online", [member.account])
        carried = {
            mark
            for mark, share in self.spec.marks.items()
            if has_mark(self.spec.group_id, seq, mark, share)
        }
        if carried:
            self.marks[member.account] = carried
        self.version += 1

    def _leave(self, count: int) -> None:
        left = []
        for index in sorted(self._rng.sample(range(len(self.members)), count), reverse=True):
            account = self.members[index].account
            self.marks.pop(account, None)
            del self.members[index]
            left.append(account)
        self._note("Offline", left)
        self.version += 1

    def snapshot(self, key: object) -> tuple[WireMember, ...]:
        """The list latest-joined first, rebuilt only when ``key`` changes."""
        if self._snapshot is None or key != self._snapshot_key:
            self._snapshot = tuple(reversed(self.members))
            self._snapshot_key = key
        return self._snapshot


# --------------------------------------------------------------------------- loading

_TOP_KEYS = frozenset(
    {
        "sdkappid",
        "secret_key",
        "admin",
        "rate_limit",
        "edition",
        "online_status",
        "cache_seconds",
        "community_refresh_seconds",
        "page_size",
        "seed",
        "faults",
        "groups",
    }
)
_CURVE_KEYS = ("steady", "ramp", "drop", "walk")
_GROUP_KEYS = frozenset({"group_id", "name", "type", "marks", "seed", *_CURVE_KEYS})
_CURVE_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # YAML key: (required keys, optional keys)
    "ramp": (frozenset({"from", "to", "over"}), frozenset()),
    "drop": (frozenset({"from", "to", "at"}), frozenset({"recover_at"})),
    "walk": (frozenset({"start", "step", "min", "max"}), frozenset({"seed", "every"})),
}


def _mapping(value: object, where: str) -> dict[Any, Any]:
    _check(isinstance(value, dict), where, "must be a mapping")
    assert isinstance(value, dict)
    return value


def _known_keys(data: dict[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    _check(not unknown, where, f"unknown key(s) {', '.join(unknown)}; allowed: {sorted(allowed)}")


def _prefixed(where: str, build: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``build``, prefixing any ScenarioError with the position in the file."""
    try:
        return build(*args, **kwargs)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}.{exc}") from None
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _parse_curve(name: str, raw: object, where: str) -> Curve:
    if name == "steady":
        return _prefixed(where, Steady, raw)  # type: ignore[no-any-return]
    data = _mapping(raw, f"{where}.{name}")
    required, optional = _CURVE_FIELDS[name]
    _known_keys(data, required | optional, f"{where}.{name}")
    missing = sorted(required - data.keys())
    _check(not missing, f"{where}.{name}", f"missing key(s) {', '.join(missing)}")
    if name == "ramp":
        return _prefixed(where, Ramp, data["from"], data["to"], data["over"])  # type: ignore[no-any-return]
    if name == "drop":
        return _prefixed(  # type: ignore[no-any-return]
            where, Drop, data["from"], data["to"], data["at"], data.get("recover_at")
        )
    return _prefixed(  # type: ignore[no-any-return]
        where,
        Walk,
        data["start"],
        data["step"],
        data["min"],
        data["max"],
        data.get("seed", 0),
        data.get("every", 10.0),
    )


def _parse_group(raw: object, where: str) -> GroupSpec:
    data = _mapping(raw, where)
    _known_keys(data, _GROUP_KEYS, where)
    for key in ("group_id", "name"):
        _check(key in data, where, f"missing key {key}")
    curves = [key for key in _CURVE_KEYS if key in data]
    _check(len(curves) == 1, where, "needs exactly one audience curve: steady, ramp, drop or walk")
    curve = _parse_curve(curves[0], data[curves[0]], where)
    marks = data.get("marks") or {}
    _mapping(marks, f"{where}.marks")
    return _prefixed(  # type: ignore[no-any-return]
        where,
        GroupSpec,
        group_id=data["group_id"],
        name=data["name"],
        type=data.get("type", "AVChatRoom"),
        curve=curve,
        marks=dict(marks),
        seed=data.get("seed"),
    )


def scenario_from_dict(data: object) -> Scenario:
    """Build and validate a Scenario from parsed YAML (see the module docstring)."""
    top = _mapping(data, "scenario")
    _known_keys(top, _TOP_KEYS, "scenario")
    faults_raw = _mapping(top.get("faults") or {}, "faults")
    _known_keys(faults_raw, frozenset(Faults.__dataclass_fields__), "faults")
    faults = _prefixed("scenario", Faults, **faults_raw)
    groups_raw = top.get("groups") or []
    _check(isinstance(groups_raw, list), "groups", "must be a list")
    groups = tuple(_parse_group(raw, f"groups[{i}]") for i, raw in enumerate(groups_raw))
    settings = {key: value for key, value in top.items() if key not in ("faults", "groups")}
    return _prefixed(  # type: ignore[no-any-return]
        "scenario", Scenario, **settings, faults=faults, groups=groups
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; ScenarioError names what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML ({exc})") from None
    try:
        return scenario_from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
