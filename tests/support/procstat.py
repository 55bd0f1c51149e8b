"""What /proc says of a process: its CPU seconds, its memory, the processes of a name.

For the benchmarks' figures (Linux only); no dependency beyond the standard library.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path
from typing import NamedTuple

__all__ = ["Memory", "children", "cpu_seconds", "cpu_times", "memory", "pids_named"]


class Memory(NamedTuple):
    """VmHWM (peak RSS) and VmRSS, in MB."""

    peak_mb: float
    rss_mb: float


def cpu_times(pid: int | None = None) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` (of this one when None); (0.0, 0.0)
    for a process that is gone."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime, usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process ``pid`` (see `cpu_times`)."""
    return sum(cpu_times(pid))


def memory(pid: int) -> Memory:
    """Peak and current RSS of a live process."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
    return Memory(found["VmHWM"], found["VmRSS"])


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (e.g. the bot's drawing process)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return sorted(set(found))


def pids_named(name: str) -> list[int]:
    """Every process whose command name (/proc/PID/comm) is ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
