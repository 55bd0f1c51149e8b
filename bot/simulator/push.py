"""The simulator's side of Tencent's member-state webhook: it POSTs
``Group.CallbackOnMemberStateChange`` to a URL as audiences move.

Real Tencent sends this callback for audio-video (AVChatRoom) groups only, so the
pusher does too: the other groups' moves are taken and dropped. Each callback says
that up to ``MAX_MEMBERS_PER_CALLBACK`` accounts went ``Online`` (cause ``Join``) or
``Offline`` (``Quit``, or ``HeartbeatInterrupt`` for every fourth of them); the
wire format, query string and signature are bot.tencent.callbacks'.

The events are exact: the simulator keeps every join and leave as it happens
(``Simulator.start_member_events``), and each push replays the curves up to the
simulator's now and takes them, so the callbacks of a group add up (Online +n,
Offline -n) to the change of its true count since the pusher was made (or since the
group was added). A callback that fails (no connection, a timeout, an answer other
than HTTP 200) is counted and logged, never retried: Tencent does not retry an
after-event callback either (nor follows a redirect: a 3xx is a failure). After a
connection failure, the rest of that push's callbacks on the same connection are not
tried (counted as unreachable): a dead or silent receiver costs a timeout a push, not
one per callback.

    pusher = CallbackPusher(sim, "http://127.0.0.1:3000/tencent/callback", token)
    pusher.push_once()      # or pusher.start() ... pusher.stop()
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

import requests

from bot.tencent.callbacks import MEMBER_STATE_CHANGE, signed_query

if TYPE_CHECKING:
    from bot.simulator.server import Simulator

__all__ = [
    "DEFAULT_WORKERS",
    "HEARTBEAT_EVERY",
    "MAX_MEMBERS_PER_CALLBACK",
    "PUSH_TIMEOUT",
    "WARN_EVERY",
    "CallbackPusher",
    "PushStats",
    "check_callback_url",
]

logger = logging.getLogger(__name__)

#: Members in one callback at most; a larger move is split.
MAX_MEMBERS_PER_CALLBACK = 50
#: Seconds to wait for the receiver (connect, then answer): Tencent's webhook timeout.
PUSH_TIMEOUT = 2.0
#: Every this many Offline callbacks, one's cause is HeartbeatInterrupt (the others: Quit).
HEARTBEAT_EVERY = 4
#: Connections to the receiver at once; a group's callbacks always go one after another.
DEFAULT_WORKERS = 4
#: Seconds between two warnings of the same kind (the others are counted, not logged).
WARN_EVERY = 60.0

_HEADERS = {"Content-Type": "application/json"}
_AUDIO_VIDEO = "AVChatRoom"

# One group's callbacks, in order: (JSON body, members in it).
_Callbacks = list[tuple[bytes, int]]


def check_callback_url(url: str) -> SplitResult:
    """``url`` split, if it can receive callbacks (http or https, with a host); else
    ValueError saying what is wrong."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    try:
        requests.Request("POST", url).prepare()
    except requests.RequestException as exc:
        raise ValueError(f"{url!r} is not a URL requests can use ({exc})") from None
    return parts


@dataclass(frozen=True, slots=True)
class PushStats:
    """Counters since the pusher was made.

    ``callbacks``: callbacks to send (each at most 50 members); ``members``: the
    members in them; ``refused``: answered other than HTTP 200; ``unreachable``: no
    answer (connection refused or reset, timeout) or not tried after such a failure.
    """

    callbacks: int = 0
    members: int = 0
    refused: int = 0
    unreachable: int = 0

    @property
    def failures(self) -> int:
        return self.refused + self.unreachable

    @property
    def delivered(self) -> int:
        return self.callbacks - self.failures


@dataclass(slots=True)
class _Tally:
    callbacks: int = 0
    members: int = 0
    refused: int = 0
    unreachable: int = 0

    def add(self, other: _Tally) -> None:
        self.callbacks += other.callbacks
        self.members += other.members
        self.refused += other.refused
        self.unreachable += other.unreachable


