"""A local stand-in for Tencent Cloud Chat's REST endpoints, over real HTTP.

``Simulator`` is the whole fake: it checks query parameters and UserSigs,
limits the call rate per API, serves cached, paged online lists, and can be
told to misbehave (latency, HTTP 502, bodies that are not JSON, OK answers
without their fields, injected error codes, cursors that repeat, never end or
lead to empty pages). ``Simulator.handle`` answers one request
in-process; the HTTP server around it is a thin stdlib transport.

Endpoints (POST, ``?sdkappid=&identifier=&usersig=&random=&contenttype=json``)::

    /v4/group_open_avchatroom_http_svc/get_members
    /v4/group_open_http_svc/get_online_member_num
    /v4/million_group_open_http_svc/get_online_member_num   (Community groups)
    /v4/group_open_http_svc/get_group_info
    /v4/group_open_avchatroom_http_svc/modify_user_info
    /v4/group_open_avchatroom_http_svc/check_members

Choices where Tencent's documentation is silent:

- A malformed URL (identifier, usersig or random missing, random not a uint32,
  contenttype not ``json``) answers 60002; a method other than POST, too.
- Checks run in this order: HTTP faults, injected errors, the rate limit,
  query parameters, UserSig, body, fields, group ID, group existence, type.
- Every arrival at a known path counts toward its API's per-second limit,
  including calls that are then refused or faulted.
- ``modify_user_info`` ignores accounts that are not online (marks are
  cleared when a member leaves, so there is nothing to mark); it enforces at
  most 500 accounts a call, marks >= 1000, at most 10 distinct marks per group
  and at most 1,000 members per mark (10004 otherwise).
- The get_members list is a snapshot refreshed every ``cache_seconds`` (in
  bins counted from the simulator's start); mark filters use the marks as
  they are now. ``set_audience``/``set_members`` drop the snapshot at once.
- ``NextTimestamp`` is a random 63-bit cursor tied to (listing, offset),
  reusable for retries for ``CURSOR_TTL`` seconds; a cursor from another group
  or mark, unknown or expired answers 10004 "invalid Timestamp".
- get_group_info entries for unknown (10010) or invalid (10015) IDs carry
  only GroupId, ErrorCode and ErrorInfo, as Tencent's do.
- Group types, as Tencent's current pages say: get_members serves AVChatRoom and
  Community groups (10007 otherwise). get_online_member_num counts AVChatRoom
  groups always, and the other types (Community included) only on the Pro
  edition with the app's "Group Member Online Status" switched on
  (``online_status``; 10007 otherwise). The million_group count serves
  Community groups only (10007 otherwise), refreshed every
  ``community_refresh_seconds``. check_members serves AVChatRoom groups on the
  Pro edition (10007 otherwise), from the same snapshot as get_members but
  without its 1,000 cap; it takes 1 to 500 accounts (Tencent's page names no
  maximum: 500 is our assumption).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bot.simulator.scenario import (
    Audience,
    Curve,
    EventRun,
    Faults,
    GroupSpec,
    Scenario,
    Steady,
    WireMember,
)
from bot.tencent.models import LOWER_EDITION_CAP, MEMBER_LIST_CAP, SUPPORTED_GROUP_TYPES, Member
from bot.tencent.usersig import UserSigError, verify

if TYPE_CHECKING:
    from bot.simulator.push import CallbackPusher

__all__ = [
    "COMMANDS",
    "CURSOR_TTL",
    "PATHS",
    "CommandStats",
    "Reply",
    "Simulator",
    "SimulatorStats",
]

logger = logging.getLogger(__name__)

#: URL path -> command name (the last path segment).
PATHS: dict[str, str] = {
    "/v4/group_open_avchatroom_http_svc/get_members": "get_members",
    "/v4/group_open_http_svc/get_online_member_num": "get_online_member_num",
    "/v4/group_open_http_svc/get_group_info": "get_group_info",
    "/v4/group_open_avchatroom_http_svc/modify_user_info": "modify_user_info",
    # Two APIs share the name get_online_member_num: each has its own counters and limit.
    "/v4/million_group_open_http_svc/get_online_member_num": "million_group_get_online_member_num",
    "/v4/group_open_avchatroom_http_svc/check_members": "check_members",
}
COMMANDS: tuple[str, ...] = tuple(PATHS.values())
#: Seconds a get_members cursor stays valid (simulator clock).
CURSOR_TTL = 600.0
MAX_CURSORS = 10_000
MAX_GROUP_ID_BYTES = 48
MAX_GROUP_INFO_IDS = 50
MAX_MODIFY_ACCOUNTS = 500
MAX_MARKS_PER_GROUP = 10
MAX_MEMBERS_PER_MARK = 1000
MAX_CHECK_ACCOUNTS = 500

_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_MALFORMED = b'{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "MemberList": [{"Memb'
_JSON = "application/json; charset=utf-8"

_DEFAULT_INFO: dict[int, str] = {
    10002: "internal error",
    10004: "invalid parameter",
    10007: "no permission: only audio-video groups have online lists",
    10010: "group does not exist or was deleted",
    10015: "invalid group ID",
    60007: "REST API call frequency over limit",
    60008: "service timeout",
    60009: "request resource error: check the URL",
}


# --------------------------------------------------------------------------- stats


@dataclass(frozen=True, slots=True)
class CommandStats:
    """Counters for one API.

    ``calls``: every arrival; ``ok``: ErrorCode 0; ``errors``: ErrorCode != 0
    (``rate_limited`` counts the 60007 among them); ``http_errors``: non-200
    answers; ``malformed``: 200 answers that are not JSON or lack their fields
    (not counted in ``ok``); ``max_per_second``:
    the most arrivals seen in one one-second bin of the simulator clock.
    """

    calls: int = 0
    ok: int = 0
    errors: int = 0
    rate_limited: int = 0
    http_errors: int = 0
    malformed: int = 0
    max_per_second: int = 0


@dataclass(frozen=True, slots=True)
class SimulatorStats:
    """A snapshot of every API's counters.

    ``stats.get_members.calls`` or ``stats["get_members"].calls``;
    ``unknown_path`` counts requests to paths that are not an API (60009).
    """

    get_members: CommandStats
    get_online_member_num: CommandStats
    get_group_info: CommandStats
    modify_user_info: CommandStats
    million_group_get_online_member_num: CommandStats
    check_members: CommandStats
    unknown_path: int = 0

    def __getitem__(self, command: str) -> CommandStats:
        if command not in COMMANDS:
            raise KeyError(command)
        return getattr(self, command)  # type: ignore[no-any-return]

    @property
    def commands(self) -> dict[str, CommandStats]:
        return {command: self[command] for command in COMMANDS}

    @property
    def total_calls(self) -> int:
        return sum(stats.calls for stats in self.commands.values())

    @property
    def total_rate_limited(self) -> int:
        return sum(stats.rate_limited for stats in self.commands.values())


@dataclass(slots=True)
class _Counter:
    calls: int = 0
    ok: int = 0
    errors: int = 0
    rate_limited: int = 0
    http_errors: int = 0
    malformed: int = 0
    max_per_second: int = 0
    bin: int | None = None
    in_bin: int = 0

    def arrive(self, now: float, limit: int) -> bool:
        """Count one arrival; True when it is over ``limit`` for this second."""
        second = math.floor(now)
        if second != self.bin:
            self.bin, self.in_bin = second, 0
        self.calls += 1
        self.in_bin += 1
        self.max_per_second = max(self.max_per_second, self.in_bin)
        return self.in_bin > limit

    def frozen(self) -> CommandStats:
        return CommandStats(
            self.calls,
            self.ok,
            self.errors,
            self.rate_limited,
            self.http_errors,
            self.malformed,
            self.max_per_second,
        )


@dataclass(slots=True)
class _Listing:
    """One get_members result set being paged through."""

    group_id: str
    mark: int | None
    entries: tuple[WireMember, ...]
    created: float
    cursors: dict[int, int] = field(default_factory=dict)  # offset -> cursor


# --------------------------------------------------------------------------- requests


class _Fail(Exception):
    """Answer this request with ``code``."""

    def __init__(self, code: int, info: str = "") -> None:
        super().__init__(code, info)
        self.code = code
        self.info = info or _DEFAULT_INFO.get(code, "error")


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back: HTTP status, body, content type and a delay before sending."""

    status: int
    body: bytes
    content_type: str = _JSON
    delay: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)


