"""Delivering alert charts: each drawn and uploaded once, after its alert, never in its way.

A chart is an outbox row of kind ``chart`` written with its alert, in the same
transaction (``bot.alerts.judging``), and pointing at it (``parent_id``). The text
deliverer (``bot.alerts.delivery``) never claims one: charts have their own pass, run
by their own job, so drawing (a fraction of a second, the first one loading the
drawing library) never delays a message. A chart row is claimed only once its
alert is posted (its parent no longer pending); then the chart is drawn
(``bot.alerts.alert_charts``) and uploaded into the alert's thread.

The outbox's rules hold: rows are claimed with a lease, ``attempts`` counted at the
claim, and a row claimed before (its replica may have died between the upload and
its record) is first looked for in the thread by its file name, which carries the
row's id; it is uploaded only if it is not there (a lookup that fails leaves that
unknown: retried later). A chart is optional: Slack refusing it (``missing_scope``,
``not_in_channel``, a file too big...) fails it for good, recorded on the row,
without pausing the watch or touching the alert; anything else is retried with
backoff, at most ``MAX_CHART_ATTEMPTS`` times. An alert that failed for good takes
its chart with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.alerts.alert_charts import ChartRequest, draw_alert_chart, filename_of
from bot.alerts.delivery import PostError, Uploader, claim_outbox, retry_delay, thread_of
from bot.alerts.history import HistoryReader
from bot.alerts.mapping import to_dt
from bot.drawing import Draw, DrawingFailed, draw_here
from bot.logs import log_unexpected
from bot.store.leases import LeasePolicy
from bot.store.models import Outbox, OutboxKind, OutboxStatus

__all__ = ["LEASE_EXTRA", "MAX_CHART_ATTEMPTS", "ChartDeliverer", "ChartReport"]

log = logging.getLogger(__name__)

#: Attempts at one chart (backoff 2, 4, 8 s): it arrives within a minute or not at all.
MAX_CHART_ATTEMPTS = 4
#: The longest wait between attempts.
MAX_BACKOFF = 60.0
#: A chart's lease is a message's and this much more: the drawing (milliseconds) and an
#: upload (three calls). A replica never uploads a chart whose lease it lost meanwhile.
LEASE_EXTRA = 30.0


@dataclass
class ChartReport:
    uploaded: int = 0
    found_already_uploaded: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    request: ChartRequest
    thread_ts: str | None
    attempts: int
    created_at: float


class ChartDeliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        uploader: Uploader,
        reader: HistoryReader,
        *,
        draw: Draw = draw_here,
        owner: str,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = LeasePolicy().outbox + LEASE_EXTRA,
        max_attempts: int = MAX_CHART_ATTEMPTS,
    ) -> None:
        self.sessions = sessions
        self.uploader = uploader
        self.reader = reader
        self.draw = draw
        self.owner = owner
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    def deliver_due(self, limit: int = 10) -> ChartReport:
        """Draw and upload the charts whose alerts are posted (a read, and nothing more,
        when none is due: the job runs every second)."""
        report = ChartReport()
        if not self._any_due():
            return report
        for row_id in self._claim(limit):
            try:
                self._deliver(row_id, report)
            except Exception as error:  # one bad chart must not hold up the others
                ref = log_unexpected(log, f"unexpected failure delivering chart {row_id}")
                unexpected = PostError(
                    f"unexpected {type(error).__name__} (ref {ref})", permanent=False
                )
                self._failed(row_id, unexpected, report)
        return report

    def _due(self) -> list[ColumnElement[bool]]:
        now = to_dt(self.clock())
        parent = aliased(Outbox)
        posted = exists().where(
            parent.id == Outbox.parent_id, parent.status != OutboxStatus.PENDING
        )
        return [
            Outbox.status == OutboxStatus.PENDING,
            Outbox.kind == OutboxKind.CHART,
            Outbox.next_attempt_at <= now,
            posted,
        ]

    def _any_due(self) -> bool:
        with self.sessions() as session:
            return session.scalar(select(Outbox.id).where(*self._due()).limit(1)) is not None

    def _claim(self, limit: int) -> list[int]:
        now = to_dt(self.clock())
        assert now is not None
        return claim_outbox(
            self.sessions,
            self._due(),
            now=now,
            lease=self.lease_seconds,
            owner=self.owner,
            limit=limit,
        )

    def _deliver(self, row_id: int, report: ChartReport) -> None:
        with self.sessions() as session:
            row = session.get(Outbox, row_id)
            if row is None or row.status != OutboxStatus.PENDING or row.claimed_by != self.owner:
                return
            parent = session.get(Outbox, row.parent_id) if row.parent_id else None
            if parent is None or parent.status != OutboxStatus.DELIVERED:
                why = PostError("its alert was not posted", permanent=True)
                self._failed(row_id, why, report)
                return
            job = _Job(
                ChartRequest.of_payload(row.id, row.watch_id, row.channel_id, row.payload),
                thread_of(session, parent) or parent.message_ts,
                row.attempts,
                row.created_at.timestamp(),
            )
        try:
            file_id, found = self._send(job)
        except PostError as error:
            self._failed(row_id, error, report)
            return
        except _LeaseLost:
            log.warning("chart %s: its lease ran out while it was drawn; left to another", row_id)
            return
        self._done(row_id, file_id)
        report.uploaded += 1
        report.found_already_uploaded += found

    def _send(self, job: _Job) -> tuple[str, bool]:
        request = job.request
        if job.attempts > 1:
            try:
                found = self.uploader.find_upload(
                    request.channel_id,
                    thread_ts=job.thread_ts,
                    filename=filename_of(request),
                    since=job.created_at - 1,
                )
            except PostError as error:
                raise PostError(
                    f"could not check whether it was already uploaded ({error.reason})",
                    permanent=False,
                    retry_after=error.retry_after,
                    request_id=error.request_id,
                ) from None
            if found is not None:
                return found, True
        try:
            chart = draw_alert_chart(self.reader, self.draw, request, self.clock())
        except DrawingFailed as error:
            raise PostError(f"the chart could not be drawn: {error}", permanent=False) from None
        if not self._still_mine(request.row_id):
            raise _LeaseLost
        file_id = self.uploader.upload(
            request.channel_id,
            thread_ts=job.thread_ts,
            filename=chart.filename,
            title=chart.title,
            alt_text=chart.alt_text,
            content=chart.content,
        )
        return file_id, False

    def _still_mine(self, row_id: int) -> bool:
        """Whether this replica still holds the row's lease (another may have taken it
        over while the chart was drawn, and be uploading it)."""
        now = to_dt(self.clock())
        assert now is not None
        with self.sessions() as session:
            row = session.get(Outbox, row_id)
            return (
                row is not None
                and row.claimed_by == self.owner
                and row.claimed_until is not None
                and row.claimed_until > now
            )

    def _done(self, row_id: int, file_id: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(Outbox, row_id)
            if row is None:
                return
            row.status = OutboxStatus.DELIVERED.value
            row.message_ts, row.delivered_at = file_id[:32], to_dt(self.clock())
            row.claimed_by = row.claimed_until = None
            row.last_error = None

    def _failed(self, row_id: int, error: PostError, report: ChartReport) -> None:
        """Record why; retry a transient failure with backoff, up to max_attempts. The
        watch is never paused for a chart, and its alert is left as it is."""
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
                log.info("chart %s not uploaded (%s); retry in %.0fs", row.id, error, wait)
                return
            row.status = OutboxStatus.FAILED.value
            report.failed += 1
            log.warning("chart %s given up: %s", row.id, error, extra=context)


class _LeaseLost(Exception):
    """This replica's lease on a chart ran out while it was drawn."""