class CallbackPusher:
    """Sends ``sim``'s member-state changes to ``url``, signed with ``token`` (none:
    unsigned callbacks, as Tencent sends before a token is set).

    ``push_once()`` sends what is pending now; ``start()`` does so every ``interval``
    seconds (real time) in a daemon thread, until ``stop()``. Up to ``workers``
    connections at once, each group on one of them, so a group's callbacks arrive in
    order. One pusher per simulator; it keeps the simulator's events from its creation
    until ``stop()``.
    """

    def __init__(
        self,
        sim: Simulator,
        url: str,
        token: str | None,
        *,
        interval: float = 1.0,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be > 0 seconds")
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._target = check_callback_url(url)
        self._sim = sim
        self._token = token
        self.interval = interval
        self._sessions = [_session() for _ in range(workers)]
        self._pool: ThreadPoolExecutor | None = None
        self._offline = 0  # Offline callbacks made, for their causes
        self._push_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._tally = _Tally()
        self._warned: dict[str, tuple[float, int]] = {}  # kind -> (logged at, not logged)
        self._monotonic = time.monotonic
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        sim.start_member_events()

    def __repr__(self) -> str:
        signed = "signed" if self._token else "unsigned"
        return f"CallbackPusher({self.where!r}, {signed}, every {self.interval:g} s)"

    @property
    def where(self) -> str:
        """The receiver for logs: scheme, host, port and path (no credentials, no query)."""
        target = self._target
        host = f"[{target.hostname}]" if ":" in (target.hostname or "") else target.hostname
        port = f":{target.port}" if target.port is not None else ""
        return f"{target.scheme}://{host}{port}{target.path}"

    @property
    def running(self) -> bool:
        """Whether the background thread is pushing (``start()``, not yet ``stop()``)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> PushStats:
        with self._stats_lock:
            tally = self._tally
            return PushStats(tally.callbacks, tally.members, tally.refused, tally.unreachable)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> CallbackPusher:
        """Push every ``interval`` seconds in a daemon thread; returns self."""
        if self._thread is not None or self._stopping.is_set():
            raise RuntimeError("the pusher was already started (or stopped)")
        self._thread = threading.Thread(target=self._run, name="callback-pusher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pushing (waits for a push under way), stop keeping the simulator's events
        and close the connections; safe to call twice."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        with self._push_lock:
            self._sim.stop_member_events()
            if self._pool is not None:
                self._pool.shutdown()
            for session in self._sessions:
                session.close()

    def __enter__(self) -> CallbackPusher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        wait = self.interval
        while not self._stopping.wait(wait):
            began = time.monotonic()
            try:
                self.push_once()
            except Exception:
                logger.exception("pushing member-state callbacks to %s failed", self.where)
            wait = max(0.0, self.interval - (time.monotonic() - began))

    # ----------------------------------------------------------------- pushing

    def push_once(self) -> int:
        """Replay the simulator up to its now, then send every pending member-state
        change; returns how many callbacks that made (see ``stats`` for how they went)."""
        with self._push_lock:
            if self._stopping.is_set() and threading.current_thread() is not self._thread:
                raise RuntimeError("the pusher is stopped")
            now, moved = self._sim.take_member_events()
            groups = [
                self._callbacks(spec.group_id, runs)
                for spec, runs in moved
                if spec.type == _AUDIO_VIDEO
            ]
            if not groups:
                return 0
            url = self._signed_url(now)
            lanes = _lanes(groups, len(self._sessions))
            if len(lanes) == 1:
                tallies = [self._send(self._sessions[0], url, lanes[0])]
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        len(self._sessions), thread_name_prefix="callback-push"
                    )
                futures = [
                    self._pool.submit(self._send, session, url, lane)
                    for session, lane in zip(self._sessions, lanes, strict=False)
                ]
                tallies = [future.result() for future in futures]
            total = _Tally()
            for tally in tallies:
                total.add(tally)
            with self._stats_lock:
                self._tally.add(total)
            return total.callbacks

    def _callbacks(self, group_id: str, runs: Sequence[tuple[str, list[str]]]) -> _Callbacks:
        """One group's moves as callback bodies, in order, at most 50 members each."""
        bodies: _Callbacks = []
        for event, accounts in runs:
            for first in range(0, len(accounts), MAX_MEMBERS_PER_CALLBACK):
                batch = accounts[first : first + MAX_MEMBERS_PER_CALLBACK]
                if event == "Online":
                    cause = "Join"
                else:
                    self._offline += 1
                    heartbeat = self._offline % HEARTBEAT_EVERY == 0
                    cause = "HeartbeatInterrupt" if heartbeat else "Quit"
                body = {
                    "CallbackCommand": MEMBER_STATE_CHANGE,
                    "GroupId": group_id,
                    "EventType": event,
                    "EventCause": cause,
                    "MemberList": [{"Member_Account": account} for account in batch],
                }
                bodies.append((json.dumps(body, separators=(",", ":")).encode(), len(batch)))
        return bodies

    def _signed_url(self, now: float) -> str:
        """The configured URL (its own query kept) with Tencent's query appended."""
        target = self._target
        added = urlencode(signed_query(self._sim.scenario.sdkappid, self._token, now))
        query = f"{target.query}&{added}" if target.query else added
        return urlunsplit((target.scheme, target.netloc, target.path, query, ""))

    def _send(self, session: requests.Session, url: str, lane: list[_Callbacks]) -> _Tally:
        """POST one lane's callbacks, each group's in order; never raises for the
        receiver's sake."""
        tally = _Tally()
        for callbacks in lane:
            tally.callbacks += len(callbacks)
            tally.members += sum(members for _, members in callbacks)
        sent = 0
        # Prepared once, a body set per callback: requests' merging of session settings
        # costs more than the rest of a loopback callback.
        template = session.prepare_request(requests.Request("POST", url, headers=_HEADERS))
        for callbacks in lane:
            for body, _ in callbacks:
                request = template.copy()
                request.prepare_body(body, None)
                try:
                    answer = session.send(request, timeout=PUSH_TIMEOUT, allow_redirects=False)
                except requests.RequestException as exc:
                    # Never the exception's text: it quotes the URL, Sign included.
                    tally.unreachable += tally.callbacks - sent
                    self._warn(
                        "unreachable",
                        "member-state callbacks to %s get no answer (%s): %d not sent",
                        self.where,
                        type(exc).__name__,
                        tally.callbacks - sent,
                    )
                    return tally
                sent += 1
                if answer.status_code != 200:
                    tally.refused += 1
                    self._warn(
                        "refused",
                        "a member-state callback to %s was answered HTTP %d",
                        self.where,
                        answer.status_code,
                    )
        return tally

    def _warn(self, kind: str, message: str, *args: object) -> None:
        """Log a warning of this kind at most once a minute, saying how many were not."""
        with self._stats_lock:
            now = self._monotonic()
            logged_at, hidden = self._warned.get(kind, (None, 0))
            if logged_at is not None and now - logged_at < WARN_EVERY:
                self._warned[kind] = (logged_at, hidden + 1)
                return
            self._warned[kind] = (now, 0)
        if hidden:
            message += f" (and {hidden} more since the last such warning)"
        logger.warning(message, *args)


def _session() -> requests.Session:
    session = requests.Session()
    # The receiver is named on the command line: no proxy or .netrc lookups (requests
    # makes them for every call otherwise, a good share of a callback's cost).
    session.trust_env = False
    return session


def _lanes(groups: list[_Callbacks], count: int) -> list[list[_Callbacks]]:
    """Groups shared among at most ``count`` lanes, busiest first to the least busy lane;
    a group stays whole, so its callbacks go out in order."""
    if count == 1 or len(groups) == 1:
        return [groups]
    lanes: list[list[_Callbacks]] = [[] for _ in range(min(count, len(groups)))]
    loads = [0] * len(lanes)
    for callbacks in sorted(groups, key=len, reverse=True):
        lightest = loads.index(min(loads))
        lanes[lightest].append(callbacks)
        loads[lightest] += len(callbacks)
    return lanes
