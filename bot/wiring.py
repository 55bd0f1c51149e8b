"""Composition root for the Tencent side: a client for the configured app, or for
the built-in simulator (started in-process) when no app is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.settings import Settings
from bot.simulator import Scenario, Simulator, demo_scenario
from bot.tencent.client import TencentClient
from bot.tencent.ratelimit import shared_rate_limits

__all__ = ["Tencent", "open_tencent"]


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
        admin, base_url = simulator.scenario.admin, simulator.url
    else:
        assert settings.tencent_im_sdkappid is not None
        assert settings.tencent_im_secret_key is not None
        sdkappid = settings.tencent_im_sdkappid
        key = settings.tencent_im_secret_key.get_secret_value()
        admin, base_url = settings.tencent_im_admin, settings.tencent_base_url
    client = TencentClient(
        sdkappid=sdkappid,
        secret_key=key,
        admin=admin,
        base_url=base_url,
        rate_limits=shared_rate_limits(str(sdkappid), settings.tencent_im_rate_limit),
    )
    try:
        yield Tencent(client, simulator)
    finally:
        client.close()
        if simulator is not None:
            simulator.stop()
