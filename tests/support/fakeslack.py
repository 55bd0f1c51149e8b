"""A fake Slack Web API served over real loopback HTTP, for tests.

Aim slack_sdk at it with ``WebClient(token="xoxb-test", base_url=fake.api_url)``. Every request
that arrives is recorded as a `Call`, in arrival order; tests read them back with `calls()` or
block until they arrive with `wait_for()` (a `threading.Condition`, no sleep polling).

What it serves (all paths on ``http://127.0.0.1:<port>``):

    /api/<method>            Web API methods (POST or GET; form, multipart, JSON or query string)
    /upload/<file_id>        step 2 of files_upload_v2: the file bytes (recorded as "upload")
    /response/<name>         a response_url stand-in (recorded as "response_url:<name>")

Web API methods with behaviour: auth.test, chat.postMessage, chat.postEphemeral, chat.update,
conversations.open, conversations.history, conversations.replies, files.getUploadURLExternal,
files.completeUploadExternal, usergroups.users.list, users.info, views.publish, views.open,
views.update. A file shared in a channel (``channel_id``, and ``thread_ts`` in a thread) is
listed there as Slack lists a share: a message whose ``files`` name it (id, name, title).
Any other method answers {"ok": true}. The views methods refuse, as Slack does, a view over
its limits (invalid_arguments: more than 100 blocks, a modal title over 24 characters,
private_metadata over 3,000) and views.open without a trigger_id (invalid_trigger_id);
`home_view()` is the Home tab last published for a user.
Tokens in `invalid_tokens` get invalid_auth; a request without a token gets not_authed.
Every Web API answer carries an ``x-slack-req-id`` header, as Slack's do (`Call.request_id`).

Failures are queued per method with `fail_next()` (the idea of opsdroid's ``add_response``):
each queued failure answers exactly one request, then the method behaves normally again.
`reply_next()` queues an answer given verbatim instead: malformed JSON, ``ok`` without the
fields a client needs, or any other body Slack (or a proxy in front of it) might send.

Socket Mode, when ``socket_mode`` is set: apps.connections.open answers the URL of a
WebSocket served here (``/socket-mode``), as Slack's does; the app connects, is greeted with
``hello``, gets its pings answered, and `socket_event()` sends it an envelope (a slash command)
and returns its ack (each ack is also recorded, as ``socket_mode:ack``).

Responses can be withheld with `hold()`: the next request(s) of a method are processed and
recorded as usual (a held chat.postMessage is stored, so conversations.history lists it), but
the HTTP answer waits until `release()` (or `stop()`). A test can so stop a client, e.g. kill
its process, after Slack has acted and before the client learns it did. `wait_for_held()`
returns the held `Call`, whose ``headers`` tell who sent it (``user-agent``).
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "FakeSlack",
    "UploadedFile",
]

TEAM_ID = "T0001"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0001"
BOT_NAME = "online-bot"

# Parameters that slack_sdk (or a caller) may send as JSON-encoded strings inside form data.
JSON_STRING_PARAMS = ("blocks", "metadata", "files", "attachments", "user_auth_blocks", "view")

# response_url errors Slack answers with 404 rather than 400.
RESPONSE_URL_404_ERRORS = frozenset({"expired_url", "no_service", "used_url"})

#: Slack's limits on a view (views.publish, views.open, views.update).
MAX_VIEW_BLOCKS = 100
MAX_MODAL_TITLE = 24
MAX_PRIVATE_METADATA = 3000

FIRST_TS_MICROS = 1_700_000_000_000_100
TS_STEP_MICROS = 100


@dataclass(frozen=True)
class Call:
    """One request as it arrived.

    ``headers`` has lower-cased names. ``time`` is ``time.monotonic()`` at arrival.
    ``request_id``: what the answer's ``x-slack-req-id`` header said (Web API calls only).
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    time: float
    request_id: str = ""

    @property
    def token(self) -> str | None:
        """The bearer token of the request, or the ``token`` parameter."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[len("bearer ") :].strip()
        token = self.params.get("token")
        return token if isinstance(token, str) else None


@dataclass(frozen=True)
class UploadedFile:
    """A file shared through files.getUploadURLExternal + upload + completeUploadExternal."""

    file_id: str
    filename: str
    title: str | None
    content: bytes
    channel_id: str | None
    initial_comment: str | None
    thread_ts: str | None = None


@dataclass(frozen=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


@dataclass(frozen=True)
class _Canned:
    body: bytes
    status: int
    content_type: str


@dataclass(frozen=True)
class _Held:
    call: Call
    released: threading.Event


@dataclass
class _PendingFile:
    file_id: str
    filename: str
    length: int | None
    content: bytes | None = None
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, payload: dict[str, Any], status: int = 200, **headers: str) -> _Reply:
        body = json.dumps(payload).encode("utf-8")
        extra = tuple((name.replace("_", "-"), value) for name, value in headers.items())
        return cls(status, body, headers=extra)

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain", **headers: str
    ) -> _Reply:
        extra = tuple((name.replace("_", "-"), value) for name, value in headers.items())
        return cls(status, text.encode("utf-8"), f"{content_type}; charset=utf-8", extra)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops SYNs under concurrent clients


class FakeSlack:
    """A fake Slack Web API on 127.0.0.1, on a free port.

    Configuration, set before or between calls:

    - ``usergroups``: user-group ID -> member user IDs, for usergroups.users.list.
    - ``users``: user ID -> fields of its user object (``{"tz": "Europe/Paris"}``), for
      users.info; any other user is ``user_not_found``.
    - ``invalid_tokens``: tokens answered with invalid_auth (``{"xoxb-bad"}`` to start with).
    - ``socket_mode``: apps.connections.open answers a WebSocket URL served here (False: it
      answers ``{"ok": true}`` without one, and a Socket Mode client cannot connect).
    """

    def __init__(self) -> None:
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.invalid_tokens: set[str] = {"xoxb-bad"}
        self.socket_mode = False
        self._links: list[_Link] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clear()

    def _clear(self) -> None:
        self._calls: list[Call] = []
        self._failures: dict[str, deque[_Failure | _Canned]] = defaultdict(deque)
        self._holds: dict[str, int] = defaultdict(int)
        self._held: list[_Held] = []
        self._messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._files: dict[str, _PendingFile] = {}
        self._shared: list[UploadedFile] = []
        self._ts_micros = FIRST_TS_MICROS - TS_STEP_MICROS
        self._file_seq = 0
        self._home_views: dict[str, dict[str, Any]] = {}
        self._view_seq = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        if self._server is not None:
            raise RuntimeError("FakeSlack already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fakeslack", kwargs={"poll_interval": 0.01}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        with self._cond:
            links, self._links = self._links, []
        for link in links:
            link.close()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response_url stand-in; POSTs to it are recorded as ``response_url:<name>``."""
        return f"{self.base_url}/response/{name}"

    # -- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``count`` calls of ``method`` arrived; return all of them so far."""

        def arrived() -> list[Call]:
            return [c for c in self._calls if c.method == method]

        with self._cond:
            if self._cond.wait_for(lambda: len(arrived()) >= count, timeout=timeout):
                return arrived()
            seen = [c.method for c in self._calls]
            got = len(arrived())
        raise AssertionError(
            f"waited {timeout}s for {count} call(s) of {method!r}, got {got}; arrived: {seen}"
        )

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON payloads POSTed to response URLs (to ``name`` only, if given)."""
        prefix = "response_url:" if name is None else f"response_url:{name}"
        with self._cond:
            return [
                c.params
                for c in self._calls
                if (c.method.startswith(prefix) if name is None else c.method == prefix)
            ]

    def uploaded_files(self) -> list[UploadedFile]:
        """Files whose upload was completed (shared), in completion order."""
        with self._cond:
            return list(self._shared)

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages stored by chat.postMessage (as updated by chat.update) and files shared
        (``"upload": True``), oldest first."""
        with self._cond:
            channels = [channel] if channel is not None else list(self._messages)
            return [dict(m) for ch in channels for m in self._messages.get(ch, [])]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for ``user_id`` (views.publish), as Slack keeps it."""
        with self._cond:
            view = self._home_views.get(user_id)
            return dict(view) if view is not None else None

    def reset(self) -> None:
        """Forget calls, messages, files, queued failures and holds (releasing held
        responses); keep the configuration."""
        self.release()
        with self._cond:
            self._clear()

    # -- Socket Mode -------------------------------------------------------------------------

    def socket_event(
        self, kind: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Send the connected app an envelope of ``kind`` (``slash_commands``,
        ``interactive``, ``events_api``) over Socket Mode, once it has connected; return the
        payload of its ack (``{}`` for a bare ack)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._links, timeout=timeout):
                raise AssertionError(f"waited {timeout}s for an app to connect over Socket Mode")
            link = self._links[-1]
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": True,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        link.send(_TEXT, json.dumps(envelope).encode())

        def acked() -> list[Call]:
            return [
                c
                for c in self._calls
                if c.method == "socket_mode:ack" and c.params.get("envelope_id") == envelope_id
            ]

        with self._cond:
            if not self._cond.wait_for(acked, timeout=timeout):
                raise AssertionError(f"waited {timeout}s for the app to ack {kind}")
            (ack,) = acked()
        answer = ack.params.get("payload")
        return answer if isinstance(answer, dict) else {}

    def _websocket(self, handler: BaseHTTPRequestHandler) -> None:
        """Serve one Socket Mode connection until it closes (in its request's thread)."""
        key = handler.headers.get("Sec-WebSocket-Key", "")
        digest = hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", base64.b64encode(digest).decode())
        handler.end_headers()
        handler.wfile.flush()
        link = _Link(handler.connection)
        with self._cond:
            self._links.append(link)
            self._cond.notify_all()
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        try:
            link.send(_TEXT, json.dumps(hello).encode())
            while True:
                frame = _read_frame(handler.rfile)
                if frame is None or frame[0] == _CLOSE:
                    break
                opcode, data = frame
                if opcode == _PING:
                    link.send(_PONG, data)
                elif opcode == _TEXT:
                    message = json.loads(data)
                    with self._cond:
                        call = Call("socket_mode:ack", message, {}, data, time.monotonic())
                        self._calls.append(call)
                        self._cond.notify_all()
        except (OSError, ValueError):
            pass  # the app went away, or the fake stopped
        finally:
            with self._cond:
                if link in self._links:
                    self._links.remove(link)
            handler.close_connection = True

    def _apps_connections_open(self, params: dict[str, Any]) -> _Reply:
        if not self.socket_mode:
            return _ok()
        return _ok(url=self.base_url.replace("http://", "ws://") + "/socket-mode")

    # -- error injection ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` requests of ``method`` fail.

        ``method`` is a Web API method, ``"upload"``, or ``"response_url:<name>"``.
        With no error and no status: HTTP 429 ``ratelimited`` with ``Retry-After`` (1 unless
        ``retry_after`` is given; 0 is allowed). Another error: HTTP 200 ``{"ok": false,
        "error": ...}``. ``status=500`` (or any status): that HTTP status, ``fatal_error``
        unless an error is given. Response URLs answer errors as plain text, as Slack does.
        """
        if error is None:
            error = "ratelimited" if status in (None, 429) else "fatal_error"
        if status is None:
            status = 429 if error == "ratelimited" else 200
        with self._cond:
            for _ in range(times):
                self._failures[method].append(_Failure(error, status, retry_after))

    def reply_next(
        self,
        method: str,
        body: str | dict[str, Any],
        times: int = 1,
        status: int = 200,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        """Answer the next ``times`` requests of ``method`` with exactly ``body``, unprocessed.

        A dict is sent as JSON (``{"ok": True}``: an answer missing the fields a client
        reads); a string is sent as it is (``"{not json"``: malformed JSON). Queued in turn
        with `fail_next()`'s failures.
        """
        raw = json.dumps(body) if isinstance(body, dict) else body
        with self._cond:
            for _ in range(times):
                self._failures[method].append(_Canned(raw.encode("utf-8"), status, content_type))

    def hold(self, method: str, times: int = 1) -> None:
        """Withhold the answer to the next ``times`` requests of ``method`` until `release()`.

        A held request is processed and recorded like any other (a message is stored, a
        queued failure is used up); only its HTTP response waits.
        """
        with self._cond:
            self._holds[method] += times

    def held(self, method: str | None = None) -> list[Call]:
        """The requests (of ``method``, if given) whose responses are being withheld now."""
        with self._cond:
            return [h.call for h in self._held if method is None or h.call.method == method]

    def wait_for_held(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``count`` requests of ``method`` are held; return the held ones."""

        def now_held() -> list[Call]:
            return [h.call for h in self._held if h.call.method == method]

        with self._cond:
            if self._cond.wait_for(lambda: len(now_held()) >= count, timeout=timeout):
                return now_held()
            got = len(now_held())
        raise AssertionError(f"waited {timeout}s for {count} held call(s) of {method!r}, got {got}")

    def release(self, method: str | None = None) -> int:
        """Answer the held requests (of ``method``, if given) and cancel the holds not used
        yet; returns how many responses were released."""
        with self._cond:
            for name in [m for m in self._holds if method is None or m == method]:
                del self._holds[name]
            released = [h for h in self._held if method is None or h.call.method == method]
            self._held = [h for h in self._held if h not in released]
            self._cond.notify_all()
        for h in released:
            h.released.set()
        return len(released)

    # -- request handling (called from server threads) ---------------------------------------

    def _handle(self, path: str, headers: dict[str, str], body: bytes, query: str) -> _Reply:
        if path.startswith("/api/"):
            method = path[len("/api/") :]
            params = _parse_params(headers.get("content-type", ""), body, query)
            kind = "api"
        elif path.startswith("/upload/"):
            method = "upload"
            params = {"file_id": path[len("/upload/") :]}
            kind = "upload"
        elif path.startswith("/response/"):
            method = f"response_url:{path[len('/response/') :]}"
            params = _parse_response_payload(headers.get("content-type", ""), body, query)
            kind = "response_url"
        else:
            return _Reply.json({"ok": False, "error": "unknown_path"}, status=404)

        with self._cond:
            request_id = f"fake-req-{len(self._calls) + 1}" if kind == "api" else ""
            call = Call(method, params, headers, body, time.monotonic(), request_id)
            self._calls.append(call)
            try:
                reply = self._reply(method, kind, params, body, call.token)
                if request_id:  # as Slack does: an id to quote when asking about a call
                    reply = replace(reply, headers=(*reply.headers, ("x-slack-req-id", request_id)))
                held = None
                if self._holds.get(method):
                    self._holds[method] -= 1
                    held = _Held(call, threading.Event())
                    self._held.append(held)
            finally:
                self._cond.notify_all()
        if held is not None:
            held.released.wait()
        return reply

    def _reply(
        self, method: str, kind: str, params: dict[str, Any], body: bytes, token: str | None
    ) -> _Reply:
        failures = self._failures.get(method)
        if failures:
            queued = failures.popleft()
            if isinstance(queued, _Canned):
                return _Reply(queued.status, queued.body, queued.content_type)
            return _failure_reply(queued, kind)
        if kind == "upload":
            return self._upload(params["file_id"], body)
        if kind == "response_url":
            return _Reply.text("ok", content_type="text/html")
        return self._api(method, params, token)

    def _api(self, method: str, params: dict[str, Any], token: str | None) -> _Reply:
        if not token:
            return _error("not_authed")
        if token in self.invalid_tokens:
            return _error("invalid_auth")
        handler = _API_METHODS.get(method)
        if handler is None:
            return _Reply.json({"ok": True})
        return handler(self, params)

    def _next_ts(self) -> str:
        # Like Slack's: the time of posting, always increasing.
        self._ts_micros = max(self._ts_micros + TS_STEP_MICROS, int(time.time() * 1_000_000))
        seconds, micros = divmod(self._ts_micros, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        return None

    def _auth_test(self, params: dict[str, Any]) -> _Reply:
        return _ok(
            url="https://fake-team.slack.com/",
            team="Fake Team",
            user=BOT_NAME,
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def _chat_post_message(self, params: dict[str, Any]) -> _Reply:
        channel = _dm_channel(str(params.get("channel") or ""))
        if not channel:
            return _error("channel_not_found")
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return _error("no_text")
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key):
                message[key] = params[key]
        self._add_message(channel, message, params.get("thread_ts"))
        return _ok(channel=channel, ts=ts, message=dict(message))

    def _add_message(self, channel: str, message: dict[str, Any], thread_ts: str | None) -> None:
        """Add ``message`` to the channel's history, as a reply in ``thread_ts``'s thread
        if given (its parent then counts the reply)."""
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = self._find_message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self._messages[channel].append(message)

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> _Reply:
        if not params.get("channel"):
            return _error("channel_not_found")
        if not params.get("user"):
            return _error("user_not_in_channel")
        return _ok(message_ts=self._next_ts())

    def _chat_update(self, params: dict[str, Any]) -> _Reply:
        channel = str(params.get("channel") or "")
        ts = str(params.get("ts") or "")
        message = self._find_message(channel, ts)
        if message is not None:
            for key in ("text", "blocks", "attachments", "metadata"):
                if key in params:
                    message[key] = params[key]
        return _ok(channel=channel, ts=ts, text=params.get("text", ""))

    def _conversations_open(self, params: dict[str, Any]) -> _Reply:
        if params.get("channel"):
            return _ok(channel={"id": params["channel"]}, already_open=True)
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return _error("users_list_not_supplied")
        channel_id = "D" + users[0] if len(users) == 1 else "G" + "".join(users)
        return _ok(channel={"id": channel_id}, no_op=False, already_open=False)

    def _conversations_history(self, params: dict[str, Any]) -> _Reply:
        channel = str(params.get("channel") or "")
        inclusive = _truthy(params.get("inclusive"))
        oldest = _ts_value(params.get("oldest"), Decimal(0))
        latest = _ts_value(params.get("latest"), Decimal("Infinity"))
        limit = int(params.get("limit") or 100)
        with_metadata = _truthy(params.get("include_all_metadata"))

        def in_range(ts: Decimal) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        top_level = [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts", m["ts"]) == m["ts"] and in_range(Decimal(m["ts"]))
        ]
        newest_first = [_listed(m, with_metadata) for m in reversed(top_level)]
        return _ok(
            messages=newest_first[:limit],
            has_more=len(newest_first) > limit,
            pin_count=0,
            response_metadata={"next_cursor": ""},
        )

    def _conversations_replies(self, params: dict[str, Any]) -> _Reply:
        channel = str(params.get("channel") or "")
        ts = str(params.get("ts") or "")
        with_metadata = _truthy(params.get("include_all_metadata"))
        thread = [
            m for m in self._messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts
        ]
        if not thread:
            return _error("thread_not_found")
        return _ok(
            messages=[_listed(m, with_metadata) for m in thread],
            has_more=False,
            response_metadata={"next_cursor": ""},
        )

    def _files_get_upload_url(self, params: dict[str, Any]) -> _Reply:
        filename = params.get("filename")
        if not filename:
            return _error("invalid_arguments")
        self._file_seq += 1
        file_id = f"F{self._file_seq:08d}"
        length = params.get("length")
        self._files[file_id] = _PendingFile(
            file_id, str(filename), int(length) if length is not None else None
        )
        return _ok(upload_url=f"{self.base_url}/upload/{file_id}", file_id=file_id)

    def _upload(self, file_id: str, body: bytes) -> _Reply:
        pending = self._files.get(file_id)
        if pending is None:
            return _Reply.text("file not found", status=404)
        pending.content = body
        return _Reply.text(f"OK - {len(body)}")

    def _files_complete_upload(self, params: dict[str, Any]) -> _Reply:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments")
        pending: list[tuple[_PendingFile, str | None]] = []
        for item in files:
            entry = self._files.get(str(item.get("id")))
            if entry is None or entry.content is None:
                return _error("file_not_found")
            pending.append((entry, item.get("title")))
        channel_id = params.get("channel_id") or None
        if channel_id is None and params.get("channels"):
            channel_id = str(params["channels"]).split(",")[0]
        answer = []
        shown = []
        for entry, title in pending:
            assert entry.content is not None
            shown.append({"id": entry.file_id, "name": entry.filename, "title": title})
            self._shared.append(
                UploadedFile(
                    file_id=entry.file_id,
                    filename=entry.filename,
                    title=title,
                    content=entry.content,
                    channel_id=channel_id,
                    initial_comment=params.get("initial_comment") or None,
                    thread_ts=params.get("thread_ts") or None,
                )
            )
            answer.append(
                {
                    "id": entry.file_id,
                    "title": title or entry.filename,
                    "name": entry.filename,
                    "size": len(entry.content),
                }
            )
        if channel_id is not None:  # as Slack shows a share: a message carrying the files
            self._post_share(str(channel_id), params, shown)
        return _ok(files=answer)

    def _post_share(self, channel: str, params: dict[str, Any], files: list[Any]) -> None:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": params.get("initial_comment") or "",
            "ts": self._next_ts(),
            "upload": True,
            "files": files,
        }
        self._add_message(channel, message, params.get("thread_ts"))

    def _usergroups_users_list(self, params: dict[str, Any]) -> _Reply:
        group = str(params.get("usergroup") or "")
        if group not in self.usergroups:
            return _error("no_such_subteam")
        return _ok(users=list(self.usergroups[group]))

    def _views_publish(self, params: dict[str, Any]) -> _Reply:
        user_id = params.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            return _error("invalid_arguments")
        view = params.get("view")
        problem = _view_problem(view, "home")
        if problem is not None:
            return _invalid_view(problem)
        assert isinstance(view, dict)
        stored = self._stored_view(view)
        self._home_views[user_id] = stored
        return _ok(view=stored)

    def _views_open(self, params: dict[str, Any]) -> _Reply:
        if not params.get("trigger_id"):
            return _error("invalid_trigger_id")
        view = params.get("view")
        problem = _view_problem(view, "modal")
        if problem is not None:
            return _invalid_view(problem)
        assert isinstance(view, dict)
        return _ok(view=self._stored_view(view))

    def _views_update(self, params: dict[str, Any]) -> _Reply:
        if not (params.get("view_id") or params.get("external_id")):
            return _error("invalid_arguments")
        view = params.get("view")
        problem = _view_problem(view, view.get("type") if isinstance(view, dict) else "")
        if problem is not None:
            return _invalid_view(problem)
        assert isinstance(view, dict)
        return _ok(view=self._stored_view(view))

    def _stored_view(self, view: dict[str, Any]) -> dict[str, Any]:
        self._view_seq += 1
        return {**view, "id": f"V{self._view_seq:08d}", "hash": f"{self._view_seq}.hash"}

    def _users_info(self, params: dict[str, Any]) -> _Reply:
        user = str(params.get("user") or "")
        if user not in self.users:
            return _error("user_not_found")
        return _ok(user={"id": user, "team_id": TEAM_ID, **self.users[user]})


def _view_problem(view: Any, kind: Any) -> str | None:
    """Why Slack would refuse ``view`` as a view of type ``kind`` ("home", "modal")."""
    if not isinstance(view, dict) or view.get("type") != kind or kind not in ("home", "modal"):
        return f"a {kind} view is needed"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
        return f"blocks must be a list of at most {MAX_VIEW_BLOCKS}"
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        return f"private_metadata is at most {MAX_PRIVATE_METADATA} characters"
    if kind == "modal":
        title = (view.get("title") or {}).get("text")
        if not isinstance(title, str) or not 0 < len(title) <= MAX_MODAL_TITLE:
            return f"a modal's title has 1 to {MAX_MODAL_TITLE} characters"
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and not view.get("submit"):
            return "a modal with an input needs a submit button"
    return None


def _invalid_view(problem: str) -> _Reply:
    return _Reply.json(
        {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [problem]}}
    )


