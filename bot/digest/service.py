"""The daily digest service: ``/online digest`` (set, off, show) and the scheduler's job
that writes each due digest to the outbox, exactly once per channel and local date.

Exactly once across replicas:

1. the job claims due ``digests`` rows with a lease (``bot.store.leases.claim_due``:
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two replicas never hold the same row;
2. it reads the channel's watches' last 24 h and draws the chart (no transaction open);
3. in ONE transaction, the row locked again and still its own, it writes the digest's
   outbox rows (the message, keyed ``digest:<channel>:<local date>``, unique; and its
   chart, a reply in its thread) and moves ``next_due_at`` on. A replica whose lease ran
   out finds the row no longer its own; were it to write anyway, the unique key refuses it;
4. the outbox posts the message once (find before repost) and uploads the chart.

Changing or removing the digest clears its lease, so a job holding it writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.delivery import DigestFile
from bot.alerts.history import HistoryReader
from bot.alerts.mapping import to_dt
from bot.commands.usage import DIGEST_FORM
from bot.commands.values import DigestOff, SetDigest, ShowDigest
from bot.digest.schedule import MAX_LATE_SECONDS, DigestTime, decide, next_due
from bot.digest.setting import read_setting
from bot.drawing import Draw, DrawingFailed, draw_here
from bot.logs import log_unexpected
from bot.render import digest as render
from bot.render import watches as watch_render
from bot.render.blocks import Message
from bot.store.leases import claim_due
from bot.store.models import DigestRow, Outbox, OutboxKind, Watch
from bot.watches import Actor, WatchError, Watches
from bot.zones import UTC_ZONE, parse_zone

__all__ = ["DAY", "Digests", "digest_key", "read_setting"]

log = logging.getLogger(__name__)

DAY = 86_400
#: How long a claimed digest is held: reading a day of samples and drawing one chart.
DIGEST_LEASE = 120.0


def digest_key(channel_id: str, day: date) -> str:
    """The outbox key of a channel's digest for a local date: unique, so never two."""
    return f"digest:{channel_id}:{day.isoformat()}"


