"""What ``/online`` does, whatever the transport (Slack in bot/slack/, or the shell).

A command either answers at once (``Reply``: help, usage errors) or is
acknowledged at once and answered later (``Deferred``: its ``work`` calls
Tencent and returns a ``Reply`` or an ``Answer``). An ``Answer`` is an online
list that the transport renders, after it has tried to deliver the complete list
as a CSV file, so the message can say where the file went. A ``HistoryAnswer``
is a history that the transport draws once it knows the reader's time zone, and
renders once it has tried to deliver the chart (a PNG).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING

from bot.commands.grammar import (
    USAGE,
    WATCH_USAGE,
    CheckMembers,
    DigestOff,
    Help,
    ListWatches,
    Mute,
    Query,
    SetDigest,
    ShowDigest,
    ShowHistory,
    Unmute,
    Unwatch,
    UsageError,
    WatchDrop,
    WatchThreshold,
    parse,
)
from bot.drawing import Draw, draw_here
from bot.logs import log_unexpected
from bot.render.alerts import (
    ACK_ACTION,
    MUTE_ACTION,
    MUTE_BUTTON_SECONDS,
    UNWATCH_ACTION,
    parse_alert_button_value,
)
from bot.render.blocks import Message
from bot.render.charts import Chart
from bot.render.digest import render_setting_digest
from bot.render.history import HistoryView, render_drawing, render_history, render_no_history
from bot.render.members import (
    PAGE_SIZE,
    members_csv,
    render_count_only,
    render_error,
    render_help,
    render_looking_up,
    render_member_check,
    render_online,
)
from bot.reuse import Reused
from bot.tencent.client import TencentClient
from bot.tencent.errors import ApiError, FeatureNotEnabled, GroupError, TencentError
from bot.tencent.models import GroupInfo, OnlineMembers, is_community
from bot.watches import Actor, WatchError, Watches

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.alerts.history import HistoryReader
    from bot.digest.service import Digests

__all__ = [
    "PAGE_SIZE",
    "Answer",
    "Caller",
    "ChartFile",
    "CsvFile",
    "Deferred",
    "HistoryAnswer",
    "OnlineHandlers",
    "Reply",
    "unexpected",
]

log = logging.getLogger(__name__)

#: Seconds an online list is reused for the same question (Tencent's own is up to 40 s old).
SNAPSHOT_REUSE = 10.0
#: Seconds a history waits for the group's name from Tencent before it does without.
NAME_WAIT = 2.0


def unexpected(ref: str) -> str:
    """What the user reads after an unexpected failure logged under ``ref`` (log_unexpected)."""
    return (
        f"Something went wrong inside the bot (ref {ref}); the details are in its log. Try "
        "again, and if it keeps happening tell the bot's admins, quoting the ref."
    )


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class CsvFile:
    filename: str
    title: str
    content: str


@dataclass(frozen=True, slots=True)
class Reply:
    message: Message
    public: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """An online list, ready to render once the transport knows where the CSV went."""

    result: OnlineMembers
    group: GroupInfo | None
    online_count: int | None
    public: bool
    page: int = 0

    def message(self, file_note: str | None = None) -> Message:
        return render_online(
            self.result,
            group=self.group,
            online_count=self.online_count,
            now=self.result.fetched_at,
            page=self.page,
            page_size=PAGE_SIZE,
            file_note=file_note,
        )

    def csv(self) -> CsvFile | None:
        """The complete list as a file, when it does not fit on one page."""
        if self.page or len(self.result.members) <= PAGE_SIZE:
            return None
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in self.result.group_id)
        suffix = f"-mark{self.result.mark}" if self.result.mark is not None else ""
        name = self.group.name if self.group and self.group.name else self.result.group_id
        return CsvFile(
            filename=f"online-{safe.strip('-')}{suffix}.csv",
            title=f"Online members of {name} ({len(self.result.members)})",
            content=_csv_content(self.result),
        )


@functools.lru_cache(maxsize=16)
def _csv_content(result: OnlineMembers) -> str:
    """One CSV file per list, however many answers (pages, replies) show it: the BOM lets
    Excel read UTF-8."""
    return "\ufeff" + members_csv(result)


@dataclass(frozen=True, slots=True)
class ChartFile:
    filename: str
    title: str
    alt_text: str
    content: bytes  # PNG


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    """A history, drawn once the transport knows the reader's time zone, and rendered
    once it knows where the chart went (or why it did not)."""

    view: HistoryView
    public: bool
    draw: Callable[[Chart], bytes]  # the chart as PNG (drawn once for many askers)

    def chart(self, zone: ZoneInfo) -> ChartFile:
        """The PNG, times in ``zone``; whatever goes wrong drawing it propagates."""
        return ChartFile(
            filename=self.view.filename,
            title=self.view.title,
            alt_text=self.view.alt_text(zone),
            content=self.draw(self.view.chart(zone)),
        )

    def message(self, *, chart_note: str, zone_note: str, attached: bool) -> Message:
        return render_history(
            self.view, chart_note=chart_note, zone_note=zone_note, attached=attached
        )


@dataclass(frozen=True, slots=True)
class Deferred:
    ack: Message
    work: Callable[[], Reply | Answer | HistoryAnswer]


class OnlineHandlers:
    """The ``/online`` command and its paging buttons, over one Tencent client."""

    def __init__(
        self,
        tencent: TencentClient,
        watches: Watches | None = None,
        *,
        history: HistoryReader | None = None,
        digests: Digests | None = None,
        draw: Draw = draw_here,
        reuse_seconds: float = SNAPSHOT_REUSE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tencent = tencent
        self.watches = watches
        self.history = history
        self.digests = digests
        self.draw = draw
        self.reuse_seconds = reuse_seconds
        self._monotonic = monotonic
        # The same history asked within reuse_seconds (a team after an alert) is read,
        # and drawn in each time zone, once.
        self._histories: Reused[tuple[str, int | None, int, str], HistoryView] = Reused(
            reuse_seconds, monotonic=monotonic
        )
        self._charts: Reused[Chart, bytes] = Reused(reuse_seconds, monotonic=monotonic)
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="tencent")
        self._snapshots_lock = threading.Lock()
        self._snapshots: dict[tuple[str, int | None], tuple[float, Future[_Snapshot]]] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def command(self, text: str, caller: Caller) -> Reply | Deferred:
        try:
            command = parse(text)
        except UsageError as error:
            return Reply(render_error(f"{error}\n\n{USAGE}"))
        if isinstance(command, Help):
            return Reply(render_help(WATCH_USAGE if command.topic == "watch" else USAGE))
        if isinstance(command, Query):
            return self.query(command)
        if isinstance(command, CheckMembers):
            check = command
            return Deferred(
                ack=render_looking_up(check.group_id, None, accounts=len(check.accounts)),
                work=lambda: self._guarded(lambda: self._check_members(check)),
            )
        if isinstance(command, ShowHistory):
            return self._history_command(command, caller)
        if isinstance(command, SetDigest | DigestOff | ShowDigest):
            return self._digest_command(command, caller)
        return self._watch_command(command, caller)

    def _digest_command(
        self, command: SetDigest | DigestOff | ShowDigest, caller: Caller
    ) -> Reply | Deferred:
        """``/online digest``: set (the requester's zone may be asked of Slack), off, show."""
        if self.digests is None:
            return Reply(render_error("Digests need the bot's database: they work in `run`."))
        work = functools.partial(self.digests.command, command, Actor(*astuple(caller)))
        if isinstance(command, ShowDigest):
            return self._guarded_reply(lambda: Reply(work()))
        public = functools.partial(self._guarded, lambda: Reply(work(), public=True))
        return Deferred(ack=render_setting_digest(), work=public)

    def query(self, query: Query) -> Deferred:
        """``/online <groupId> [mark]``: who is online (also the App Home's lookup)."""
        return Deferred(
            ack=render_looking_up(query.group_id, query.mark),
            work=lambda: self._guarded(lambda: self._query(query)),
        )

    def _history_command(self, show: ShowHistory, caller: Caller) -> Reply | Deferred:
        history = self.history
        if history is None:
            return Reply(
                render_error(
                    "History needs the bot's database: it works in `online-bot run` and "
                    "`online-bot shell`."
                )
            )

        def work() -> Reply | HistoryAnswer:
            self._learn_name(history, show.group_id)
            key = (show.group_id, show.mark, show.seconds, caller.channel_id)
            view = self._histories.get(
                key,
                lambda: history.read(show.group_id, show.mark, show.seconds, caller.channel_id),
            )
            if not view.points:
                return Reply(
                    render_no_history(
                        show.group_id,
                        show.mark,
                        seconds=show.seconds,
                        latest_before=view.latest_before,
                        now=view.end,
                    )
                )
            return HistoryAnswer(view, show.public, self.chart_png)

        return Deferred(
            ack=render_drawing(show.group_id, show.mark, show.seconds),
            work=lambda: self._guarded(work),
        )

    def _learn_name(self, history: HistoryReader, group_id: str) -> None:
        """Ask Tencent for the group's name when it is not known (once an hour at most),
        waiting NAME_WAIT at most: a chart is wanted most when Tencent is in trouble,
        and it does without the name (it shows the ID)."""
        names = history.names
        if names is None or names.known(group_id):
            return
        asking = self._pool.submit(names.prefetch, [group_id])
        with contextlib.suppress(TimeoutError):
            asking.result(timeout=NAME_WAIT)

    def chart_png(self, chart: Chart) -> bytes:
        """``chart`` as PNG (DrawingFailed if it cannot be drawn); the same chart asked again
        within reuse_seconds is drawn once."""
        return self._charts.get(chart, lambda: self.draw(chart))

    def _watch_command(self, command: object, caller: Caller) -> Reply | Deferred:
        watches = self.watches
        if watches is None:
            return Reply(
                render_error(
                    "Watches need the bot's database: they work in `online-bot run` and "
                    "`online-bot shell`."
                )
            )
        actor = Actor(caller.user_id, caller.channel_id)
        if isinstance(command, WatchThreshold | WatchDrop):
            create = command
            return Deferred(
                ack=render_looking_up(create.group_id, create.mark),
                work=lambda: self._guarded(
                    lambda: Reply(watches.create(create, actor), public=True)
                ),
            )
        if isinstance(command, ListWatches):
            return self._guarded_reply(lambda: Reply(watches.list(actor)))
        if isinstance(command, Unwatch):
            unwatch = command
            return self._guarded_reply(
                lambda: Reply(watches.unwatch(unwatch.watch_id, actor), public=True)
            )
        if isinstance(command, Mute):
            mute = command
            return self._guarded_reply(
                lambda: Reply(
                    watches.mute(mute.watch_id, mute.seconds, mute.reason, actor), public=True
                )
            )
        if isinstance(command, Unmute):
            unmute = command
            return self._guarded_reply(
                lambda: Reply(watches.unmute(unmute.watch_id, actor), public=True)
            )
        raise AssertionError(f"unhandled command {command!r}")

    def _guarded_reply(self, work: Callable[[], Reply]) -> Reply:
        outcome = self._guarded(work)
        assert isinstance(outcome, Reply)
        return outcome

    def page(self, value: str) -> Reply | Answer:
        """A "Next 50" / "Previous" button: its value is {"g": group, "m": mark, "p": page}."""
        try:
            data = json.loads(value)
            query = Query(str(data["g"]), None if data.get("m") is None else int(data["m"]))
            page = max(0, int(data["p"]))
        except (ValueError, KeyError, TypeError):
            return Reply(render_error("That button is out of date; run the command again."))
        outcome = self._guarded(lambda: self._query(query, page=page))
        assert not isinstance(outcome, HistoryAnswer)
        return outcome

    def alert_button(self, action_id: str, value: str, caller: Caller) -> Reply | None:
        """Acknowledge, Mute 1h or Unwatch on an alert; None when the alert is over.

        An acknowledged alert comes back as a public Reply to replace the original.
        """
        if self.watches is None:
            return Reply(render_error("Watches need the bot's database."))
        try:
            watch_id, incident = parse_alert_button_value(value)
        except ValueError:
            return Reply(render_error("That button is out of date."))
        watches, actor = self.watches, Actor(caller.user_id, caller.channel_id)
        if action_id == ACK_ACTION:

            def ack() -> Reply:
                message = watches.acknowledge(watch_id, incident, actor)
                if message is None:
                    return Reply(
                        render_error("This alert is already over: nothing to acknowledge.")
                    )
                return Reply(message, public=True)

            return self._guarded_reply(ack)
        if action_id == MUTE_ACTION:
            return self._guarded_reply(
                lambda: Reply(
                    watches.mute(watch_id, MUTE_BUTTON_SECONDS, "muted from the alert", actor),
                    public=True,
                )
            )
        if action_id == UNWATCH_ACTION:
            return self._guarded_reply(lambda: Reply(watches.unwatch(watch_id, actor), public=True))
        return None

    def _guarded(
        self, work: Callable[[], Reply | Answer | HistoryAnswer]
    ) -> Reply | Answer | HistoryAnswer:
        try:
            return work()
        except WatchError as error:
            return Reply(error.reply or render_error(str(error)))
        except TencentError as error:
            return Reply(render_error(_explain(error)))
        except Exception:
            ref = log_unexpected(log, "unexpected failure answering /online")
            return Reply(render_error(unexpected(ref)))

    def _query(self, query: Query, page: int = 0) -> Reply | Answer:
        try:
            snapshot = self._snapshot(query.group_id, query.mark)
        except _Unsupported as unsupported:
            group = unsupported.group
            text = (
                f"{query.group_id} is a {group.type or 'non audio-video'} group. Tencent "
                "lists online members only for audio-video groups (AVChatRoom) and "
                "Community groups"
            )
            if unsupported.count_error is not None:
                error = unsupported.count_error
                text += f". {error.sentence}"
            elif group.countable:  # a mark filters the list, which this group has not
                text += (
                    f", so marks cannot be counted here; `/online {query.group_id}` gives its "
                    "count."
                )
            else:
                text += "; it does not count this type either."
            return Reply(render_error(text))
        if snapshot.result is None:
            assert snapshot.count is not None
            message = render_count_only(snapshot.group, snapshot.count, now=snapshot.taken_at)
            return Reply(message, public=query.public)
        return Answer(snapshot.result, snapshot.group, snapshot.count, query.public, page)

    def _check_members(self, command: CheckMembers) -> Reply:
        """Which of the accounts are in the group: its type and the check asked at once."""
        info = self._pool.submit(self.tencent.group_info, command.group_id)
        try:
            check, failure = self.tencent.check_members(command.group_id, command.accounts), None
        except TencentError as error:
            check, failure = None, error
        group = info.result()
        if not group.supports_member_check:
            return Reply(
                render_error(
                    f"{command.group_id} is a {group.type or 'non audio-video'} group. Tencent "
                    "checks whether accounts are in a group only for audio-video groups "
                    f"(AVChatRoom); `/online {command.group_id}` gives its count."
                )
            )
        if failure is not None:
            raise failure
        assert check is not None
        return Reply(render_member_check(check, group, now=check.checked_at), command.public)

    def _snapshot(self, group_id: str, mark: int | None) -> _Snapshot:
        """The group's list, reused for ``reuse_seconds``; concurrent asks share one fetch.

        Tencent's own list is a snapshot up to 40 s old, so reusing ours for a few seconds
        changes nothing for the reader, keeps the pages of one answer consistent, and
        spares the rate limit when a team asks about the same group at once.
        """
        key = (group_id, mark)
        now = self._monotonic()
        with self._snapshots_lock:
            for stale in [k for k, (until, _) in self._snapshots.items() if until <= now]:
                del self._snapshots[stale]
            entry = self._snapshots.get(key)
            owner = entry is None
            if owner:
                future: Future[_Snapshot] = Future()
                self._snapshots[key] = (now + self.reuse_seconds, future)
            else:
                future = entry[1]
        if owner:
            try:
                future.set_result(self._fetch(group_id, mark))
            except BaseException as error:
                with self._snapshots_lock:
                    self._snapshots.pop(key, None)  # failures are not reused
                future.set_exception(error)
        return future.result()

    def _fetch(self, group_id: str, mark: int | None) -> _Snapshot:
        """Name and type, exact count and list, asked of Tencent at the same time.

        The count's endpoint is chosen by the ID (a Community's starts ``@TGS#_``); should
        the type say otherwise, the count is asked again of the right one. A group Tencent
        counts but does not list (Public, Meeting...) gets its count alone.
        """
        info = self._pool.submit(self.tencent.group_info, group_id)
        count = self._pool.submit(self.tencent.online_count, group_id)
        try:
            result, failure = self.tencent.online_members(group_id, mark), None
        except TencentError as error:
            result, failure = None, error
        group = info.result()
        if not group.countable or (mark is not None and not group.supports_online_list):
            raise _Unsupported(group)
        if is_community(group_id) != is_community(group_id, group.type):
            count = self._pool.submit(self.tencent.online_count, group_id, group.type)
        if not group.supports_online_list:
            try:
                return _Snapshot(group, None, count.result(), time.time())
            except FeatureNotEnabled as error:
                raise _Unsupported(group, error) from None
        if failure is not None:
            raise failure
        assert result is not None
        return _Snapshot(group, result, count.result(), result.fetched_at)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    group: GroupInfo
    result: OnlineMembers | None  # None: a group Tencent counts but does not list
    count: int | None
    taken_at: float  # unix seconds


class _Unsupported(Exception):
    """The group cannot answer this question: its type, or (``count_error``) the edition."""

    def __init__(self, group: GroupInfo, count_error: ApiError | None = None) -> None:
        super().__init__(group.group_id)
        self.group = group
        self.count_error = count_error


def _explain(error: TencentError) -> str:
    message = error.sentence
    if isinstance(error, GroupError):
        message += " Use `/online help` to see the command's form."
    return message
