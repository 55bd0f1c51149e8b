"""Push: Tencent's member-state callbacks, turned into checks where a rule may change.

Why a check, and not the callbacks' own count: every number the bot alerts on is
one Tencent counted (the trust rule), and a count from callbacks alone drifts (a lost
callback, a restart, a member counted before the bot started listening). Why not a
check on every callback: 45,000 live groups each moving a little every minute would
need thousands of calls a second, against Tencent's 200. So the callbacks keep an
*estimate* per target (the last check's count plus the moves since), and a check is
asked for only when the estimate leaves the range where none of the target's watches
would change state (``quiet.quiet_range``, with a margin), or when the target has no
such range (a check failed, a ``for`` clock runs, a mark). The check runs
``DEBOUNCE`` seconds after the first callback that asked for it, once Tencent's own
count has caught up, and however many callbacks come meanwhile: a storm of 10,000
Offline callbacks costs one call per ``DEBOUNCE``. It goes through the same claim,
judging and outbox as a poll (``bot.alerts.poller``), so any replica may receive a
callback and each transition is still sent once.

A group that sends callbacks is polled only every PUSH_RESYNC_INTERVAL while its
watches are settled (``targets.complete``), to correct the estimate; one silent for
longer than that is polled as usual again.

:class:`Inbox` takes callbacks from the HTTP threads and writes them in groups (one
transaction for all that arrived during the previous write: a group commit); each
request is answered once its callback is in the database, so an answered callback
is never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.targets import Moves, record_push
from bot.tencent.callbacks import MemberStateChange

__all__ = ["DEBOUNCE", "Inbox", "InboxUnavailable", "PushStats"]

log = logging.getLogger(__name__)

#: Seconds from the first callback that asks for a check to the check: Tencent's count
#: is refreshed about every 10 s, so an earlier call would read the old count.
DEBOUNCE = 10.0

#: Seconds a request waits for its callback to be written before it is answered 503.
WRITE_WAIT = 5.0

#: Transactions tried for one write (deadlock, busy database), before it is given up.
WRITE_TRIES = 3


class InboxUnavailable(Exception):
    """The callback could not be written (the database failed, or the inbox is closed)."""


@dataclass
class PushStats:
    callbacks: int = 0  # written
    writes: int = 0  # transactions
    targets_touched: int = 0
    failed_writes: int = 0


class _Batch:
    """Callbacks waiting for one write, and its outcome."""

    def __init__(self) -> None:
        self.moves: dict[str, Moves] = {}
        self.callbacks = 0
        self.done = threading.Event()
        self.error: Exception | None = None

    def add(self, change: MemberStateChange, at: float) -> None:
        self.callbacks += 1
        known = self.moves.get(change.group_id)
        if known is None:
            self.moves[change.group_id] = Moves(change.delta, at, at)
        else:
            self.moves[change.group_id] = Moves(
                known.delta + change.delta, min(known.first_at, at), max(known.last_at, at)
            )


class Inbox:
    """Callbacks in, written to the targets in group commits by one thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], float] = time.time,
        debounce: float = DEBOUNCE,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.debounce = debounce
        self.stats = PushStats()
        self._lock = threading.Condition()
        self._open: _Batch | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="push-inbox", daemon=True)
        self._writer.start()

    def add(self, change: MemberStateChange, *, wait: float = WRITE_WAIT) -> None:
        """Record one callback; returns once it is in the database. Raises
        InboxUnavailable if it could not be written within ``wait`` seconds."""
        with self._lock:
            if self._closed:
                raise InboxUnavailable("the bot is stopping")
            if self._open is None:
                self._open = _Batch()
                self._lock.notify()
            batch = self._open
            batch.add(change, self.clock())
        if not batch.done.wait(wait):
            raise InboxUnavailable(f"the database did not take it within {wait:g} s")
        if batch.error is not None:
            raise InboxUnavailable(f"the database refused it ({type(batch.error).__name__})")

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop taking callbacks."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._writer.join(timeout)

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while self._open is None and not self._closed:
                    self._lock.wait()
                batch, self._open = self._open, None
            if batch is None:  # closed, nothing waiting
                return
            self._write(batch)

    def _write(self, batch: _Batch) -> None:
        try:
            touched = self._record(batch)
        except Exception as error:
            batch.error = error
            self.stats.failed_writes += 1
            log.warning(
                "could not record %d Tencent callbacks (%s: %s); Tencent was answered 503, "
                "and polling goes on",
                batch.callbacks,
                type(error).__name__,
                error,
            )
        else:
            self.stats.callbacks += batch.callbacks
            self.stats.writes += 1
            self.stats.targets_touched += touched
        finally:
            batch.done.set()

    def _record(self, batch: _Batch) -> int:
        """One transaction; tried again (WRITE_TRIES in all) when the database says to:
        a deadlock with another replica's inbox or poller, a busy SQLite file."""
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                with self.sessions.begin() as session:
                    return record_push(session, batch.moves, debounce=self.debounce)
            except OperationalError:
                if attempt == WRITE_TRIES:
                    raise
                log.info("writing Tencent callbacks: the database asked to try again")
        raise AssertionError("unreachable")
