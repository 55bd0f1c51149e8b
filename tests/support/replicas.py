"""Several ``python -m bot run`` replicas side by side, for tests and bench_replicas: start,
kill, read their logs.

Each replica is a `BotProcess` (its /healthz wait and SIGTERM stop) started with
``--log-level INFO`` in a directory of its own (its output files, its working directory),
so its ``poll cycle:`` lines can be read back. The replica tests wait with
`support.waiting.wait_until`: bounded polling of an observable condition, never a bare sleep.
"""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from support.fakeslack import Call
from support.processes import STARTUP_SECONDS, STOP_SECONDS, BotProcess, free_port, stop_all

__all__ = ["Replica", "replica_of", "start_replicas", "stop_replicas"]

#: The poster's User-Agent names the replica that sent a Slack call (bot/slack/poster.py).
USER_AGENT = re.compile(r"online-bot-replica/(?P<host>[^:\s]+):(?P<pid>\d+)")
#: The scheduler's line after each poll cycle that checked something (bot/scheduler.py).
POLL_CYCLE = re.compile(r"poll cycle: (?P<watches>\d+) watches, (?P<targets>\d+) targets")


class Replica(BotProcess):
    """One ``python -m bot --log-level INFO run`` in HTTP mode on a free port."""

    def __init__(self, directory: Path, name: str, **values: str) -> None:
        directory.mkdir(parents=True)
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


def start_replicas(
    root: Path, count: int, *, timeout: float = STARTUP_SECONDS, **values: str
) -> list[Replica]:
    """Start ``count`` replicas at once, then wait until every one answers /healthz (each
    within ``timeout`` seconds). If one does not, all are stopped before the error
    propagates: nobody else holds them to stop them."""
    replicas = [Replica(root / f"replica{i}", f"replica{i}", **values) for i in range(count)]
    try:
        for replica in replicas:
            replica.wait_until_healthy(replica.url, timeout)
    except BaseException:
        stop_replicas(replicas)
        raise
    return replicas


def stop_replicas(replicas: Sequence[Replica]) -> None:
    """SIGTERM to all at once (each finishes the batches it holds), SIGKILL past STOP_SECONDS."""
    stop_all([replica.process for replica in replicas], STOP_SECONDS)


def replica_of(call: Call, replicas: Sequence[Replica]) -> Replica:
    """The replica that sent a Slack call, from its User-Agent."""
    agent = call.headers.get("user-agent", "")
    found = USER_AGENT.search(agent)
    assert found, f"no online-bot-replica in the User-Agent {agent!r}"
    pid = int(found["pid"])
    (replica,) = [r for r in replicas if r.pid == pid]
    return replica
