"""Delivering the outbox: every alert message sent once, none lost.

Rows are claimed with a lease (``claimed_by``/``claimed_until``; ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL so replicas share the work). ``attempts`` is counted when a
row is claimed, so a row claimed before and not recorded as delivered may already
be in Slack (the process died between posting and recording): such a row is first
looked for in the channel by the key in its message metadata, and only posted if
it is not there; a lookup that fails (``missing_scope`` in a DM, Slack down) leaves
that unknown, and the row is retried later, never posted twice nor paused for it.

Whether to retry is decided by the poster (``PostError.permanent``), apart from
this loop: 429 waits for Retry-After, 5xx and network errors back off; a
permanent error (the bot is not in the channel, the channel is gone...) pauses
the watch with the reason shown in ``/online watches``. A file (a digest's chart) that
Slack refuses for good is replaced by a note in its thread saying why. Anything else that goes
wrong with one row is recorded on that row like a transient error (attempts, last
error, backoff, at most ``max_attempts``), and the other rows go out regardless.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.mapping import to_dt
from bot.logs import log_unexpected
from bot.render.digest import render_chart_refused
from bot.store.leases import LeasePolicy, claim_due
from bot.store.models import (
    OPENING_KINDS,
    THREAD_KINDS,
    AlertStateRow,
    DigestRow,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Watch,
    WatchChange,
)

__all__ = [
    "STATE_KINDS",
    "Deliverer",
    "DeliveryReport",
    "DigestFile",
    "PostError",
    "Poster",
    "Uploader",
    "claim_outbox",
    "retry_delay",
    "thread_of",
]

log = logging.getLogger(__name__)

#: The longest wait between a message's attempts.
MAX_BACKOFF = 300.0

#: Messages that say a watch changed state: an alert and its resolve, an error and its
#: recovery (``Deliverer.on_state_posted``).
STATE_KINDS = frozenset(
    {OutboxKind.FIRING, OutboxKind.RESOLVED, OutboxKind.ERROR, OutboxKind.RECOVERED}
)


class PostError(Exception):
    """Slack did not take a message. ``permanent``: retrying cannot help. ``request_id``:
    Slack's id for the request, when it answered (for the log)."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        request_id: str | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.request_id = request_id


class Uploader(Protocol):
    """Where charts go (alert charts, digests' charts): Slack (files_upload_v2), or the
    shell's folder."""

    def upload(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        filename: str,
        title: str,
        alt_text: str,
        content: bytes,
    ) -> str:
        """Share a file in the channel, in a thread if given; return its id. Raise
        PostError."""
        ...

    def find_upload(
        self, channel: str, *, thread_ts: str | None, filename: str, since: float
    ) -> str | None:
        """The id of a file already shared there under this name, if any. Raise PostError."""
        ...


class Poster(Uploader, Protocol):
    """Where alert messages (and their charts) go: Slack, or the shell's terminal."""

    def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None, broadcast: bool
    ) -> str:
        """Post a message; return its ts. Raise PostError."""
        ...

    def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        """Replace a posted message. Raise PostError."""
        ...

    def find(self, channel: str, key: str, *, since: float, thread_ts: str | None) -> str | None:
        """The ts of a message already posted with this key in its metadata, if any."""
        ...


class DigestFile:
    """A digest's chart as the outbox carries it (``payload["file"]``), PNG in base64."""

    @staticmethod
    def payload(filename: str, title: str, alt_text: str, png: bytes) -> dict[str, Any]:
        return {
            "filename": filename,
            "title": title,
            "alt_text": alt_text,
            "png": base64.b64encode(png).decode("ascii"),
        }

    @staticmethod
    def content(file: dict[str, Any]) -> bytes:
        return base64.b64decode(file["png"])


@dataclass
class DeliveryReport:
    delivered: int = 0
    found_already_posted: int = 0
    retried: int = 0
    failed: int = 0
    waiting_for_parent: int = 0
    #: It claimed as many rows as one delivery takes: more may be due at once.
    more: bool = False


class Deliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        poster: Poster,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = LeasePolicy().outbox,
        max_attempts: int = 12,
    ) -> None:
        self.sessions = sessions
        self.poster = poster
        self.owner = owner
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self._state_listeners: list[Callable[[], None]] = []

    def on_state_posted(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each message of a state change (STATE_KINDS) is
        delivered, e.g. the App Home's refresh; it must return at once, and what it raises
        is logged, never the delivery's failure."""
        self._state_listeners.append(listener)

    def deliver_due(self, limit: int = 50) -> DeliveryReport:
        report = DeliveryReport()
        claimed = self._claim(limit)
        report.more = len(claimed) >= limit
        for row_id in claimed:
            try:
                self._deliver(row_id, report)
            except Exception as error:  # one bad row must not hold up the others
                ref = log_unexpected(log, f"unexpected failure delivering alert message {row_id}")
                unexpected = PostError(
                    f"unexpected {type(error).__name__} (ref {ref})", permanent=False
                )
                self._failed(row_id, unexpected, report)
        return report

    def _claim(self, limit: int) -> list[int]:
        now = to_dt(self.clock())
        assert now is not None
        due = [
            Outbox.status == OutboxStatus.PENDING,
            Outbox.next_attempt_at <= now,
            Outbox.kind != OutboxKind.CHART,  # drawn apart (bot.alerts.chart_delivery)
        ]
        return claim_outbox(
            self.sessions, due, now=now, lease=self.lease_seconds, owner=self.owner, limit=limit
        )

    def _deliver(self, row_id: int, report: DeliveryReport) -> None:
        if not self._renew(row_id):
            return
        with self.sessions() as session:
            row = session.get(Outbox, row_id)  # pending and ours: the renewal said so
            if row is None:
                return
            parent = session.get(Outbox, row.parent_id) if row.parent_id else None
            if parent is not None and parent.status == OutboxStatus.FAILED:
                parent = _stand_in(session, parent, row.id) or parent
            plan = _Plan.of(row, parent)
        if plan.waiting:
            report.waiting_for_parent += 1
            self._postpone(row_id, "waiting for the first message of the incident", 5.0)
            return
        try:
            ts = self._send(plan)
        except PostError as error:
            if plan.upload and (error.permanent or plan.attempts >= self.max_attempts):
                self._refused_upload(row_id, plan, error, report)
                return
            self._failed(row_id, error, report)
            return
        self._done(row_id, ts, plan, report)

    def _renew(self, row_id: int) -> bool:
        """Extend this replica's lease on the row before it is sent, if it still holds it.

        The rows of one claim are sent one after the other: when the earlier ones took
        longer than the lease (a slow Slack), the lease of a later one ran out, and another
        replica may have claimed it and be posting it now, before any lookup could find it.
        Renewed just before sending, a lease only has to outlast one send."""
        now = self.clock()
        with self.sessions.begin() as session:
            renewed = session.execute(
                update(Outbox)
                .where(
                    Outbox.id == row_id,
                    Outbox.status == OutboxStatus.PENDING,
                    Outbox.claimed_by == self.owner,
                    Outbox.claimed_until > to_dt(now),
                )
                .values(claimed_until=to_dt(now + self.lease_seconds))
                .execution_options(synchronize_session=False)
            )
        return bool(renewed.rowcount)

    def _refused_upload(
        self, row_id: int, plan: _Plan, error: PostError, report: DeliveryReport
    ) -> None:
        """A file Slack will not take: a note in its thread says why, and the row is done."""
        log.warning("upload %s refused for good (%s): posting a note instead", row_id, error)
        note = render_chart_refused(error.reason)
        try:
            ts = self.poster.post(
                plan.channel,
                {"text": note.text, "blocks": note.blocks},
                thread_ts=plan.thread_ts,
                broadcast=False,
            )
        except PostError as second:
            self._failed(row_id, second, report)
            return
        self._done(row_id, ts, plan, report, error=error.reason)

    def _send(self, plan: _Plan) -> str:
        ts = None
        if plan.attempts > 1 and not plan.upload:
            try:
                ts = self.poster.find(
                    plan.channel, plan.key, since=plan.created_at - 1, thread_ts=plan.thread_ts
                )
            except PostError as error:
                # Whether it was posted is unknown: never a reason to pause (a DM's history
                # may need a scope the post does not), and never to post a second copy.
                raise PostError(
                    f"could not check whether it was already posted ({error.reason})",
                    permanent=False,
                    retry_after=error.retry_after,
                    request_id=error.request_id,
                ) from None
            if ts is not None:
                plan.found = True
        if plan.upload:
            return self._upload(plan)
        if ts is None:
            message = {k: v for k, v in plan.payload.items() if k in ("text", "blocks", "metadata")}
            ts = self.poster.post(
                plan.channel, message, thread_ts=plan.thread_ts, broadcast=plan.broadcast
            )
        update = plan.payload.get("update")
        if update and plan.thread_ts:
            self.poster.update(plan.channel, plan.thread_ts, update)
        return ts

    def _upload(self, plan: _Plan) -> str:
        """A digest's chart, found by its name in the thread before it is shared again."""
        file = plan.payload["file"]
        if plan.attempts > 1:
            found = self.poster.find_upload(
                plan.channel,
                thread_ts=plan.thread_ts,
                filename=file["filename"],
                since=plan.created_at - 1,
            )
            if found is not None:
                plan.found = True
                return found
        return self.poster.upload(
            plan.channel,
            thread_ts=plan.thread_ts,
            filename=file["filename"],
            title=file.get("title") or file["filename"],
            alt_text=file.get("alt_text") or "",
            content=DigestFile.content(file),
        )

    def _done(
        self, row_id: int, ts: str, plan: _Plan, report: DeliveryReport, error: str | None = None
    ) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return
            kind = row.kind
            row.status = OutboxStatus.DELIVERED.value
            row.message_ts, row.delivered_at = ts, to_dt(now)
            row.claimed_by = row.claimed_until = None
            row.last_error = error[:500] if error else None
            if plan.upload:  # the file's bytes are not kept once it went (or was refused)
                file = {k: v for k, v in row.payload["file"].items() if k != "png"}
                row.payload = {**row.payload, "file": file}
            if row.kind == OutboxKind.DIGEST:
                _digest_refused(session, row.channel_id, None)
            if row.kind in OPENING_KINDS and row.watch_id is not None:
                # Not through the versioned ORM row: a judge on another replica may be writing
                # this state now, and its version check would fail one of the two (StaleDataError).
                # Where the message went is no part of the judge's decision; a new incident
                # clears it, and then the incident no longer matches here.
                session.execute(
                    update(AlertStateRow)
                    .where(
                        AlertStateRow.watch_id == row.watch_id,
                        AlertStateRow.incident_id == row.incident_id,
                    )
                    .values(alert_channel=row.channel_id, alert_ts=ts)
                    .execution_options(synchronize_session=False)
                )
        if plan.found:
            report.found_already_posted += 1
        report.delivered += 1
        if kind in STATE_KINDS:
            self._state_posted()

    def _state_posted(self) -> None:
        for listener in self._state_listeners:
            try:
                listener()
            except Exception:
                log_unexpected(log, "unexpected failure telling of a state change")

    def _postpone(self, row_id: int, why: str, delay: float) -> None:
        with self.sessions.begin() as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return
            row.attempts = max(0, row.attempts - 1)  # not an attempt: nothing was sent
            row.next_attempt_at = to_dt(self.clock() + delay)
            row.claimed_by = row.claimed_until = None
            row.last_error = why

    def _failed(self, row_id: int, error: PostError, report: DeliveryReport) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return
            row.last_error = error.reason[:500]
            row.claimed_by = row.claimed_until = None
            context = {"watch_id": row.watch_id, "slack_request_id": error.request_id}
            if not error.permanent and row.attempts < self.max_attempts:
                wait = retry_delay(error, row.attempts, MAX_BACKOFF)
                row.next_attempt_at = to_dt(now + wait)
                report.retried += 1
                log.warning(
                    "alert message %s not delivered (%s); retry in %.0fs",
                    row.id,
                    error,
                    wait,
                    extra=context,
                )
                return
            row.status = OutboxStatus.FAILED.value
            report.failed += 1
            log.error("alert message %s failed for good: %s", row.id, error, extra=context)
            if error.permanent and row.watch_id is not None:
                _pause(session, row.watch_id, error.reason, now)
            if row.kind == OutboxKind.DIGEST:
                _digest_refused(session, row.channel_id, error.reason)


def claim_outbox(
    sessions: sessionmaker[Session],
    due: Sequence[ColumnElement[bool]],
    *,
    now: datetime,
    lease: float,
    owner: str,
    limit: int,
) -> list[int]:
    """Lease up to ``limit`` ``due`` outbox rows in one atomic UPDATE (``SKIP LOCKED`` on
    PostgreSQL), counting an attempt on each; their ids, oldest first. The messages' and
    the charts' deliverers claim this way."""
    with sessions.begin() as session:
        claimed = claim_due(
            session,
            Outbox,
            due=due,
            now=now,
            lease=lease,
            owner=owner,
            limit=limit,
            order_by=[Outbox.id],
            also={"attempts": Outbox.attempts + 1},
        )
    return sorted(row_id for (row_id,) in claimed)


def retry_delay(error: PostError, attempts: int, cap: float) -> float:
    """How long a row waits after a transient failure: doubling with its attempts, up to
    ``cap``, and never less than Slack's Retry-After."""
    return max(error.retry_after or 0.0, min(cap, 2.0**attempts))


def thread_of(session: Session, row: Outbox) -> str | None:
    """The ts of the thread a delivered row went into (None: it went to the channel),
    as its delivery chose it: its incident's opening message, or what stands in for it."""
    if row.kind not in THREAD_KINDS or row.parent_id is None:
        return None
    parent = session.get(Outbox, row.parent_id)
    if parent is not None and parent.status == OutboxStatus.FAILED:
        parent = _stand_in(session, parent, row.id) or parent
    if parent is None or parent.status != OutboxStatus.DELIVERED:
        return None
    return parent.message_ts


def _stand_in(session: Session, opening: Outbox, before: int) -> Outbox | None:
    """The message that stands in for an incident's opening that failed for good: the
    first of the incident delivered since (e.g. the alert posted again when its watch
    was resumed). It went out on its own, so later replies can thread under it."""
    return session.scalar(
        select(Outbox)
        .where(
            Outbox.incident_id == opening.incident_id,
            Outbox.channel_id == opening.channel_id,
            Outbox.status == OutboxStatus.DELIVERED,
            Outbox.id > opening.id,
            Outbox.id < before,
        )
        .order_by(Outbox.id)
        .limit(1)
    )


def _digest_refused(session: Session, channel_id: str, reason: str | None) -> None:
    """Show why the channel's last digest was not delivered (None: it was) with its setting."""
    note = None
    if reason is not None:
        note = f"Slack refused the last digest ({reason}): invite the bot to the channel."
    session.execute(
        update(DigestRow).where(DigestRow.channel_id == channel_id).values(last_error=note)
    )


def _pause(session: Session, watch_id: int, reason: str, now: float) -> None:
    watch = session.get(Watch, watch_id)
    if watch is None or watch.paused_reason is not None:
        return
    watch.paused_reason = (
        f"Slack refused to post in the watch's channel ({reason}): invite the bot to it, "
        "then `/online unmute` the watch to resume it."
    )[
        # plain words: the watch list draws it (bot/render/watches.py)
        :300
    ]
    session.add(
        WatchChange(
            watch_id=watch_id,
            actor="online-bot",
            at=to_dt(now),
            action="paused",
            detail=reason[:500],
        )
    )


@dataclass
class _Plan:
    channel: str
    key: str
    payload: dict[str, Any]
    thread_ts: str | None
    broadcast: bool
    attempts: int
    created_at: float
    waiting: bool = False
    found: bool = False

    @property
    def upload(self) -> bool:
        """A file to upload (a digest's chart), not a message to post."""
        return "file" in self.payload

    @classmethod
    def of(cls, row: Outbox, parent: Outbox | None) -> _Plan:
        thread_ts = None
        waiting = False
        if row.kind in THREAD_KINDS and parent is not None:
            if parent.status == OutboxStatus.DELIVERED:
                thread_ts = parent.message_ts
            elif parent.status == OutboxStatus.PENDING:
                waiting = True
            # a parent that failed for good, with nothing standing in: post on its own
        return cls(
            channel=row.channel_id,
            key=row.dedup_key,
            payload=dict(row.payload),
            thread_ts=thread_ts,
            broadcast=bool(row.payload.get("broadcast")) and thread_ts is not None,
            attempts=row.attempts,
            created_at=row.created_at.timestamp(),
            waiting=waiting,
        )
