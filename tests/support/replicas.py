"""Several ``python -m bot run`` replicas side by side, for tests: start, kill, read their logs.

Each replica is a `BotProcess` (its /healthz wait and SIGTERM stop) started with
``--log-level INFO`` in a directory of its own (its output files, its working directory),
so its ``poll cycle:`` lines can be read back. `wait_until` is the one way the replica
tests wait: bounded polling of an observable condition, never a bare sleep.
"""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from support.fakeslack import Call
from support.processes import BotProcess, free_port

__all__ = ["Replica", "replica_of", "start_replicas", "wait_until"]

T = TypeVar("T")

#: The poster's User-Agent names the replica that sent a Slack call (bot/slack/poster.py).
USER_AGENT = re.compile(r"online-bot-replica/(?P<host>[^:\s]+):(?P<pid>\d+)")
#: The scheduler's line after each poll cycle that checked something (bot/scheduler.py).
POLL_CYCLE = re.compile(r"poll cycle: (?P<watches>\d+) watches, (?P<targets>\d+) targets")


class Replica(BotProcess):
    """One ``python -m bot --log-level INFO run`` in HTTP mode on a free port."""

    def __init__(self, directory: Path, name: str, **values: str) -> None:
        directory.mkdir(parents=True)
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            directory, name, args=("--log-level", "INFO"), PORT=str(self.port), **values
        )

    def __repr__(self) -> str:
        return f"Replica({self.name}, pid={self.pid})"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def owner(self) -> str:
        """How the replica names itself in leases (``targets.lease_owner``, ``claimed_by``)."""
        return f"{socket.gethostname()}:{self.pid}"

    def kill(self) -> None:
        """SIGKILL: no cleanup, leases and half-done work are left behind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    def cycle_targets(self) -> list[int]:
        """Targets checked by each poll cycle this replica logged, in order."""
        return [int(m["targets"]) for m in POLL_CYCLE.finditer(self.stderr())]


def start_replicas(root: Path, count: int, **values: str) -> list[Replica]:
    """Start ``count`` replicas at once, then wait until every one answers /healthz."""
    replicas = [Replica(root / f"replica{i}", f"replica{i}", **values) for i in range(count)]
    for replica in replicas:
        replica.wait_until_healthy(replica.url)
    return replicas


def replica_of(call: Call, replicas: Sequence[Replica]) -> Replica:
    """The replica that sent a Slack call, from its User-Agent."""
    agent = call.headers.get("user-agent", "")
    found = USER_AGENT.search(agent)
    assert found, f"no online-bot-replica in the User-Agent {agent!r}"
    pid = int(found["pid"])
    (replica,) = [r for r in replicas if r.pid == pid]
    return replica


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy (returned), for at most
    ``timeout`` seconds; then fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:.0f}s: {what}")
        time.sleep(every)
