"""A WSGI app served over loopback HTTP for one test (waitress, as the bot serves)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bot.httpserver import WsgiApp, http_server, stop_http_server

__all__ = ["served"]


@contextmanager
def served(app: WsgiApp) -> Iterator[str]:
    """``app`` on a free loopback port, stopped on leaving; yields its base URL."""
    server = http_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop_http_server(server)
        thread.join(timeout=10)
        assert not thread.is_alive(), "the HTTP server did not stop"