class Digests:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        history: HistoryReader,
        watches: Watches,
        *,
        owner: str,
        user_zone: Callable[[str], ZoneInfo | None] | None = None,
        clock: Callable[[], float] = time.time,
        draw: Draw = draw_here,
        lease_seconds: float = DIGEST_LEASE,
        max_late: float = MAX_LATE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.history = history
        self.watches = watches
        self.owner = owner
        self.user_zone = user_zone
        self.clock = clock
        self.draw = draw
        self.lease_seconds = lease_seconds
        self.max_late = max_late

    # -- /online digest ---------------------------------------------------------------

    def command(self, command: SetDigest | DigestOff | ShowDigest, actor: Actor) -> Message:
        if actor.channel_id is None:
            raise WatchError("A digest is set in the channel it goes to: type the command there.")
        if isinstance(command, ShowDigest):
            with self.sessions() as session:
                return render.render_digest_setting(
                    read_setting(session, actor.channel_id), DIGEST_FORM
                )
        self._require(actor.user_id, "change the digest")
        if isinstance(command, DigestOff):
            with self.sessions.begin() as session:
                row = session.scalar(
                    select(DigestRow).where(DigestRow.channel_id == actor.channel_id)
                )
                if row is not None:
                    session.delete(row)
            return render.render_digest_off(actor=actor.user_id, had_one=row is not None)
        return self._set(command, actor, actor.channel_id)

    def _require(self, user_id: str, what: str) -> None:
        if not self.watches.allowed(user_id):
            raise WatchError(
                f"Only the watch admins may {what} (WATCH_ADMINS).",
                watch_render.render_admins_only(what, self.watches.admins),
            )

    def _set(self, command: SetDigest, actor: Actor, channel_id: str) -> Message:
        zone, zone_note = self._zone(command.zone, actor.user_id)
        at = DigestTime(command.hour, command.minute)
        now = self.clock()
        due, _ = next_due(at, zone, now)
        with self.sessions.begin() as session:
            row = session.scalar(
                select(DigestRow).where(DigestRow.channel_id == channel_id).with_for_update()
            )
            replaced = row is not None
            if row is None:
                row = DigestRow(channel_id=channel_id)
                session.add(row)
            row.hour, row.minute, row.zone = at.hour, at.minute, zone.key
            row.created_by, row.created_at = actor.user_id, to_dt(now)
            row.next_due_at = to_dt(due)
            row.lease_owner = row.lease_until = None  # a job holding it writes nothing
            row.last_error = None
            session.flush()
            setting = read_setting(session, channel_id)
        assert setting is not None
        return render.render_digest_set(setting, zone_note=zone_note, replaced=replaced)

    def _zone(self, name: str | None, user_id: str) -> tuple[ZoneInfo, str]:
        """The zone asked for, else the requester's Slack zone, else UTC; and a sentence."""
        if name is not None:
            zone = parse_zone(name)
            if zone is not None:
                return zone, "Times are in the zone you gave."
        found = None
        if self.user_zone is not None:
            try:
                found = self.user_zone(user_id)
            except Exception:  # the transport's lookup should not raise; UTC if it does
                log_unexpected(log, "unexpected failure reading a user's time zone")
        if found is not None:
            return found, "Times are in your Slack time zone; add a zone to choose another."
        return UTC_ZONE, (
            "Times are in UTC: your Slack time zone could not be read. Add a zone to choose, "
            "e.g. /online digest 09:00 Europe/Paris."
        )

    # -- the scheduler's job ----------------------------------------------------------

    def send_due(self, limit: int = 20) -> int:
        """Write every due digest (up to ``limit``) to the outbox; how many were written."""
        now = to_dt(self.clock())
        assert now is not None
        with self.sessions.begin() as session:
            claimed = claim_due(
                session,
                DigestRow,
                due=[DigestRow.next_due_at <= now],
                now=now,
                lease=self.lease_seconds,
                owner=self.owner,
                limit=limit,
                order_by=[DigestRow.next_due_at],
            )
        written = 0
        for (row_id,) in claimed:
            try:
                written += self._write(row_id)
            except Exception:  # one channel's digest must not hold up the others
                log_unexpected(log, f"unexpected failure writing digest {row_id}")
        return written

    def _write(self, row_id: int) -> int:
        now = self.clock()
        with self.sessions() as session:
            row = session.get(DigestRow, row_id)
            if row is None or row.lease_owner != self.owner:
                return 0
            at, channel = DigestTime(row.hour, row.minute), row.channel_id
            zone = parse_zone(row.zone) or UTC_ZONE
            last_sent_for = row.last_sent_for
        decision = decide(at, zone, last_sent_for=last_sent_for, now=now, max_late=self.max_late)
        outbox: list[Outbox] = []
        if decision.day is not None:
            outbox = self._outbox(channel, zone, decision.day, now)
        try:
            with self.sessions.begin() as session:
                row = session.get(DigestRow, row_id, with_for_update=True)
                if row is None or row.lease_owner != self.owner:
                    return 0  # changed, removed, or taken over meanwhile
                key = digest_key(channel, decision.day) if decision.day else None
                fresh = key is not None and not session.scalar(
                    select(func.count()).select_from(Outbox).where(Outbox.dedup_key == key)
                )
                if fresh:
                    message, *chart = outbox
                    session.add(message)
                    session.flush()
                    for reply in chart:
                        reply.parent_id = message.id
                        session.add(reply)
                if decision.day is not None:
                    row.last_sent_for = decision.day
                row.next_due_at = to_dt(decision.next_due_at)
                row.lease_owner = row.lease_until = None
        except IntegrityError:
            log.info("the digest of %s for %s was written by another replica", channel, key)
            return 0
        log.info(
            "digest of %s: %s%s",
            channel,
            decision.reason,
            f" ({decision.day})" if decision.day else "",
            extra={"channel": channel},
        )
        return 1 if fresh else 0

    def view(self, channel_id: str, zone: ZoneInfo, day: date, now: float) -> render.DigestView:
        """What the channel's digest shows: each watched (group, mark), the last 24 h."""
        with self.sessions() as session:
            targets = session.execute(
                select(Watch.group_id, Watch.mark)
                .where(Watch.channel_id == channel_id, Watch.deleted_at.is_(None))
                .group_by(Watch.group_id, Watch.mark)
                .order_by(func.min(Watch.id))
            ).all()
        if self.history.names is not None:
            self.history.names.prefetch(group for group, _ in targets)
        groups = tuple(self.history.read(group, mark, DAY, channel_id) for group, mark in targets)
        return render.DigestView(channel_id, zone, day, now - DAY, now, groups)

    def compose(
        self, view: render.DigestView
    ) -> tuple[Message, tuple[str, str, str, bytes] | None]:
        """The digest's message and its chart (filename, title, alt text, PNG), if any."""
        chart = render.digest_chart(view)
        note = render.chart_note(view, chart)
        png = None
        if chart is not None:
            try:
                png = self.draw(chart)
            except DrawingFailed as error:
                note = f"No chart today: it could not be drawn ({error})."
        message = render.render_digest(view, chart_note=note)
        if png is None:
            return message, None
        filename = f"digest-{view.day.isoformat()}.png"
        title = f"Daily digest, {view.day:%d %b %Y}"
        return message, (filename, title, render.chart_alt_text(view), png)

    def _outbox(self, channel: str, zone: ZoneInfo, day: date, now: float) -> list[Outbox]:
        key = digest_key(channel, day)
        message, chart = self.compose(self.view(channel, zone, day, now))
        payload: dict[str, Any] = {
            "text": message.text,
            "blocks": message.blocks,
            "metadata": render.digest_metadata(key),
        }
        at = to_dt(now)  # this service's clock, as alerts' rows have: not the database's
        common = {
            "incident_id": key[:36],
            "channel_id": channel,
            "created_at": at,
            "next_attempt_at": at,
        }
        rows = [Outbox(kind=OutboxKind.DIGEST.value, dedup_key=key, payload=payload, **common)]
        if chart is not None:
            file = DigestFile.payload(*chart)
            rows.append(
                Outbox(
                    kind=OutboxKind.DIGEST_CHART.value,
                    dedup_key=f"{key}:chart",
                    payload={"file": file},
                    **common,
                )
            )
        return rows
