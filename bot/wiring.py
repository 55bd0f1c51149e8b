"""The composition root: where the bot is assembled, for one transport (Slack or the shell).

``build(settings, transport)`` opens, in order, the Tencent client (for the configured
app, or for the built-in simulator started here when there is none), the database and
the alerting services over it, and the ``/online`` handlers; ``Bot.serve()`` hands
them to the transport, which starts the scheduler as it begins taking input, and
``Bot.close()`` (or leaving ``with``) shuts everything down in the reverse order:

1. the poller claims nothing more and a running cycle finishes what it claimed;
2. the scheduler stops (without waiting for its jobs);
3. the handlers' Tencent threads stop;
4. the poller's threads end, the database engine is disposed of, and the SQLite
   database is released to other processes;
5. the drawing process stops (where the transport draws apart, ``Plan.draw_apart``,
   and a chart was drawn: ``bot.drawing``);
6. the Tencent client closes, and the simulator (if one was started) stops.

The transport wraps the bot from outside (``bot/slack/transport.py``, ``bot/shell.py``):
it says where alerts go, picks the database and poll interval once Tencent is known,
and serves. The parts count into one ``Metrics`` (``bot.metrics``), made here unless the
transport counts too and hands its own; ``Bot.status_routes`` serves it on GET /metrics,
with GET /readyz (``bot.readiness``). The replica's name (``replica_owner``) is named here
once; the credential choice in ``bot.tencent.connect`` (``credentials``, with
``open_tencent``: the command line opens Tencent without the rest of the bot), the
lease policy in ``bot.store.leases``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.chart_delivery import LEASE_EXTRA, ChartDeliverer
from bot.alerts.delivery import Deliverer, Poster
from bot.alerts.history import HistoryReader
from bot.alerts.names import GroupNames
from bot.alerts.poller import Poller
from bot.alerts.push import Inbox
from bot.digest.service import Digests
from bot.drawing import ChartDrawer, Draw, draw_here
from bot.handlers import OnlineHandlers
from bot.httpserver import WsgiApp
from bot.metrics import METRICS_PATH, Metrics, metrics_app
from bot.readiness import READY_PATH, Check, Readiness, schema_check
from bot.scheduler import start_scheduler
from bot.settings import Settings
from bot.simulator import Scenario
from bot.store.db import make_engine, session_factory, single_process, upgrade
from bot.store.figures import DatabaseFigures
from bot.store.leases import LeasePolicy
from bot.tencent.client import TencentClient
from bot.tencent.connect import Tencent, open_tencent
from bot.watches import Watches
from bot.webhook import CALLBACK_PATH, callback_app

__all__ = [
    "Alerting",
    "Bot",
    "Plan",
    "Transport",
    "build",
    "open_alerting",
    "replica_owner",
]


# -- named once -------------------------------------------------------------------------


def replica_owner() -> str:
    """How this process names itself to other replicas: in its leases
    (``targets.lease_owner``, ``outbox.claimed_by``) and in its Slack calls' User-Agent."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -- the parts ----------------------------------------------------------------------------


@dataclass
class Alerting:
    """The watch-and-alert services over one database."""

    sessions: sessionmaker[Session]
    watches: Watches
    poller: Poller
    deliverer: Deliverer
    inbox: Inbox | None  # Tencent's callbacks, when push is on
    charts: ChartDeliverer | None = None  # alert charts, where the poster can upload


@contextmanager
def open_alerting(
    settings: Settings,
    tencent: TencentClient,
    database_url: str,
    poster: Poster,
    *,
    poll_interval: float,
    usergroup_members: Callable[[str], frozenset[str]] | None = None,
    push: bool = False,
    metrics: Metrics | None = None,
    draw: Draw = draw_here,
) -> Iterator[Alerting]:
    """Migrate the database to the latest schema, then build the alerting services (with
    ``push``, the inbox for Tencent's callbacks too); ``metrics`` counts the poll cycles and
    serves the database's figures; alert charts are drawn by ``draw``.

    A SQLite database is held for this process alone (DatabaseInUse otherwise).
    """
    with single_process(database_url):
        yield from _alerting(
            settings,
            tencent,
            database_url,
            poster,
            poll_interval,
            usergroup_members,
            push,
            metrics if metrics is not None else Metrics(),
            draw,
        )


