"""Channel watches: create, list, unwatch, mute, unmute, acknowledge.

Changes need permission when ``WATCH_ADMINS`` is set (Slack user IDs, and
user-group IDs whose members count too); every change is recorded (who, when,
what) and the latest shows in ``/online watches``. A watch belongs to its
channel: it is changed (its alert's buttons too) only from there; anywhere else
it is not found, and nothing of it is shown, not even which channel has it.

The App Home is the exception (an ``Actor`` without a channel): it lists every watch
of the workspace (:meth:`Watches.listing`, :meth:`Watches.shown`) and changes any of
them, WATCH_ADMINS permitting; such changes are recorded as made from the App Home.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.alerts import rules, targets
from bot.alerts.checks import Target, fetch_value
from bot.alerts.mapping import rule_columns, rule_of, to_dt, to_ts
from bot.alerts.messages import SPARK_SAMPLES, alert_view
from bot.alerts.names import GroupNames
from bot.commands.durations import format_duration
from bot.commands.values import WatchDrop, WatchThreshold
from bot.digest.setting import read_setting
from bot.render import alerts as render
from bot.render import home as home_render
from bot.render import watches as watch_render
from bot.render.blocks import Message
from bot.render.digest import setting_line
from bot.store import samples
from bot.store.models import AlertStateRow, SampleRow, TargetRow, Watch, WatchChange
from bot.tencent.client import TencentClient
from bot.tencent.errors import GroupError, TencentError

__all__ = ["MAX_WATCHES_PER_CHANNEL", "WatchError", "Watches"]

log = logging.getLogger(__name__)

MAX_WATCHES_PER_CHANNEL = 100
GROUP_MEMBERS_TTL = 300.0


class WatchError(Exception):
    """A refused or impossible watch change; the message says why and what to do.

    ``reply``, when set, is the answer to show instead of the message alone (it
    mentions people)."""

    def __init__(self, text: str, reply: Message | None = None) -> None:
        super().__init__(text)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes a watch, and from where: the channel of the command or alert, or
    None for the App Home, which reaches every channel's watches (WATCH_ADMINS permitting)."""

    user_id: str
    channel_id: str | None

    @classmethod
    def home(cls, user_id: str) -> Actor:
        return cls(user_id, None)


