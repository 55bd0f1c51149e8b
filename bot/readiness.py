"""GET /readyz: whether this replica can do its work now, apart from /healthz (it is
alive).

Not ready (503, with a one-line reason) while the database cannot be reached, its schema
is not at the migration this bot needs (behind: ``online-bot db upgrade``; or at one it
does not know), or Slack's ``auth.test`` has not succeeded (at start, then again every
``AUTH_RECHECK`` seconds while probed). Ready: 200 ``ready``. The checks run in that
order, and the first that fails gives the reason.

A check is a callable returning None when all is well, else the reason; ``Recheck``
makes one out of a probe too costly to run on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.httpserver import WsgiApp, answer
from bot.store.db import HEAD_REVISION, known_revisions, revision_of

__all__ = [
    "AUTH_RECHECK",
    "READY_PATH",
    "Check",
    "Readiness",
    "Recheck",
    "schema_check",
]

#: Where load balancers and orchestrators ask.
READY_PATH = "/readyz"
#: Seconds a successful auth.test counts for, before a probe asks Slack again.
AUTH_RECHECK = 60.0
#: A reason is cut to this many characters (one line of a probe's log).
MAX_REASON = 300

TEXT = "text/plain; charset=utf-8"

#: None when all is well, else why not.
Check = Callable[[], str | None]


class Readiness:
    """The checks, in order; ``reason()`` is the first failure's, None when ready."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = tuple(checks)

    def reason(self) -> str | None:
        for check in self.checks:
            reason = check()
            if reason is not None:
                return _one_line(reason)
        return None

    def app(self) -> WsgiApp:
        """GET READY_PATH (WSGI): 200 ``ready``, or 503 and the reason."""

        def readyz(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                return answer(start_response, 405, TEXT, b"GET only")
            reason = self.reason()
            if reason is None:
                return answer(start_response, 200, TEXT, b"ready")
            return answer(start_response, 503, TEXT, f"not ready: {reason}".encode())

        return readyz


def schema_check(sessions: sessionmaker[Session]) -> Check:
    """The database answers, and its schema is at the newest migration this bot has."""
    head = HEAD_REVISION

    def check() -> str | None:
        try:
            with sessions() as session:
                current = revision_of(session.connection())
        except SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            return f"the database cannot be reached ({type(cause).__name__}: {detail})"
        if current == head:
            return None
        if current is None or current in known_revisions():  # Alembic loaded only now
            return (
                f"the database is at migration {current or 'none'}, behind {head} that this "
                "bot needs: run `online-bot db upgrade` (a replica starting migrates too)"
            )
        return (
            f"the database is at migration {current}, which this bot (at {head}) does not "
            "know: a newer version migrated it; run that version"
        )

    return check


class Recheck:
    """A check out of ``probe`` (raising an exception whose message says what is wrong):
    once it passes, it passes for ``every`` seconds without running again; while it
    fails, every call runs it. ``passed``: it passed just now (e.g. at start)."""

    def __init__(
        self,
        probe: Callable[[], object],
        *,
        every: float = AUTH_RECHECK,
        passed: bool = False,
        errors: tuple[type[Exception], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.every = every
        self.errors = errors
        self.clock = clock
        self._passed_at = clock() if passed else None
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:  # one probe at a time; the others wait for its answer
            if self._passed_at is not None and self.clock() - self._passed_at < self.every:
                return None
            try:
                self.probe()
            except self.errors as error:
                self._passed_at = None
                return str(error) or type(error).__name__
            self._passed_at = self.clock()
            return None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"
