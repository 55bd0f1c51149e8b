"""The database tables, as typed SQLAlchemy 2.x models. No business logic lives here.

Tables::

    watches        Watch          a channel watching a group (optionally one mark) with one rule
    alert_states   AlertStateRow  1:1 with a watch: where its rule stands (ok/pending/firing/...)
    samples        SampleRow      one poll of a group: the count, or the error instead
    outbox         Outbox         Slack messages to deliver, each transition enqueued once
    watch_changes  WatchChange    who created/muted/unwatched/... a watch, and when
    targets        TargetRow      each watched (group, mark), when it is next due, who holds it
    digests        DigestRow      a channel's daily digest: its local time, zone, next due

A class is named for one row of its table; where the rule engine (``bot.alerts.rules``)
has a value of the same name (``AlertState``, ``Sample``) or the checks do (``Target``),
the row's class ends in ``Row``.

Every timestamp is a ``UTCDateTime``: give it an aware datetime (any zone), get back an
aware UTC one, on SQLite as on PostgreSQL. Naive datetimes are refused.

Constraint and index names follow ``NAMING_CONVENTION``, so Alembic autogenerate gives the
same names on both dialects (and SQLite batch migrations can find them to drop).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "CHANGE_ACTIONS",
    "CHARTED_KINDS",
    "DIGEST_KINDS",
    "NAMING_CONVENTION",
    "NO_MARK",
    "OPENING_KINDS",
    "RULE_KINDS",
    "THREAD_KINDS",
    "AlertStateRow",
    "Base",
    "DigestRow",
    "Outbox",
    "OutboxKind",
    "OutboxStatus",
    "SampleRow",
    "TargetRow",
    "UTCDateTime",
    "Watch",
    "WatchChange",
    "utcnow",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The values the string columns hold. Documented here, not enforced by CHECK constraints,
# so a new kind needs no migration.
RULE_KINDS = ("below", "above", "drop")


class OutboxKind(StrEnum):
    """What an outbox message says (``outbox.kind``)."""

    FIRING = "firing"
    RESOLVED = "resolved"
    REPEAT = "repeat"
    REMINDER = "reminder"
    ERROR = "error"
    RECOVERED = "recovered"
    UPDATE = "update"
    NOTICE = "notice"
    DIGEST = "digest"
    DIGEST_CHART = "digest_chart"
    #: The chart that follows an alert (in its thread): ``parent_id`` is the alert's row.
    CHART = "chart"


#: Kinds that open an incident with a top-level message.
OPENING_KINDS = frozenset({OutboxKind.FIRING, OutboxKind.ERROR})
#: Kinds that reply in the thread of their incident's opening message (closing ones update it).
THREAD_KINDS = frozenset(
    {
        OutboxKind.RESOLVED,
        OutboxKind.RECOVERED,
        OutboxKind.REPEAT,
        OutboxKind.REMINDER,
        OutboxKind.DIGEST_CHART,
    }
)
#: A channel's daily digest: the message, and its chart uploaded in its thread.
DIGEST_KINDS = frozenset({OutboxKind.DIGEST, OutboxKind.DIGEST_CHART})
#: Kinds followed by a chart of the audience (an ERROR has no count to draw).
CHARTED_KINDS = frozenset(
    {OutboxKind.FIRING, OutboxKind.REPEAT, OutboxKind.REMINDER, OutboxKind.RESOLVED}
)


class OutboxStatus(StrEnum):
    """Where an outbox message stands (``outbox.status``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


CHANGE_ACTIONS = (
    "created", "muted", "unmuted", "unwatched", "paused", "acknowledged", "resumed"
)  # fmt: skip

#: A 64-bit primary key that is still SQLite's auto-incrementing rowid alias.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, aware, in UTC (the Python-side default of timestamp columns)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores UTC and always returns aware UTC datetimes.

    PostgreSQL keeps a ``timestamptz`` (returned in the session's zone: converted back to
    UTC here). SQLite has no zones: the value is stored as naive UTC text and UTC is
    attached again on the way out. A naive datetime is ambiguous, so it is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Watch(Base):
    """A channel watches a group (or one mark in it) with one rule. Unwatch soft-deletes."""

    __tablename__ = "watches"
    __table_args__ = (
        Index("ix_watches_group_id_mark", "group_id", "mark"),
        Index("ix_watches_channel_id", "channel_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    group_id: Mapped[str] = mapped_column(String(64))
    mark: Mapped[int | None] = mapped_column(Integer)
    rule_kind: Mapped[str] = mapped_column(String(8))  # RULE_KINDS
    threshold: Mapped[int | None] = mapped_column(Integer)
    recover: Mapped[int | None] = mapped_column(Integer)
    for_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    percent: Mapped[int | None] = mapped_column(Integer)
    within_seconds: Mapped[int | None] = mapped_column(Integer)
    repeat_seconds: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mute_reason: Mapped[str | None] = mapped_column(String(300))
    muted_by: Mapped[str | None] = mapped_column(String(32))
    #: Set when Slack refuses, for good, to post in the channel (not_in_channel, ...).
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    #: Unwatch is a soft delete: history and audit remain.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    state: Mapped[AlertStateRow | None] = relationship(
        back_populates="watch", cascade="all, delete-orphan", passive_deletes=True
    )
    changes: Mapped[list[WatchChange]] = relationship(
        back_populates="watch",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="WatchChange.id",
    )

    def __repr__(self) -> str:
        return (
            f"Watch(id={self.id!r}, channel_id={self.channel_id!r}, group_id={self.group_id!r}, "
            f"mark={self.mark!r}, rule_kind={self.rule_kind!r})"
        )


class AlertStateRow(Base):
    """Where a watch's rule stands. ``version`` is the ORM's optimistic-concurrency counter:
    an UPDATE through the ORM checks and bumps it, and raises ``StaleDataError`` when another
    writer got there first."""

    __tablename__ = "alert_states"

    watch_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("watches.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(8), default="ok", server_default="ok")
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    firing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reference: Mapped[int | None] = mapped_column(Integer)
    errors_in_row: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(500))
    muted_notice_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_value: Mapped[int | None] = mapped_column(Integer)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A uuid for the current firing/error episode.
    incident_id: Mapped[str | None] = mapped_column(String(36))
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The Slack message of the current incident, for updates and thread replies.
    alert_channel: Mapped[str | None] = mapped_column(String(32))
    alert_ts: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    watch: Mapped[Watch] = relationship(back_populates="state")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def __repr__(self) -> str:
        return (
            f"AlertStateRow(watch_id={self.watch_id!r}, status={self.status!r}, "
            f"version={self.version!r})"
        )


class SampleRow(Base):
    """One poll of a group (and mark): the online count, or the error that came instead."""

    __tablename__ = "samples"
    __table_args__ = (
        Index("ix_samples_group_id_mark_taken_at", "group_id", "mark", "taken_at"),
        Index("ix_samples_taken_at", "taken_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(String(64))
    mark: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))

    def __repr__(self) -> str:
        return (
            f"SampleRow(id={self.id!r}, group_id={self.group_id!r}, mark={self.mark!r}, "
            f"taken_at={self.taken_at!r}, value={self.value!r})"
        )


class Outbox(Base):
    """A Slack message to deliver. ``dedup_key`` is unique: a transition is enqueued once.

    ``parent_id`` points at the message this one replies to in a thread (a resolve replies
    to its firing message, whose ts is known only once that one is delivered).
    ``claimed_by``/``claimed_until`` are a lease so several replicas can share the work.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    watch_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("watches.id", ondelete="SET NULL")
    )
    incident_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # OutboxKind
    dedup_key: Mapped[str] = mapped_column(String(128))
    channel_id: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("outbox.id", ondelete="SET NULL")
    )
    #: {"text": ..., "blocks": [...], "metadata": {...}}
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(  # OutboxStatus
        String(12), default=OutboxStatus.PENDING.value, server_default="pending"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return (
            f"Outbox(id={self.id!r}, kind={self.kind!r}, status={self.status!r}, "
            f"dedup_key={self.dedup_key!r})"
        )


class WatchChange(Base):
    """The audit trail of a watch: who did what (created, muted, unwatched, ...) and when."""

    __tablename__ = "watch_changes"
    __table_args__ = (Index("ix_watch_changes_watch_id", "watch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    watch_id: Mapped[int] = mapped_column(Integer, ForeignKey("watches.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(32))  # a Slack user id
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    action: Mapped[str] = mapped_column(String(16))  # CHANGE_ACTIONS
    detail: Mapped[str] = mapped_column(String(500), default="", server_default="")

    watch: Mapped[Watch] = relationship(back_populates="changes")

    def __repr__(self) -> str:
        return (
            f"WatchChange(id={self.id!r}, watch_id={self.watch_id!r}, actor={self.actor!r}, "
            f"action={self.action!r})"
        )


#: ``TargetRow.mark_key`` for "no mark" (a real NULL would not be unique in PostgreSQL).
NO_MARK = -1


class TargetRow(Base):
    """A watched (group, mark): checked once per poll interval by whichever replica claims it.

    A replica claims due targets (``next_due_at`` passed, no live lease) with
    ``SELECT ... FOR UPDATE SKIP LOCKED``, sets ``lease_owner``/``lease_until``, checks
    them, then moves ``next_due_at`` on by the interval. A replica that dies leaves a
    lease that runs out, and another replica takes the target over.
    """

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("group_id", "mark_key"),
        Index("ix_targets_next_due_at", "next_due_at"),
        Index("ix_targets_push_due_at", "push_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(String(64))
    mark_key: Mapped[int] = mapped_column(BigInteger, default=NO_MARK, server_default="-1")
    next_due_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Push (Tencent's member-state callbacks; see bot.alerts.push):
    last_value: Mapped[int | None] = mapped_column(Integer)  # the last check's count
    push_delta: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quiet_low: Mapped[int | None] = mapped_column(BigInteger)  # no watch changes state
    quiet_high: Mapped[int | None] = mapped_column(BigInteger)  # ... within [low, high]
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    push_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # next_due_at is a resync's (push keeps watch meanwhile): it gives way to polled targets
    resync_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def mark(self) -> int | None:
        return None if self.mark_key == NO_MARK else self.mark_key

    def __repr__(self) -> str:
        return f"TargetRow(id={self.id!r}, group_id={self.group_id!r}, mark_key={self.mark_key!r})"


class DigestRow(Base):
    """A channel's daily digest (one per channel): sent at ``hour``:``minute`` in ``zone``.

    ``next_due_at`` is the next local occurrence, in UTC; a replica claims due rows with a
    lease (``lease_owner``/``lease_until``, as targets are claimed), writes the digest's
    outbox rows and moves ``next_due_at`` on in one transaction. ``last_sent_for`` is the
    local date of the last digest written: never two for one date.
    """

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("channel_id"),
        Index("ix_digests_next_due_at", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    hour: Mapped[int] = mapped_column(Integer)
    minute: Mapped[int] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(64))  # an IANA name
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now()
    )
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sent_for: Mapped[date | None] = mapped_column(Date)
    #: Why Slack refused the last digest for good (the bot not in the channel...), shown
    #: with the setting until a digest is delivered or the setting changes.
    last_error: Mapped[str | None] = mapped_column(String(300))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return (
            f"DigestRow(channel_id={self.channel_id!r}, at={self.hour:02d}:{self.minute:02d}, "
            f"zone={self.zone!r})"
        )
