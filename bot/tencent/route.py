"""Which of a region's two domains calls go to: the main one, or its backup for a
while after the main one could not be reached (DNS, connect or TLS failed)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

__all__ = ["Route", "host", "never_reached"]

#: The switches are the client's story: they log where its calls do (operators and the
#: benchmarks follow ``bot.tencent.client``).
log = logging.getLogger("bot.tencent.client")


def never_reached(exc: requests.RequestException) -> bool:
    """The request never got to Tencent: DNS, connect (refused, timed out) or TLS failed.

    Not a read timeout or a connection dropped after the request was sent: those
    reached the server, and another domain of the same service would not help.
    """
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class Route:
    """Which base URL calls go to: the main one, or its backup for ``stay`` seconds after
    the main one could not be reached. Shared by a client and its ``for_background``
    copy; every thread reads and switches it under one lock."""

    def __init__(
        self, main: str, backup: str | None, stay: float, clock: Callable[[], float]
    ) -> None:
        self.main = main
        self.backup = backup.rstrip("/") if backup else None
        self.stay = stay
        self._clock = clock
        self._lock = threading.Lock()
        self._backup_until: float | None = None

    def current(self) -> str:
        with self._lock:
            if self._backup_until is None or self.backup is None:
                return self.main
            if self._clock() < self._backup_until:
                return self.backup
            self._backup_until = None
        log.info("Trying Tencent's main domain %s again", host(self.main))
        return self.main

    def failed(self, base: str, why: str) -> None:
        """``base`` could not be reached: switch to the other domain, if there is one and
        no other thread has switched already."""
        if self.backup is None:
            return
        with self._lock:
            on_backup = self._backup_until is not None
            if base == self.main and not on_backup:
                self._backup_until = self._clock() + self.stay
                switched_to = self.backup
            elif base == self.backup and on_backup:
                self._backup_until = None
                switched_to = self.main
            else:
                return
        log.warning(
            "Cannot reach Tencent at %s (%s); switching to %s%s",
            host(base),
            why,
            host(switched_to),
            f" for {self.stay:.0f} s" if switched_to == self.backup else "",
        )


def host(url: str) -> str:
    return urlsplit(url).netloc or url
