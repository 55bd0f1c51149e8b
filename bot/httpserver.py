"""The HTTP server every endpoint runs on (waitress): Slack's (``bot.slack.serve``),
Tencent's callbacks (``bot.webhook``), GET /healthz.

A body of MAX_BODY_BYTES or more gets 413 before it is read; a port that cannot be
bound is a SettingsError naming PORT; ``stop_http_server`` stops a server serving in
another thread.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from bot.settings import SettingsError

__all__ = [
    "MAX_BODY_BYTES",
    "WsgiApp",
    "answer",
    "http_server",
    "routes_app",
    "stop_http_server",
]

#: Slack's requests and Tencent's callbacks are a few KB; a body this large gets 413
#: before it is read.
MAX_BODY_BYTES = 1024 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def answer(
    start_response: Callable[..., Any], status: int, content_type: str, body: bytes
) -> list[bytes]:
    reason = HTTPStatus(status).phrase
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(f"{status} {reason}", headers)
    return [body]


def routes_app(routes: Mapping[str, WsgiApp]) -> WsgiApp:
    """Only ``routes`` (path: WSGI app) and GET /healthz: what Socket Mode serves on PORT
    when Tencent pushes callbacks."""

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            return answer(start_response, 200, "text/plain", b"ok")
        if path in routes:
            return routes[path](environ, start_response)
        return answer(start_response, 404, "text/plain", b"Not Found")

    return dispatch


def http_server(app: WsgiApp, host: str, port: int) -> Any:
    """A waitress server for a WSGI app (``wsgi_app``, ``routes_app``), not started:
    ``.run()`` serves, ``stop_http_server`` stops.

    A body of MAX_BODY_BYTES or more gets 413 before it is read: with Content-Length, as
    soon as the headers arrive; chunked, once that much has arrived (framing included). A
    port that cannot be bound raises SettingsError naming PORT.
    """
    return create_server(
        app,
        sockets=[_listening_socket(host, port)],
        threads=16,
        ident="online-bot",
        max_request_body_size=MAX_BODY_BYTES,
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound here rather than by waitress, which on failure leaves its socket and threads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress: TIME_WAIT
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SettingsError(
            f"Cannot listen on port {port} (PORT): {error.strerror or error}. Stop what uses "
            "it, or set PORT to a free port."
        ) from None
    return sock


def stop_http_server(server: Any, timeout: float = 5.0) -> None:
    """Stop a waitress server running in another thread, from its own loop thread.

    Closing its sockets from outside races the loop's ``select`` (EBADF); the
    trigger runs the close inside the loop, which then ends for want of sockets.
    """
    server.task_dispatcher.shutdown(timeout=timeout)
    try:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    except OSError:
        # The trigger's pipe is gone already (seen once in CI: EBADF on its write end), so
        # the loop cannot be woken: close the sockets from here; the loop's next select
        # finds none of them (or EBADF) and ends.
        wasyncore.close_all(server._map)