class Watches:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tencent: TencentClient,
        names: GroupNames,
        *,
        admins: frozenset[str] = frozenset(),
        usergroup_members: Callable[[str], frozenset[str]] | None = None,
        clock: Callable[[], float] = time.time,
        push_resync: float = 600.0,
        on_unwatch: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        #: Told once a watch is removed (its target too, if it was the last), e.g. the
        #: metrics' figures, to drop its audience at once; it must not block.
        self.on_unwatch = on_unwatch
        self.push_resync = push_resync  # a group with a callback this recent is push-fed
        self.tencent = tencent
        self.names = names
        self.admins = admins
        self.usergroup_members = usergroup_members
        self.clock = clock
        self._groups_lock = threading.Lock()
        self._groups: dict[str, tuple[frozenset[str], float]] = {}

    # -- permission ------------------------------------------------------------

    def allowed(self, user_id: str) -> bool:
        if not self.admins or user_id in self.admins:
            return True
        return any(
            user_id in self._members(group) for group in self.admins if group.startswith("S")
        )

    def _members(self, usergroup: str) -> frozenset[str]:
        now = self.clock()
        with self._groups_lock:
            hit = self._groups.get(usergroup)
        if hit is not None and now - hit[1] < GROUP_MEMBERS_TTL:
            return hit[0]
        members: frozenset[str] = frozenset()
        if self.usergroup_members is not None:
            try:
                members = self.usergroup_members(usergroup)
            except Exception as error:  # Slack unreachable: refuse rather than allow
                log.warning("could not list user group %s: %s", usergroup, type(error).__name__)
                return hit[0] if hit else frozenset()
        with self._groups_lock:
            self._groups[usergroup] = (members, now)
        return members

    def _require(self, user_id: str, what: str) -> None:
        if not self.allowed(user_id):
            raise WatchError(
                f"Only the watch admins may {what} (WATCH_ADMINS). Ask one of them: "
                + ", ".join(sorted(self.admins))
                + ".",
                watch_render.render_admins_only(what, self.admins),
            )

    # -- commands ----------------------------------------------------------------

    def create(self, command: WatchThreshold | WatchDrop, actor: Actor) -> Message:
        if actor.channel_id is None:
            raise WatchError("Watches are made in the channel they alert: type the command there.")
        self._require(actor.user_id, "create watches")
        rule = rules.Rule.from_command(command)
        group_name = None
        try:
            info = self.tencent.group_info(command.group_id)
            group_name = info.name or None
            self.names.remember(command.group_id, group_name)
            kind = info.type or "non audio-video"
            if not info.countable:
                raise WatchError(
                    f"Not watching {command.group_id}: it is a {kind} group, and Tencent does "
                    "not count online members of this type."
                )
            if command.mark is not None and not info.supports_online_list:
                raise WatchError(
                    f"Not watching {command.group_id} with mark {command.mark}: it is a {kind} "
                    "group, and marks are counted from the online list, which Tencent keeps "
                    "only for AVChatRoom and Community groups. Leave the mark out to watch its "
                    "exact count."
                )
        except GroupError as error:
            raise WatchError(f"Not watching {command.group_id}: {error.user_message}") from None
        except TencentError as error:
            log.info("group info for a new watch failed: %s", error)
        now = self.clock()
        value, error_text = fetch_value(self.tencent, Target(command.group_id, command.mark))
        with self.sessions.begin() as session:
            self._refuse_duplicate(session, command, rule, actor)
            watch = Watch(
                channel_id=actor.channel_id,
                group_id=command.group_id,
                mark=command.mark,
                **rule_columns(rule),
                created_by=actor.user_id,
                created_at=to_dt(now),
            )
            session.add(watch)
            session.flush()
            session.add(
                AlertStateRow(
                    watch_id=watch.id,
                    last_value=value,
                    last_checked_at=to_dt(now),
                    last_error=error_text[:500] if error_text else None,
                )
            )
            session.add(
                SampleRow(
                    group_id=command.group_id,
                    mark=command.mark,
                    taken_at=to_dt(now),
                    value=value,
                    error=error_text[:500] if error_text else None,
                )
            )
            session.add(_change(watch.id, actor, now, "created", rule.describe()))
            targets.reconsider(session, command.group_id, command.mark, now=now)
            watch_id = watch.id
        return watch_render.render_watch_created(
            watch_id=watch_id,
            group_id=command.group_id,
            group_name=group_name,
            rule_text=rule.describe(),
            mark=command.mark,
            current=value,
            current_error=error_text,
            channel_id=actor.channel_id,
        )

    def _refuse_duplicate(
        self,
        session: Session,
        command: WatchThreshold | WatchDrop,
        rule: rules.Rule,
        actor: Actor,
    ) -> None:
        existing = session.scalars(
            select(Watch).where(
                Watch.channel_id == actor.channel_id,
                Watch.deleted_at.is_(None),
            )
        ).all()
        if len(existing) >= MAX_WATCHES_PER_CHANNEL:
            raise WatchError(
                f"This channel already has {len(existing)} watches, the most one channel may "
                "have; `/online unwatch <id>` some first."
            )
        for watch in existing:
            if (watch.group_id, watch.mark) == (command.group_id, command.mark) and rule_of(
                watch
            ) == rule:
                raise WatchError(
                    f"This channel already watches {command.group_id} with that rule (#{watch.id})."
                )

    def list(self, actor: Actor) -> Message:
        now = self.clock()
        with self.sessions() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.channel_id == actor.channel_id, Watch.deleted_at.is_(None))
                .options(selectinload(Watch.state), selectinload(Watch.changes))
                .order_by(Watch.id)
            ).all()
            self.names.prefetch(watch.group_id for watch in watches)
            pushed = dict(
                session.execute(
                    select(TargetRow.group_id, func.max(TargetRow.last_push_at))
                    .where(TargetRow.group_id.in_({w.group_id for w in watches}))
                    .group_by(TargetRow.group_id)
                ).all()
            )
            rows = [
                self._row(
                    watch,
                    now,
                    to_ts(pushed.get(watch.group_id)),
                    watch.changes[-1] if watch.changes else None,
                )
                for watch in watches
            ]
            digest = read_setting(session, actor.channel_id)
        line = setting_line(digest) if digest is not None else None
        return watch_render.render_watch_list(rows, now=now, digest=line)

    def listing(self) -> list[home_render.Listed]:
        """Every watch of the workspace, as far as the App Home pages and counts them (its
        channel and state): one narrow query, cheap for thousands of watches. What a page
        shows of them is read by :meth:`shown`."""
        now = self.clock()
        with self.sessions() as session:
            listed = session.execute(
                select(
                    Watch.id,
                    Watch.channel_id,
                    Watch.muted_until,
                    Watch.paused_reason,
                    AlertStateRow.status,
                )
                .outerjoin(AlertStateRow, AlertStateRow.watch_id == Watch.id)
                .where(Watch.deleted_at.is_(None))
            ).all()
        return [
            home_render.Listed(
                watch_id=watch_id,
                channel_id=channel_id,
                status=status or "ok",
                muted=muted_until is not None and muted_until.timestamp() > now,
                paused=bool(paused_reason),
            )
            for watch_id, channel_id, muted_until, paused_reason, status in listed
        ]

    def shown(self, watch_ids: Collection[int]) -> list[watch_render.WatchRow]:
        """The watches ``watch_ids`` (those still there) as the App Home shows them: as
        ``/online watches`` lists them, without their last change, with their groups'
        names (asked of Tencent if not known, 50 a call) and their recent counts
        (SPARK_SAMPLES, oldest first) for a sparkline."""
        now = self.clock()
        with self.sessions() as session:
            groups = set(
                session.scalars(select(Watch.group_id).where(Watch.id.in_(watch_ids))).all()
            )
        self.names.prefetch(groups)  # (never while a transaction is open)
        with self.sessions() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.id.in_(watch_ids), Watch.deleted_at.is_(None))
                .options(selectinload(Watch.state))
            ).all()
            pushed = dict(
                session.execute(
                    select(TargetRow.group_id, func.max(TargetRow.last_push_at))
                    .where(TargetRow.group_id.in_(groups))
                    .group_by(TargetRow.group_id)
                ).all()
            )
            recent = {
                target: tuple(reversed(samples.recent(session, *target, limit=SPARK_SAMPLES)))
                for target in {(watch.group_id, watch.mark) for watch in watches}
            }
            return [
                replace(
                    self._row(watch, now, to_ts(pushed.get(watch.group_id)), None),
                    samples=recent[(watch.group_id, watch.mark)],
                )
                for watch in watches
            ]

    def channel_of(self, watch_id: int) -> str | None:
        """The channel a watch alerts (removed or not); None if there is no such watch."""
        with self.sessions() as session:
            return session.scalar(select(Watch.channel_id).where(Watch.id == watch_id))

    def _row(
        self, watch: Watch, now: float, last_push_at: float | None, last: WatchChange | None
    ) -> watch_render.WatchRow:
        state = watch.state
        return watch_render.WatchRow(
            watch_id=watch.id,
            channel_id=watch.channel_id,
            group_id=watch.group_id,
            group_name=self.names.peek(watch.group_id),
            mark=watch.mark,
            rule_text=rule_of(watch).describe(),
            status=state.status if state else "ok",
            last_value=state.last_value if state else None,
            last_checked_at=to_ts(state.last_checked_at) if state else None,
            muted_until=_active_mute(watch, now),
            mute_reason=watch.mute_reason,
            paused_reason=watch.paused_reason,
            last_error=state.last_error if state else None,
            last_change=last.action if last is not None else None,
            last_change_by=last.actor if last is not None else None,
            last_change_at=last.at.timestamp() if last is not None else None,
            last_push_at=last_push_at,
            push_fed=last_push_at is not None and now - last_push_at <= self.push_resync,
        )

    def unwatch(self, watch_id: int, actor: Actor) -> Message:
        self._require(actor.user_id, "remove watches")
        now = self.clock()
        with self.sessions.begin() as session:
            watch = self._own(session, watch_id, actor)
            watch.deleted_at = to_dt(now)
            session.add(_change(watch.id, actor, now, "unwatched", ""))
            group_id, mark = watch.group_id, watch.mark
            targets.forget(session, group_id, mark)
        if self.on_unwatch is not None:
            self.on_unwatch()
        return watch_render.render_unwatched(
            actor=actor.user_id, group_id=group_id, mark=mark, watch_id=watch_id
        )

    def mute(self, watch_id: int, seconds: int, reason: str | None, actor: Actor) -> Message:
        self._require(actor.user_id, "mute watches")
        now = self.clock()
        until = now + seconds
        with self.sessions.begin() as session:
            watch = self._own(session, watch_id, actor)
            watch.muted_until, watch.muted_by = to_dt(until), actor.user_id
            watch.mute_reason = reason[:300] if reason else None
            detail = f"for {format_duration(seconds)}" + (f": {reason}" if reason else "")
            session.add(_change(watch.id, actor, now, "muted", detail))
            group_id, mark = watch.group_id, watch.mark
        return watch_render.render_muted(
            actor=actor.user_id,
            group_id=group_id,
            mark=mark,
            watch_id=watch_id,
            until=until,
            reason=reason,
        )

    def unmute(self, watch_id: int, actor: Actor) -> Message:
        self._require(actor.user_id, "unmute watches")
        now = self.clock()
        with self.sessions.begin() as session:
            watch = self._own(session, watch_id, actor)
            was_paused = watch.paused_reason is not None
            watch.muted_until = watch.muted_by = watch.mute_reason = None
            watch.paused_reason = None
            state = session.get(AlertStateRow, watch_id)
            if was_paused and state is not None and state.status in ("firing", "error"):
                # Its alert may never have reached the channel: post it again at the next
                # check if it still fires, as when a mute runs out.
                state.muted_notice_due = True
            action = "resumed" if was_paused else "unmuted"
            session.add(_change(watch.id, actor, now, action, ""))
            group_id, mark = watch.group_id, watch.mark
            targets.reconsider(session, group_id, mark, now=now)
        return watch_render.render_unmuted(
            actor=actor.user_id, group_id=group_id, mark=mark, watch_id=watch_id, resumed=was_paused
        )

    def acknowledge(self, watch_id: int, incident_id: str, actor: Actor) -> Message | None:
        """Record who acknowledged; the re-rendered alert, or None if it is over.

        WatchError if the watch is not this channel's: a button value copied into
        another channel acknowledges nothing and shows nothing of the alert."""
        now = self.clock()
        with self.sessions.begin() as session:
            watch = self._own(session, watch_id, actor)
            state = session.get(AlertStateRow, watch_id)
            if state is None or state.incident_id != incident_id:
                return None
            if state.status not in ("firing", "error"):
                return None
            if state.acknowledged_by is None:
                state.acknowledged_by, state.acknowledged_at = actor.user_id, to_dt(now)
                session.add(_change(watch.id, actor, now, "acknowledged", incident_id))
            view = alert_view(
                session,
                watch,
                state,
                self.names,
                incident=incident_id,
                value=state.last_value,
                now=now,
            )
            if state.status == "error":
                return render.render_error_alert(view)
            return render.render_firing(view, reason="acknowledged")

    def _own(self, session: Session, watch_id: int, actor: Actor) -> Watch:
        watch = session.get(Watch, watch_id)
        if actor.channel_id is None:  # the App Home: any channel's
            if watch is None or watch.deleted_at is not None:
                raise WatchError(
                    f"There is no watch #{watch_id} any more (it was removed); the list "
                    "below is up to date."
                )
            return watch
        if watch is None or watch.deleted_at is not None or watch.channel_id != actor.channel_id:
            # Another channel's watch is not named: its channel may be private.
            raise WatchError(
                f"There is no watch #{watch_id} in this channel; `/online watches` lists "
                "this channel's watches."
            )
        return watch


def _change(watch_id: int, actor: Actor, now: float, action: str, detail: str) -> WatchChange:
    if actor.channel_id is None and not detail:  # (the Home's mute says so in its reason)
        detail = "from the App Home"
    return WatchChange(
        watch_id=watch_id, actor=actor.user_id, at=to_dt(now), action=action, detail=detail[:500]
    )


def _active_mute(watch: Watch, now: float) -> float | None:
    until = to_ts(watch.muted_until)
    return until if until is not None and until > now else None