class _RawJSON(bytes):
    """Already-encoded JSON, spliced into the answer as is (member lists)."""


def _raw_list(entries: Iterable[WireMember]) -> _RawJSON:
    return _RawJSON(b"[" + b",".join([entry.json for entry in entries]) + b"]")


def _encode(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON for the answer; ``_RawJSON`` values are inserted without re-encoding."""
    plain = {k: v for k, v in payload.items() if not isinstance(v, _RawJSON)}
    parts = [json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()[:-1]]
    for key, value in payload.items():
        if isinstance(value, _RawJSON):
            parts += [b",", json.dumps(key).encode(), b":", value]
    parts.append(b"}")
    return b"".join(parts)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(request: Mapping[str, Any], name: str) -> Any:
    if name not in request:
        raise _Fail(10004, f"{name} is required")
    return request[name]


def _require_int(request: Mapping[str, Any], name: str) -> int:
    value = _require(request, name)
    if not _is_int(value):
        raise _Fail(10004, f"{name} must be an integer")
    return int(value)


def _optional_mark(request: Mapping[str, Any]) -> int | None:
    if "Mark" not in request:
        return None
    return _require_int(request, "Mark")


def _check_group_id(group_id: object) -> str:
    if not isinstance(group_id, str) or not group_id:
        raise _Fail(10015, "GroupId must be a non-empty string")
    if len(group_id.encode()) > MAX_GROUP_ID_BYTES:
        raise _Fail(10015, f"GroupId is longer than {MAX_GROUP_ID_BYTES} bytes")
    if not all(" " <= char <= "~" for char in group_id):
        raise _Fail(10015, "GroupId must be printable ASCII")
    return group_id


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise _Fail(60003, "request body is not valid JSON") from None
    if not isinstance(request, dict):
        raise _Fail(60003, "request body must be a JSON object")
    return request


def _random_ok(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) <= 0xFFFFFFFF


# --------------------------------------------------------------------------- the simulator


class Simulator:
    """Tencent Cloud Chat's REST API for one scenario, in process or over loopback HTTP.

    ``clock`` drives curves, caches, cursors, UserSig expiry and rate-limit bins;
    ``sleep`` performs latency faults (real time by default).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.scenario = scenario
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._started_at = clock()
        self._groups: dict[str, Audience] = {}
        self._next_index = 0
        self._community_counts: dict[str, tuple[int, int]] = {}  # group -> (bin, count)
        self._recording = False  # member events kept for a pusher (start_member_events)
        self._pushers: list[CallbackPusher] = []
        for spec in scenario.groups:
            self._install(spec, self._started_at)
        self._faults = scenario.faults
        self._dice = random.Random(scenario.faults.seed)
        self._cursor_rng = random.Random(scenario.seed ^ 0x5EED_C0DE)
        self._cursors: dict[int, tuple[_Listing, int]] = {}
        self._counters = {command: _Counter() for command in COMMANDS}
        self._unknown_path = 0
        self._errors: dict[str, deque[tuple[int, str]]] = {c: deque() for c in COMMANDS}
        self._missing_fields: dict[str, int] = dict.fromkeys(COMMANDS, 0)
        self._http: list[list[Any]] = []  # [command | None, status, remaining]
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Simulator(sdkappid={self.scenario.sdkappid}, groups={len(self._groups)})"

    # ----------------------------------------------------------------- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Serve in a background thread; returns self (``sim.url`` is then set)."""
        if self._server is not None:
            raise RuntimeError("the simulator is already serving")
        server = _Server((host, port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tencent-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        """Serve in this thread until ``stop()`` from another thread or Ctrl-C."""
        if self._server is not None:
            raise RuntimeError("the simulator is already serving")
        server = _Server((host, port), self)
        self._server = server
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.close()
            self._server = None

    def stop(self) -> None:
        """Stop pushing callbacks and serving, and close every connection; safe to call twice."""
        while self._pushers:
            self._pushers.pop().stop()
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join()
            server.close()
            self._server, self._thread = None, None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port``; the client appends ``/v4/<service>/<command>``."""
        if self._server is None:
            raise RuntimeError("the simulator is not serving; call start() first")
        host, port = self._server.server_address[:2]
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    # ----------------------------------------------------------------- scripting

    def stats(self) -> SimulatorStats:
        """A consistent snapshot of the per-API counters."""
        with self._lock:
            commands = {name: counter.frozen() for name, counter in self._counters.items()}
            return SimulatorStats(**commands, unknown_path=self._unknown_path)

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings from the next request on."""
        with self._lock:
            self._faults = faults

    def inject_error(self, command: str, code: int, times: int = 1, info: str = "") -> None:
        """The next ``times`` calls to ``command`` answer ``code`` (before any other check)."""
        self._check_command(command)
        with self._lock:
            self._errors[command].extend([(code, info)] * times)

    def inject_http(self, command: str | None, status: int = 502, times: int = 1) -> None:
        """The next ``times`` requests (to ``command``, or to any path if None) get ``status``."""
        if command is not None:
            self._check_command(command)
        with self._lock:
            self._http.append([command, status, times])

    def inject_missing_fields(self, command: str, times: int = 1) -> None:
        """The next ``times`` OK answers of ``command`` come without their fields
        (``{"ActionStatus": "OK", "ErrorCode": 0, ...}`` only)."""
        self._check_command(command)
        with self._lock:
            self._missing_fields[command] += times

    def inject_cursor_loop(self, group_id: str, enabled: bool = True) -> None:
        """get_members for the group always answers its first page and the same cursor."""
        with self._lock:
            audience = self._audience(group_id)
            audience.cursor_loop = self._new_cursor() if enabled else None

    def clear_injections(self) -> None:
        """Forget pending injected errors, HTTP statuses and cursor loops."""
        with self._lock:
            for queue in self._errors.values():
                queue.clear()
            self._missing_fields = dict.fromkeys(COMMANDS, 0)
            self._http.clear()
            for audience in self._groups.values():
                audience.cursor_loop = None

    def set_audience(self, group_id: str, count: int) -> None:
        """From now on exactly ``count`` members (joiners or random leavers); snapshot dropped."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self._audience(group_id).script(count, self._clock())

    def set_members(
        self,
        group_id: str,
        members: Iterable[Member],
        marks: Mapping[str, Iterable[int]] | None = None,
    ) -> None:
        """Exactly these members (and marks) from now on; snapshot dropped."""
        with self._lock:
            self._audience(group_id).replace(members, marks or {})

    def add_group(
        self,
        group_id: str,
        name: str,
        type: str = "AVChatRoom",
        curve: Curve | None = None,
        marks: Mapping[int, float] | None = None,
    ) -> GroupSpec:
        """Create a group now; its curve starts at the current time."""
        spec = GroupSpec(group_id, name, type, curve or Steady(0), dict(marks or {}))
        with self._lock:
            if group_id in self._groups:
                raise ValueError(f"group {group_id!r} already exists")
            self._install(spec, self._clock())
        return spec

    def remove_group(self, group_id: str) -> None:
        """Disband a group: later calls answer 10010."""
        with self._lock:
            self._audience(group_id)
            del self._groups[group_id]
            self._community_counts.pop(group_id, None)

    def online_count(self, group_id: str) -> int:
        """The true current audience (what get_online_member_num answers)."""
        with self._lock:
            audience = self._audience(group_id)
            audience.advance(self._clock())
            return len(audience.members)

    def push_callbacks(
        self, url: str, token: str | None, *, interval: float = 1.0
    ) -> CallbackPusher:
        """POST Group.CallbackOnMemberStateChange to ``url`` every ``interval`` seconds
        (bot.simulator.push), from now until ``stop()``; returns the started pusher."""
        from bot.simulator.push import CallbackPusher  # here: requests only when pushing

        pusher = CallbackPusher(self, url, token, interval=interval)
        self._pushers.append(pusher)
        return pusher.start()

    def start_member_events(self) -> None:
        """Keep every join and leave of every group from now on, for
        ``take_member_events`` (curves are replayed up to now first, so what is kept is
        what changes from now on; a group added later counts from empty). One taker at a
        time: RuntimeError if they are already kept."""
        with self._lock:
            if self._recording:
                raise RuntimeError("member events are already kept for another pusher")
            now = self._clock()
            for audience in self._groups.values():
                audience.advance(now)
                audience.record_events(True)
            self._recording = True

    def stop_member_events(self) -> None:
        """Stop keeping joins and leaves, and forget those not taken."""
        with self._lock:
            self._recording = False
            for audience in self._groups.values():
                audience.record_events(False)

    def take_member_events(self) -> tuple[float, list[tuple[GroupSpec, list[EventRun]]]]:
        """Replay every group's curve up to now and take the joins and leaves kept since
        the last call: ``(now, [(group, runs), ...])``, groups in creation order, only
        those that moved. A group removed meanwhile takes its events with it."""
        with self._lock:
            now = self._clock()
            moved = []
            for audience in self._groups.values():
                audience.advance(now)
                runs = audience.take_events()
                if runs:
                    moved.append((audience.spec, runs))
            return now, moved

    def _install(self, spec: GroupSpec, origin: float) -> None:
        self._groups[spec.group_id] = Audience(
            spec, self._next_index, origin, record=self._recording
        )
        self._next_index += 1

    def _audience(self, group_id: str) -> Audience:
        try:
            return self._groups[group_id]
        except KeyError:
            raise KeyError(f"no group {group_id!r} in the simulator") from None

    @staticmethod
    def _check_command(command: str) -> None:
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {COMMANDS}")

    # ----------------------------------------------------------------- one request

    def handle(self, target: str, body: bytes, method: str = "POST") -> Reply:
        """Answer one request (``target`` = path plus query string), without HTTP."""
        path, _, query = target.partition("?")
        command = PATHS.get(path)
        with self._lock:
            now = self._clock()
            over_limit = self._arrive(command, now)
            faults = self._faults
            reply = self._http_fault(command, faults)
        delay = faults.latency_ms / 1000
        if reply is not None:
            return Reply(reply.status, reply.body, reply.content_type, delay)
        with self._lock:
            if self._roll(faults.slow_rate):
                delay += faults.slow_ms / 1000
        try:
            if method != "POST":
                raise _Fail(60002, "only POST is supported")
            if command is None:
                raise _Fail(60009, f"no such API: {path}")
            extra = self._answer(command, query, body, now, over_limit)
            code, info = 0, ""
        except _Fail as fail:
            extra, code, info = {}, fail.code, fail.info
        stripped = bool(extra) and command is not None and self._strip_fields(command, faults)
        if stripped:
            extra = {}
        self._record(command, code, malformed=stripped)
        payload = {
            "ActionStatus": "OK" if code == 0 else "FAIL",
            "ErrorCode": code,
            "ErrorInfo": info,
            "RequestId": uuid.uuid4().hex,
            **extra,
        }
        return Reply(200, _encode(payload), _JSON, delay)

    def _arrive(self, command: str | None, now: float) -> bool:
        if command is None:
            self._unknown_path += 1
            return False
        return self._counters[command].arrive(now, self.scenario.rate_limit)

    def _http_fault(self, command: str | None, faults: Faults) -> Reply | None:
        """An injected or random HTTP-level failure for this request, if any (under lock)."""
        status = self._take_http(command)
        if status is None and self._roll(faults.http_502_rate):
            status = 502
        counter = self._counters.get(command or "")
        if status is not None:
            if counter is not None:
                counter.http_errors += 1
            return Reply(status, _html(status), "text/html")
        if self._roll(faults.malformed_rate):
            if counter is not None:
                counter.malformed += 1
            return Reply(200, _MALFORMED, _JSON)
        return None

    def _roll(self, rate: float) -> bool:
        """True with probability ``rate`` (seeded dice; no draw when the rate is 0)."""
        return rate > 0 and self._dice.random() < rate

    def _strip_fields(self, command: str, faults: Faults) -> bool:
        """Whether this OK answer goes out without its fields (injected, or by the dice)."""
        with self._lock:
            if self._missing_fields[command] > 0:
                self._missing_fields[command] -= 1
                return True
            return self._roll(faults.missing_fields_rate)

    def _take_http(self, command: str | None) -> int | None:
        for entry in self._http:
            if entry[0] is None or entry[0] == command:
                entry[2] -= 1
                if entry[2] <= 0:
                    self._http.remove(entry)
                return int(entry[1])
        return None

    def _record(self, command: str | None, code: int, *, malformed: bool = False) -> None:
        if command is None:
            return
        with self._lock:
            counter = self._counters[command]
            if malformed:
                counter.malformed += 1
            elif code == 0:
                counter.ok += 1
            else:
                counter.errors += 1
                counter.rate_limited += int(code == 60007)

    def _answer(
        self, command: str, query: str, body: bytes, now: float, over_limit: bool
    ) -> dict[str, Any]:
        with self._lock:
            queue = self._errors[command]
            injected = queue.popleft() if queue else None
        if injected is not None:
            raise _Fail(*injected)
        if over_limit:
            raise _Fail(60007)
        self._check_query(query, now)
        request = _parse_body(body)
        with self._lock:
            return self._dispatch(command, request, now)

    def _check_query(self, query: str, now: float) -> None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        scenario = self.scenario
        sdkappid = params.get("sdkappid", "")
        if not sdkappid:
            raise _Fail(60012, "sdkappid is missing from the URL")
        if sdkappid != str(scenario.sdkappid):
            raise _Fail(60006, f"unknown SDKAppID {sdkappid}")
        for name in ("identifier", "usersig", "random"):
            if not params.get(name):
                raise _Fail(60002, f"{name} is missing from the URL")
        if not _random_ok(params["random"]):
            raise _Fail(60002, "random must be an unsigned 32-bit integer")
        if params.get("contenttype") != "json":
            raise _Fail(60002, "contenttype must be json")
        if params["identifier"] != scenario.admin:
            raise _Fail(60010, f"{params['identifier']} is not an App admin")
        try:
            verify(
                params["usersig"],
                sdkappid=scenario.sdkappid,
                key=scenario.secret_key,
                identifier=params["identifier"],
                now=int(now),
            )
        except UserSigError as exc:
            raise _Fail(exc.code, str(exc)) from None

    def _dispatch(self, command: str, request: dict[str, Any], now: float) -> dict[str, Any]:
        if command == "get_members":
            return self._get_members(request, now)
        if command == "get_online_member_num":
            return self._get_online_member_num(request, now)
        if command == "get_group_info":
            return self._get_group_info(request, now)
        if command == "million_group_get_online_member_num":
            return self._get_community_online_member_num(request, now)
        if command == "check_members":
            return self._check_members(request, now)
        return self._modify_user_info(request, now)

    # ----------------------------------------------------------------- commands (under lock)

    def _group(self, group_id: object, *, av_only: bool) -> Audience:
        audience = self._groups.get(_check_group_id(group_id))
        if audience is None:
            raise _Fail(10010, f"group {group_id} does not exist")
        if av_only and audience.spec.type not in SUPPORTED_GROUP_TYPES:
            raise _Fail(10007, f"group type {audience.spec.type} has no online member list")
        return audience

    def _get_members(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        group_id = _require(request, "GroupId")
        timestamp = _require_int(request, "Timestamp")
        mark = _optional_mark(request)
        audience = self._group(group_id, av_only=True)
        audience.advance(now)
        lower = self.scenario.edition == "lower"
        page_size = LOWER_EDITION_CAP if lower else self.scenario.page_size
        if audience.cursor_loop is not None:
            listing = self._listing(audience, mark, now)
            return {
                "MemberList": _raw_list(listing.entries[:page_size]),
                "NextTimestamp": audience.cursor_loop,
            }
        if timestamp == 0:
            listing, offset = self._listing(audience, mark, now), 0
        else:
            listing, offset = self._resume(timestamp, group_id, mark, now)
            if self._roll(self._faults.empty_page_rate):
                return {
                    "MemberList": _raw_list(()),
                    "NextTimestamp": self._extra_cursor(listing, offset),
                }
        end = offset + page_size
        next_cursor = self._cursor_for(listing, end) if end < len(listing.entries) else 0
        page = listing.entries[offset:end]
        if timestamp != 0 and self._roll(self._faults.repeated_cursor_rate):
            next_cursor = timestamp
        return {"MemberList": _raw_list(page), "NextTimestamp": next_cursor}

    def _snapshot(self, audience: Audience, now: float) -> tuple[WireMember, ...]:
        """The group's whole online list as of its last refresh (``cache_seconds`` bins)."""
        cache = self.scenario.cache_seconds
        key: object = (
            math.floor((now - self._started_at) / cache) if cache > 0 else ("v", audience.version)
        )
        return audience.snapshot(key)

    def _listing(self, audience: Audience, mark: int | None, now: float) -> _Listing:
        entries = self._snapshot(audience, now)
        if mark is not None:
            marks = audience.marks
            entries = tuple(e for e in entries if mark in marks.get(e.account, ()))
        cap = LOWER_EDITION_CAP if self.scenario.edition == "lower" else MEMBER_LIST_CAP
        return _Listing(audience.spec.group_id, mark, entries[:cap], now)

    def _resume(
        self, cursor: int, group_id: str, mark: int | None, now: float
    ) -> tuple[_Listing, int]:
        found = self._cursors.get(cursor)
        if found is not None and now - found[0].created > CURSOR_TTL:
            del self._cursors[cursor]
            found = None
        if found is None or found[0].group_id != group_id or found[0].mark != mark:
            raise _Fail(10004, "invalid Timestamp")
        return found

    def _cursor_for(self, listing: _Listing, offset: int) -> int:
        cursor = listing.cursors.get(offset)
        if cursor is None:
            cursor = self._new_cursor()
            listing.cursors[offset] = cursor
            self._cursors[cursor] = (listing, offset)
            self._prune_cursors(listing.created)
        return cursor

    def _extra_cursor(self, listing: _Listing, offset: int) -> int:
        """A second cursor to ``offset`` of ``listing`` (an empty page's way on)."""
        cursor = self._new_cursor()
        self._cursors[cursor] = (listing, offset)
        self._prune_cursors(listing.created)
        return cursor

    def _new_cursor(self) -> int:
        while True:
            cursor = (1 << 62) | self._cursor_rng.getrandbits(62)
            if cursor not in self._cursors:
                return cursor

    def _prune_cursors(self, now: float) -> None:
        while self._cursors:
            oldest = next(iter(self._cursors))
            listing = self._cursors[oldest][0]
            if len(self._cursors) <= MAX_CURSORS and now - listing.created <= CURSOR_TTL:
                return
            del self._cursors[oldest]

    def _get_online_member_num(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        audience = self._group(_require(request, "GroupId"), av_only=False)
        kind = audience.spec.type
        if kind != "AVChatRoom" and self.scenario.edition == "lower":
            raise _Fail(10007, f"counting {kind} groups needs the Pro edition or above")
        if kind != "AVChatRoom" and not self.scenario.online_status:
            raise _Fail(10007, f"counting {kind} groups needs Group Member Online Status enabled")
        audience.advance(now)
        return {"OnlineMemberNum": len(audience.members)}

    def _get_community_online_member_num(
        self, request: dict[str, Any], now: float
    ) -> dict[str, Any]:
        audience = self._group(_require(request, "GroupId"), av_only=False)
        spec = audience.spec
        if spec.type != "Community":
            raise _Fail(10007, f"group type {spec.type} is not a Community")
        audience.advance(now)
        refresh = self.scenario.community_refresh_seconds
        if refresh <= 0:
            return {"OnlineMemberNum": len(audience.members)}
        current = math.floor((now - self._started_at) / refresh)
        cached = self._community_counts.get(spec.group_id)
        if cached is None or cached[0] != current:
            cached = self._community_counts[spec.group_id] = (current, len(audience.members))
        return {"OnlineMemberNum": cached[1]}

    def _check_members(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        group_id = _require(request, "GroupId")
        accounts = _require(request, "Member_Account")
        if (
            not isinstance(accounts, list)
            or not 1 <= len(accounts) <= MAX_CHECK_ACCOUNTS
            or not all(isinstance(a, str) and a for a in accounts)
        ):
            raise _Fail(
                10004, f"Member_Account must be a list of 1 to {MAX_CHECK_ACCOUNTS} accounts"
            )
        audience = self._group(group_id, av_only=False)
        if audience.spec.type != "AVChatRoom":
            raise _Fail(10007, f"group type {audience.spec.type} does not support check_members")
        if self.scenario.edition == "lower":
            raise _Fail(10007, "check_members needs the Pro edition or above")
        audience.advance(now)
        online = {entry.account for entry in self._snapshot(audience, now)}
        return {"Member_Account": [account for account in accounts if account in online]}

    def _get_group_info(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        ids = _require(request, "GroupIdList")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_GROUP_INFO_IDS:
            raise _Fail(10004, f"GroupIdList must be a list of 1 to {MAX_GROUP_INFO_IDS} group IDs")
        return {"GroupInfo": [self._group_info(group_id) for group_id in ids]}

    def _group_info(self, group_id: object) -> dict[str, Any]:
        try:
            audience = self._group(group_id, av_only=False)
        except _Fail as fail:
            return {"GroupId": group_id, "ErrorCode": fail.code, "ErrorInfo": fail.info}
        spec = audience.spec
        return {
            "GroupId": spec.group_id,
            "ErrorCode": 0,
            "ErrorInfo": "",
            "Type": spec.type,
            "Name": spec.name,
        }

    def _modify_user_info(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        group_id = _require(request, "GroupId")
        command = _require_int(request, "CommandType")
        changes = _mark_changes(_require(request, "MemberList"))
        if command not in (1, 2):
            raise _Fail(10004, "CommandType must be 1 (set marks) or 2 (delete marks)")
        audience = self._group(group_id, av_only=True)
        audience.advance(now)
        online = {entry.account for entry in audience.members}
        changes = {account: marks for account, marks in changes.items() if account in online}
        if command == 1:
            _check_mark_limits(audience.marks, changes)
            for account, marks in changes.items():
                audience.marks.setdefault(account, set()).update(marks)
        else:
            for account, marks in changes.items():
                kept = audience.marks.get(account, set()) - marks
                if kept:
                    audience.marks[account] = kept
                else:
                    audience.marks.pop(account, None)
        return {}


def _mark_changes(member_list: object) -> dict[str, set[int]]:
    """Validate modify_user_info's MemberList into account -> marks."""
    if not isinstance(member_list, list) or not 1 <= len(member_list) <= MAX_MODIFY_ACCOUNTS:
        raise _Fail(10004, f"MemberList must be a list of 1 to {MAX_MODIFY_ACCOUNTS} accounts")
    changes: dict[str, set[int]] = {}
    for i, item in enumerate(member_list):
        where = f"MemberList[{i}]"
        if not isinstance(item, dict):
            raise _Fail(10004, f"{where} must be an object")
        account = item.get("Member_Account")
        if not isinstance(account, str) or not account:
            raise _Fail(10004, f"{where}.Member_Account must be a non-empty string")
        marks = item.get("Marks")
        if not isinstance(marks, list) or not marks:
            raise _Fail(10004, f"{where}.Marks must be a non-empty list")
        if not all(_is_int(mark) and mark >= 1000 for mark in marks):
            raise _Fail(10004, f"{where}.Marks must be integers >= 1000")
        changes.setdefault(account, set()).update(marks)
    return changes


def _check_mark_limits(current: Mapping[str, set[int]], adding: Mapping[str, set[int]]) -> None:
    holders: dict[int, set[str]] = {}
    for source in (current, adding):
        for account, marks in source.items():
            for mark in marks:
                holders.setdefault(mark, set()).add(account)
    if len(holders) > MAX_MARKS_PER_GROUP:
        raise _Fail(10004, f"a group can use at most {MAX_MARKS_PER_GROUP} distinct marks")
    for mark, accounts in holders.items():
        if len(accounts) > MAX_MEMBERS_PER_MARK:
            raise _Fail(10004, f"mark {mark} would be on more than {MAX_MEMBERS_PER_MARK} members")


def _html(status: int) -> bytes:
    if status == 502:
        return _HTML_502
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"<html><body><h1>{status} {phrase}</h1></body></html>\r\n".encode()


# --------------------------------------------------------------------------- HTTP transport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers must not wait for delayed ACKs (40 ms)
    server: _Server

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        simulator = self.server.simulator
        reply = simulator.handle(self.path, self._read_body(), method)
        if reply.delay > 0:
            simulator._sleep(reply.delay)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self._headers_buffer.append(b"\r\n" + reply.body)  # headers and body in one write
        self.flush_headers()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers its connections so ``close`` can end them."""

    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops SYNs when many clients connect at once; the kernel
    # retries them a second later, which shifts calls into the next rate-limit second.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closed = False
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is not news: log at debug, not on stderr."""
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def close(self) -> None:
        """Close the listening socket and end open keep-alive connections."""
        with self._connections_lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
