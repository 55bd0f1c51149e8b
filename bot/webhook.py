"""POST /tencent/callback: where Tencent pushes its member-state callbacks (WSGI).

Cheap for junk: a callback is authenticated from its query string (``Sign``,
``RequestTime``, ``SdkAppid``; ``bot.tencent.callbacks``) before its body is read, and
refused with 401 or 403 and one log line; a body over MAX_BODY_BYTES gets 413 from
the server before it is read. A good one is answered Tencent's OK as soon as the
inbox has written it (``bot.alerts.push``); other commands are answered OK and
ignored. The token never reaches the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from bot.alerts.push import Inbox, InboxUnavailable
from bot.httpserver import WsgiApp, answer
from bot.metrics import Metrics
from bot.tencent.callbacks import OK_ANSWER, CallbackRefused, authenticate, parse

__all__ = ["CALLBACK_PATH", "callback_app"]

log = logging.getLogger(__name__)

#: Where Tencent is told to send callbacks (the console's callback URL ends with it).
CALLBACK_PATH = "/tencent/callback"


def callback_app(
    inbox: Inbox,
    *,
    sdkappid: int,
    token: str | None,
    clock: Callable[[], float] = time.time,
    metrics: Metrics | None = None,
) -> WsgiApp:
    """The WSGI endpoint for POST CALLBACK_PATH (the caller routes the path to it); every
    callback is counted into ``metrics`` by outcome and the status answered.

    ``token`` None accepts unsigned callbacks (TENCENT_IM_CALLBACK_INSECURE=1 only)."""
    counted = (metrics if metrics is not None else Metrics()).tencent_callbacks

    def tally(outcome: str, status: int) -> None:
        counted.labels(outcome, str(status)).inc()

    def endpoint(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            tally("refused", 405)
            return _json(start_response, 405, b'{"error":"POST only"}')
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            authenticate(query, sdkappid=sdkappid, token=token, now=clock())
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            command = query.get("CallbackCommand", "")
            change = parse(command, body)
        except (CallbackRefused, ValueError) as refused:
            status = refused.status if isinstance(refused, CallbackRefused) else 400
            tally("refused", status)
            level = logging.WARNING if status == 403 else logging.INFO
            log.log(
                level,
                "refused a Tencent callback from %s (HTTP %d): %s",
                environ.get("REMOTE_ADDR", "?"),
                status,
                refused,
            )
            return _json(start_response, status, b'{"error":"refused"}')
        if change is None:
            tally("ignored", 200)
            return _json(start_response, 200, OK_ANSWER)
        try:
            inbox.add(change)
        except InboxUnavailable as error:
            tally("unavailable", 503)
            log.warning(
                "could not take a Tencent callback for %s: %s",
                change.group_id,
                error,
                extra={"group_id": change.group_id},
            )
            failed = b'{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"busy"}'
            return _json(start_response, 503, failed)
        tally("accepted", 200)
        return _json(start_response, 200, OK_ANSWER)

    return endpoint


def _json(start_response: Callable[..., Any], status: int, body: bytes) -> list[bytes]:
    return answer(start_response, status, "application/json", body)