_API_METHODS = {
    "apps.connections.open": FakeSlack._apps_connections_open,
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.postEphemeral": FakeSlack._chat_post_ephemeral,
    "chat.update": FakeSlack._chat_update,
    "conversations.open": FakeSlack._conversations_open,
    "conversations.history": FakeSlack._conversations_history,
    "conversations.replies": FakeSlack._conversations_replies,
    "files.getUploadURLExternal": FakeSlack._files_get_upload_url,
    "files.completeUploadExternal": FakeSlack._files_complete_upload,
    "usergroups.users.list": FakeSlack._usergroups_users_list,
    "views.publish": FakeSlack._views_publish,
    "views.open": FakeSlack._views_open,
    "views.update": FakeSlack._views_update,
    "users.info": FakeSlack._users_info,
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"
    disable_nagle_algorithm = True  # headers and body in two writes would wait ~40 ms for ACKs

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        websocket = self.headers.get("Upgrade", "").lower() == "websocket"
        if urlsplit(self.path).path == "/socket-mode" and websocket:
            fake._websocket(self)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = fake._handle(url.path, headers, body, url.query)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (e.g. killed while held)


# -- WebSocket frames (RFC 6455), as much as Socket Mode uses -----------------------------------

_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class _Link:
    """One Socket Mode connection: frames to the app, one writer at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, opcode: int, data: bytes) -> None:
        """One unmasked, unfragmented frame (a server's)."""
        size = len(data)
        if size < 126:
            head = bytes([0x80 | opcode, size])
        elif size < 1 << 16:
            head = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
        with self._lock:
            self._sock.sendall(head + data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


def _read_frame(stream: Any) -> tuple[int, bytes] | None:
    """One frame from the app (masked, as a client's are): (opcode, payload); None at the end."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode, size = head[0] & 0x0F, head[1] & 0x7F
    if size == 126:
        size = int.from_bytes(stream.read(2), "big")
    elif size == 127:
        size = int.from_bytes(stream.read(8), "big")
    mask = stream.read(4) if head[1] & 0x80 else b""
    data = stream.read(size)
    if mask:
        data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    return opcode, data


def _ok(**payload: Any) -> _Reply:
    return _Reply.json({"ok": True, **payload})


def _error(error: str, status: int = 200) -> _Reply:
    return _Reply.json({"ok": False, "error": error}, status=status)


def _failure_reply(failure: _Failure, kind: str) -> _Reply:
    headers = {}
    if failure.status == 429:
        retry_after = 1 if failure.retry_after is None else failure.retry_after
        headers["Retry-After"] = str(retry_after)
    if kind == "api":
        return _Reply.json({"ok": False, "error": failure.error}, failure.status, **headers)
    status = failure.status
    if status == 200:
        status = 404 if failure.error in RESPONSE_URL_404_ERRORS else 400
    return _Reply.text(failure.error, status, **headers)


def _parse_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json" and body:
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            params.update(decoded)
    elif mime == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    elif body:
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for key in JSON_STRING_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        params[name] = payload if part.get_filename() else payload.decode("utf-8")
    return params


def _parse_response_payload(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    if body[:1] == b"{":
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            return decoded
    params = _parse_params(content_type, body, query)
    payload = params.get("payload")
    if isinstance(payload, str) and payload[:1] == "{":
        return json.loads(payload)
    return params


def _dm_channel(channel: str) -> str:
    """Posting to a user ID posts in the DM with that user, as Slack does."""
    if channel[:1] in ("U", "W"):
        return "D" + channel
    return channel


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _ts_value(value: Any, default: Decimal) -> Decimal:
    if value in (None, ""):
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return default


def _listed(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    listed = dict(message)
    if not with_metadata:
        listed.pop("metadata", None)
    return listed
