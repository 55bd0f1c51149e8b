"""The Tencent app the bot talks to, for its settings: the configured one, or the built-in
simulator started here when there is none (``online-bot online`` and ``run`` alike).

Apart from the composition root (``bot.wiring``), so that the command line's one-off
questions (``online-bot online``, ``usersig``) open Tencent without loading the database,
the scheduler and the handlers: 0.4 s of imports instead of 1 s. The credential choice
(``credentials``) is named here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.settings import Settings
from bot.simulator import Scenario, Simulator, demo_scenario
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import shared_rate_limits

if TYPE_CHECKING:
    from bot.metrics import Metrics

__all__ = ["Credentials", "Tencent", "credentials", "open_tencent"]


@dataclass(frozen=True)
class Credentials:
    sdkappid: int
    secret_key: str
    admin: str


def credentials(settings: Settings, scenario: Scenario | None = None) -> Credentials:
    """The Tencent app the bot signs for: the configured one or, without
    TENCENT_IM_SDKAPPID, the simulator's (``scenario``, by default the demo)."""
    if settings.use_simulator:
        sim = scenario or demo_scenario()
        return Credentials(sim.sdkappid, sim.secret_key, sim.admin)
    assert settings.tencent_im_sdkappid is not None
    assert settings.tencent_im_secret_key is not None
    return Credentials(
        settings.tencent_im_sdkappid,
        settings.tencent_im_secret_key.get_secret_value(),
        settings.tencent_im_admin,
    )


@dataclass
class Tencent:
    client: TencentClient
    simulator: Simulator | None  # running in-process when no Tencent app is configured


@contextmanager
def open_tencent(
    settings: Settings, scenario: Scenario | None = None, *, metrics: Metrics | None = None
) -> Iterator[Tencent]:
    """A client for the configured app; without one, for a simulator started here. Its
    requests are counted into ``metrics``."""
    simulator = None
    base_url, backup_url = settings.tencent_base_url, settings.tencent_backup_url
    if settings.use_simulator:
        simulator = Simulator(scenario or demo_scenario()).start(host="127.0.0.1", port=0)
        base_url, backup_url = simulator.url, None
    app = credentials(settings, simulator.scenario if simulator is not None else None)
    client = TencentClient(
        sdkappid=app.sdkappid,
        secret_key=app.secret_key,
        admin=app.admin,
        base_url=base_url,
        backup_url=backup_url,
        rate_limits=shared_rate_limits(
            str(app.sdkappid),
            settings.tencent_im_rate_limit,
            reserve=settings.tencent_im_interactive_reserve,
            redis_url=settings.redis_url,
        ),
        metrics=metrics,
    )
    try:
        yield Tencent(client, simulator)
    finally:
        client.close()
        if simulator is not None:
            simulator.stop()
