"""Where a benchmarked process spends its CPU: py-spy attached to it, and a summary.

py-spy (``.venv/bin/pip install py-spy``) is for measuring only, not a dependency of
the project. It samples the thread holding the GIL (``--gil``), so the shares are of
the Python CPU time (system time, spent in the kernel, is not sampled), and it
pauses the process for each sample: take timings from a run without it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from support.processes import stop  # tests/ on the path: the benchmark puts it there

#: Samples per second.
RATE = 200
#: How long py-spy may take to attach.
ATTACH_TIMEOUT = 30.0


def start_profiler(pid: int, out: Path, log: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` into ``out`` (collapsed stacks, by function) until
    :func:`stop_profiler`; returns once it samples."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise SystemExit("profiling needs py-spy: .venv/bin/pip install py-spy")
    command = [exe, "record", "--pid", str(pid), "--gil", "--format", "raw", "--function"]
    command += ["--rate", str(RATE), "--output", str(out)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while "Sampling process" not in log.read_text(errors="replace"):  # attached
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit("py-spy did not start sampling:\n" + log.read_text())
        time.sleep(0.05)
    return process


def stop_profiler(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, on which py-spy writes its output."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop(process)


def _frame(frame: str) -> tuple[str, str]:
    """``name (path:line)`` -> (name, path)."""
    name, _, where = frame.rpartition(" (")
    return name, where.rsplit(":", 1)[0]


def _area(path: str) -> str:
    """Where a frame's code lives: ``bot/<package or module>``, a stdlib module, a package."""
    parts = path.split("/")
    if parts[0] == "bot":
        return "/".join(parts[:2]).removesuffix(".py")
    return parts[0].removesuffix(".py")


def print_profile(raw: Path, top: int = 15) -> None:
    """Where the sampled CPU went: by the module of the running code, by function
    (self), and the bot's own functions and every function (inclusive)."""
    by_area: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    text = raw.read_text(errors="replace") if raw.exists() else ""
    for entry in text.splitlines():
        stack, _, count_text = entry.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        name, path = frames[-1]
        by_area[_area(path)] += count
        by_self[f"{name} ({path})"] += count
        for key in {f"{n} ({p})" for n, p in frames}:
            inclusive[key] += count
    if not total:
        print("\nprofile: no samples")
        return
    print(
        f"\nprofile: {total} py-spy samples ({RATE}/s) of the thread holding the GIL, "
        "shares of the Python CPU time"
    )

    def show(title: str, counter: Counter[str], keep: int) -> None:
        print(f"  {title}")
        for key, n in counter.most_common(keep):
            print(f"    {100 * n / total:5.1f}%  {key}")

    show("self, by module", by_area, top)
    show("self, by function", by_self, top)
    show(
        "inclusive, the bot's functions",
        Counter({k: n for k, n in inclusive.items() if "(bot/" in k}),
        2 * top,
    )
    show("inclusive, every function", inclusive, top)
