"""A local simulator of Tencent Cloud Chat's REST endpoints, for demos, tests and benchmarks.

from bot.simulator import Simulator, demo_scenario
with Simulator(demo_scenario()).start() as sim:
    ...  # point the Tencent client at sim.url
"""

from bot.simulator.demo import DEMO_SCENARIO_PATH, demo_scenario
from bot.simulator.scenario import (
    DEMO_ADMIN,
    DEMO_SDKAPPID,
    DEMO_SECRET_KEY,
    NICKNAMES,
    Curve,
    Drop,
    Faults,
    GroupSpec,
    Ramp,
    Scenario,
    ScenarioError,
    Steady,
    Walk,
    load_scenario,
    scenario_from_dict,
)
from bot.simulator.server import (
    COMMANDS,
    CURSOR_TTL,
    PATHS,
    CommandStats,
    Reply,
    Simulator,
    SimulatorStats,
)

__all__ = [
    "COMMANDS",
    "CURSOR_TTL",
    "DEMO_ADMIN",
    "DEMO_SCENARIO_PATH",
    "DEMO_SDKAPPID",
    "DEMO_SECRET_KEY",
    "NICKNAMES",
    "PATHS",
    "CommandStats",
    "Curve",
    "Drop",
    "Faults",
    "GroupSpec",
    "Ramp",
    "Reply",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "SimulatorStats",
    "Steady",
    "Walk",
    "demo_scenario",
    "load_scenario",
    "scenario_from_dict",
]
