"""Open App Homes kept current: published again when a watch changes state.

A Home is published when it is opened, on its buttons and with Refresh; an alert that
fires while it is open would otherwise leave it showing the state before. So the Home of
every user who had it open recently (opened it, or pressed in it, within ``RECENT``: 30
minutes; Slack says nothing when a tab is left) is published again, at the page it was
on, after each alert, resolve, error or recovery is delivered (``changed``, the listener
the outbox's deliverer calls: ``Deliverer.on_state_posted``).

- **Debounced**: at most one such publish per user every ``GAP`` seconds (5), however
  many alerts come: a burst is one publish, and a later change within the gap one more
  at its end. A page's view is made once for every user it is published to.
- **Never in the alert's way**: ``changed`` only notes the change and wakes a thread of
  its own, which reads the database and calls Slack (views.publish); what Slack refuses
  is logged in one line and counted (``online_bot_slack_calls_total``), never the
  delivery's failure.
- **In memory, per replica**: who had the Home open is known to the replica that
  received the event; a Home opened through another replica is refreshed by the alerts
  this one delivers only if this one saw it opened (behind a load balancer, each
  replica keeps the Homes it saw current with the alerts it delivers).

``publish_due`` is one pass of the thread (tests call it, on their clock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.logs import log_unexpected
from bot.render.blocks import View

__all__ = ["GAP", "RECENT", "HomeRefresh"]

log = logging.getLogger(__name__)

#: Seconds after its last use during which a Home counts as open.
RECENT = 30 * 60.0
#: Seconds between two publishes of one user's Home for changes.
GAP = 5.0


@dataclass(slots=True)
class _Open:
    page: int
    seen_at: float  # when the user last opened or used it
    published_at: float | None = None  # when it was last published for a change
    due: bool = False  # a change is not shown yet


class HomeRefresh:
    """The Homes open on this replica, published again (``publish``) after each change."""

    def __init__(
        self,
        *,
        recent: float = RECENT,
        gap: float = GAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recent = recent
        self.gap = gap
        self.clock = clock
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._view: Callable[[int], View] | None = None
        self._send: Callable[[str, View], None] | None = None

    def seen(self, user_id: str, page: int) -> None:
        """``user_id`` has the Home open at ``page`` (opened it, or pressed in it)."""
        if not user_id:
            return
        now = self.clock()
        with self._lock:
            home = self._open.get(user_id)
            if home is None:
                self._open[user_id] = _Open(page, now)
            else:
                home.page, home.seen_at = page, now

    def changed(self) -> None:
        """A watch changed state: every open Home is due; returns at once."""
        now = self.clock()
        with self._lock:
            for user_id, home in list(self._open.items()):
                if now - home.seen_at > self.recent:
                    del self._open[user_id]  # left long ago
                else:
                    home.due = True
        self._wake.set()

    def publish_with(self, view: Callable[[int], View], send: Callable[[str, View], None]) -> None:
        """``view(page)`` makes a page of the Home, ``send(user_id, view)`` publishes it
        (and must not raise for Slack's errors)."""
        self._view, self._send = view, send

    def start(self, view: Callable[[int], View], send: Callable[[str, View], None]) -> None:
        """Publish (``publish_with``) from a thread of its own from now on."""
        self.publish_with(view, send)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="home-refresh", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def publish_due(self) -> float | None:
        """Publish the Homes due whose gap has passed; the seconds until the next one is
        allowed (None: none waits)."""
        batch, wait = self._take_due(self.clock())
        views: dict[int, View] = {}
        for user_id, page in batch:
            assert self._view is not None and self._send is not None
            try:
                if page not in views:
                    views[page] = self._view(page)
                self._send(user_id, views[page])
            except Exception:  # the next change tries again; nobody else is waiting on this
                log_unexpected(log, f"unexpected failure refreshing the App Home of {user_id}")
        return wait

    def _take_due(self, now: float) -> tuple[list[tuple[str, int]], float | None]:
        batch: list[tuple[str, int]] = []
        waits: list[float] = []
        with self._lock:
            for user_id, home in self._open.items():
                if not home.due:
                    continue
                allowed = home.published_at is None or now - home.published_at >= self.gap
                if allowed:
                    home.due, home.published_at = False, now
                    batch.append((user_id, home.page))
                else:
                    assert home.published_at is not None
                    waits.append(home.published_at + self.gap - now)
        return batch, min(waits, default=None)

    def _run(self) -> None:
        wait: float | None = None
        while not self._closed.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._closed.is_set():
                return
            wait = self.publish_due()
