"""The built-in demo scenario, shipped as ``demo.yml`` beside this module.

Groups: ``@TGS#demo-large`` (about 2,300 online: the list caps at 1,000, in
pages), ``@TGS#demo-class`` (45, about 10 % carry mark 1000),
``@TGS#demo-small`` (12, hostile nicknames), ``@TGS#demo-drop`` (400, 40 from
120 s, 400 again from 300 s), ``@TGS#demo-public`` (a Public group) and
``@TGS#demo-meeting`` (a Meeting group): counted, not listed (10007), and
``@TGS#_demo-community`` (about 1,500 in a Community: counted on its own endpoint).
"""

from __future__ import annotations

from pathlib import Path

from bot.simulator.scenario import Scenario, load_scenario

__all__ = ["DEMO_SCENARIO_PATH", "demo_scenario"]

DEMO_SCENARIO_PATH = Path(__file__).with_name("demo.yml")


def demo_scenario() -> Scenario:
    """The demo scenario, read from ``demo.yml``."""
    return load_scenario(DEMO_SCENARIO_PATH)
