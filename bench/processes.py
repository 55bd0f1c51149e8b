"""Processes the benchmarks start: a free port, the simulator, waiting for a port, stopping."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

#: How long a started process may take to listen on its port.
STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(process: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    """Until ``process`` accepts connections on ``port`` (bounded; exits if it died)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{what} did not listen on port {port} in {STARTUP_TIMEOUT:.0f} s")


def start_simulator(scenario: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``online-bot simulator`` in its own process (so it does not compete for our GIL)."""
    command = [sys.executable, "-m", "bot", "simulator", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--scenario", str(scenario)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    wait_listening(process, port, log, "the simulator")
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then kill after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
