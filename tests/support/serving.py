"""A WSGI app served over loopback HTTP in a thread of this process (waitress, as the bot
serves): `serve` for a test that stops it itself, `served` as a context manager."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.httpserver import WsgiApp, http_server, stop_http_server

__all__ = ["Serving", "serve", "served"]


@dataclass
class Serving:
    url: str
    server: Any  # waitress's server (http_server)
    thread: threading.Thread

    def stop(self) -> None:
        stop_http_server(self.server)
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the HTTP server did not stop"


def serve(app: WsgiApp) -> Serving:
    """``app`` on a free loopback port, until `Serving.stop`."""
    server = http_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return Serving(f"http://127.0.0.1:{server.effective_port}", server, thread)


@contextmanager
def served(app: WsgiApp) -> Iterator[str]:
    """``app`` on a free loopback port, stopped on leaving; yields its base URL."""
    serving = serve(app)
    try:
        yield serving.url
    finally:
        serving.stop()