def _alerting(
    settings: Settings,
    tencent: TencentClient,
    database_url: str,
    poster: Poster,
    poll_interval: float,
    usergroup_members: Callable[[str], frozenset[str]] | None,
    push: bool,
    metrics: Metrics,
    draw: Draw,
) -> Iterator[Alerting]:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    names = GroupNames(tencent)
    owner = replica_owner()
    lease = LeasePolicy.for_interval(poll_interval, settings.lease_seconds)
    poller = Poller(
        sessions,
        tencent.for_background(),
        names=names,
        interval=poll_interval,
        resync=settings.push_resync_interval,
        owner=owner,
        lease_seconds=lease.targets,
        metrics=metrics,
    )
    metrics.poll_interval.set(poll_interval)
    figures = DatabaseFigures(sessions)
    metrics.watch_database(figures)
    inbox = None
    if push:
        debounce = settings.push_debounce
        inbox = Inbox(sessions) if debounce is None else Inbox(sessions, debounce=debounce)
    charts = _charts(settings, sessions, names, poster, owner, lease.outbox, draw)
    try:
        yield Alerting(
            sessions=sessions,
            watches=Watches(
                sessions,
                tencent,
                names,
                admins=settings.watch_admin_ids,
                usergroup_members=usergroup_members,
                push_resync=settings.push_resync_interval,
                on_unwatch=figures.forget,
            ),
            poller=poller,
            deliverer=Deliverer(sessions, poster, owner=owner, lease_seconds=lease.outbox),
            inbox=inbox,
            charts=charts,
        )
    finally:
        metrics.watch_database(None)
        figures.close()
        if inbox is not None:
            inbox.close()
        poller.close()
        engine.dispose()


def _charts(
    settings: Settings,
    sessions: sessionmaker[Session],
    names: GroupNames,
    poster: Poster,
    owner: str,
    lease: float,
    draw: Draw,
) -> ChartDeliverer:
    """The alert charts' deliverer (every poster takes files: Slack, the shell)."""
    reader = HistoryReader(sessions, names, kept_days=settings.history_days)
    return ChartDeliverer(
        sessions, poster, reader, draw=draw, owner=owner, lease_seconds=lease + LEASE_EXTRA
    )


