"""Composition root: a Tencent client for the configured app (or for the built-in
simulator, started in-process, when no app is configured), and the alerting
services over the database."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.delivery import Deliverer, Poster
from bot.alerts.names import GroupNames
from bot.alerts.poller import Poller
from bot.settings import Settings
from bot.simulator import Scenario, Simulator, demo_scenario
from bot.store.db import make_engine, session_factory, single_process, upgrade
from bot.store.leases import LeasePolicy
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import shared_rate_limits
from bot.watches import Watches

__all__ = ["Alerting", "Tencent", "open_alerting", "open_tencent"]


@dataclass
class Tencent:
    client: TencentClient
    simulator: Simulator | None  # running in-process when no Tencent app is configured


@contextmanager
def open_tencent(settings: Settings, scenario: Scenario | None = None) -> Iterator[Tencent]:
    """A client for the configured app; without one, for a simulator started here."""
    simulator = None
    if settings.use_simulator:
        simulator = Simulator(scenario or demo_scenario()).start(host="127.0.0.1", port=0)
        sdkappid, key = simulator.scenario.sdkappid, simulator.scenario.secret_key
        admin, base_url, backup_url = simulator.scenario.admin, simulator.url, None
    else:
        assert settings.tencent_im_sdkappid is not None
        assert settings.tencent_im_secret_key is not None
        sdkappid = settings.tencent_im_sdkappid
        key = settings.tencent_im_secret_key.get_secret_value()
        admin, base_url = settings.tencent_im_admin, settings.tencent_base_url
        backup_url = settings.tencent_backup_url
    client = TencentClient(
        sdkappid=sdkappid,
        secret_key=key,
        admin=admin,
        base_url=base_url,
        backup_url=backup_url,
        rate_limits=shared_rate_limits(
            str(sdkappid),
            settings.tencent_im_rate_limit,
            reserve=settings.tencent_im_interactive_reserve,
            redis_url=settings.redis_url,
        ),
    )
    try:
        yield Tencent(client, simulator)
    finally:
        client.close()
        if simulator is not None:
            simulator.stop()


@dataclass
class Alerting:
    """The watch-and-alert services over one database."""

    sessions: sessionmaker[Session]
    watches: Watches
    poller: Poller
    deliverer: Deliverer


@contextmanager
def open_alerting(
    settings: Settings,
    tencent: TencentClient,
    database_url: str,
    poster: Poster,
    *,
    poll_interval: float,
    usergroup_members: Callable[[str], frozenset[str]] | None = None,
) -> Iterator[Alerting]:
    """Migrate the database to the latest schema, then build the alerting services.

    A SQLite database is held for this process alone (DatabaseInUse otherwise).
    """
    with single_process(database_url):
        yield from _alerting(
            settings, tencent, database_url, poster, poll_interval, usergroup_members
        )


def _alerting(
    settings: Settings,
    tencent: TencentClient,
    database_url: str,
    poster: Poster,
    poll_interval: float,
    usergroup_members: Callable[[str], frozenset[str]] | None,
) -> Iterator[Alerting]:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    names = GroupNames(tencent)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    leases = LeasePolicy.for_interval(poll_interval, settings.lease_seconds)
    poller = Poller(
        sessions,
        tencent.for_background(),
        names=names,
        interval=poll_interval,
        owner=owner,
        lease_seconds=leases.targets,
    )
    try:
        yield Alerting(
            sessions=sessions,
            watches=Watches(
                sessions,
                tencent,
                names,
                admins=settings.watch_admin_ids,
                usergroup_members=usergroup_members,
            ),
            poller=poller,
            deliverer=Deliverer(
                sessions,
                poster,
                owner=owner,
                lease_seconds=leases.outbox,
            ),
        )
    finally:
        poller.close()
        engine.dispose()