# -- the whole bot ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a transport chose once Tencent was known: where the bot keeps its watches and
    how often it checks them."""

    database: str
    poll_interval: float
    #: Take Tencent's member-state callbacks (POST /tencent/callback) ...
    push: bool = False
    #: ... signed with this token (None: unsigned, TENCENT_IM_CALLBACK_INSECURE=1).
    push_token: str | None = None
    #: Draw charts in a process of their own (``bot.drawing.ChartDrawer``), not in the
    #: threads asking for them: for a bot that many people ask at once.
    draw_apart: bool = False


class Transport(Protocol):
    """Where the bot talks (errbot's backend): Slack, or the terminal."""

    #: The Slack user IDs in a user group (for WATCH_ADMINS), where the transport knows them.
    usergroup_members: Callable[[str], frozenset[str]] | None

    def user_zone(self, user_id: str) -> ZoneInfo | None:
        """The user's time zone (a digest's default), None when the transport cannot say."""
        ...

    def poster(self, replica: str) -> Poster:
        """Where alert messages go; ``replica`` names this process (``replica_owner``)."""
        ...

    def plan(self, settings: Settings, tencent: Tencent) -> Plan:
        """Once Tencent is reachable (the simulator serving, if used) and before the database
        opens: say what the bot uses, and choose. SettingsError if the choice is refused."""
        ...

    def serve(self, bot: Bot) -> None:
        """Serve ``bot.handlers`` until stopped (quit, SIGTERM), calling ``bot.start()`` as
        it begins taking input."""
        ...


@dataclass
class Bot:
    """The assembled bot. ``close()`` (or leaving ``with``) shuts it down in order."""

    settings: Settings
    transport: Transport
    tencent: Tencent
    alerting: Alerting
    handlers: OnlineHandlers
    plan: Plan
    metrics: Metrics = field(default_factory=Metrics)
    digests: Digests | None = None
    scheduler: BackgroundScheduler | None = None  # once started
    _closing: ExitStack = field(default_factory=ExitStack, repr=False)

    def start(self) -> None:
        """Start the scheduler: poll, push, deliver, charts, prune, digests (once)."""
        if self.scheduler is None:
            self.scheduler = start_scheduler(
                self.alerting.poller,
                self.alerting.deliverer,
                charts=self.alerting.charts,
                interval=self.plan.poll_interval,
                history_days=self.settings.history_days,
                prompt=self.alerting.inbox is not None,
                digests=self.digests,
            )

    def callback_routes(self) -> dict[str, WsgiApp]:
        """Tencent's callback endpoint by its path, when push is on (else none)."""
        inbox = self.alerting.inbox
        if inbox is None:
            return {}
        endpoint = callback_app(
            inbox,
            sdkappid=self.tencent.client.sdkappid,
            token=self.plan.push_token,
            metrics=self.metrics,
        )
        return {CALLBACK_PATH: endpoint}

    def status_routes(self, *checks: Check) -> dict[str, WsgiApp]:
        """GET /metrics (``metrics``) and GET /readyz: ready while the database answers at
        the schema this bot needs and ``checks`` (the transport's, e.g. Slack's auth.test)
        pass (``bot.readiness``)."""
        readiness = Readiness([schema_check(self.alerting.sessions), *checks])
        return {METRICS_PATH: metrics_app(self.metrics), READY_PATH: readiness.app()}

    def serve(self) -> None:
        """Hand the bot to its transport, until it stops."""
        self.transport.serve(self)

    def _stop_polling(self) -> None:
        # Claim nothing more and let a running cycle finish what it claimed.
        self.alerting.poller.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)

    def close(self) -> None:
        self._closing.close()

    def __enter__(self) -> Bot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.__exit__(exc_type, exc, tb)


def build(
    settings: Settings,
    transport: Transport,
    scenario: Scenario | None = None,
    *,
    metrics: Metrics | None = None,
) -> Bot:
    """The whole bot for ``transport`` (on the simulator: ``scenario``, by default the
    demo), counting into ``metrics`` (the transport's own, if it counts too; else new).
    Whatever was opened before a failure (a database that cannot be opened:
    DatabaseUnusable; a refused choice: SettingsError) is closed again before the error
    propagates."""
    metrics = metrics if metrics is not None else Metrics()
    with ExitStack() as opened:
        tencent = opened.enter_context(open_tencent(settings, scenario, metrics=metrics))
        plan = transport.plan(settings, tencent)
        draw = draw_here
        if plan.draw_apart:
            drawer = ChartDrawer()
            opened.callback(drawer.close)  # after everything that draws has stopped
            draw = drawer.png
        alerting = opened.enter_context(
            open_alerting(
                settings,
                tencent.client,
                plan.database,
                transport.poster(replica_owner()),
                poll_interval=plan.poll_interval,
                usergroup_members=transport.usergroup_members,
                push=plan.push,
                metrics=metrics,
                draw=draw,
            )
        )
        history = HistoryReader(
            alerting.sessions, alerting.watches.names, kept_days=settings.history_days
        )
        digests = Digests(
            alerting.sessions,
            history,
            alerting.watches,
            owner=replica_owner(),
            user_zone=transport.user_zone,
            draw=draw,
        )
        handlers = OnlineHandlers(
            tencent.client, alerting.watches, history=history, digests=digests, draw=draw
        )
        opened.callback(handlers.close)
        bot = Bot(settings, transport, tencent, alerting, handlers, plan, metrics, digests)
        opened.callback(bot._stop_polling)
        bot._closing = opened.pop_all()
    return bot
