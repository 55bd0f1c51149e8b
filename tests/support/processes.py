"""Processes the tests and the benchmarks start: a free port, the controlled environment
(`bot_env`), ``python -m bot run`` in the background until it serves (`BotProcess`), the
simulator on its own, waiting for a port, stopping. Importable without pytest or pydantic
(the benchmarks import it)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

__all__ = [
    "STARTUP_SECONDS",
    "STARTUP_TIMEOUT",
    "STOP_SECONDS",
    "BotProcess",
    "StartupError",
    "bot_env",
    "free_port",
    "start_simulator",
    "stop",
    "stop_all",
    "wait_listening",
]

#: How long ``run`` may take to serve /healthz (or to exit on a configuration error): an
#: upper bound, not a wait (the replica tests start 12 processes at once on 2 CPUs).
STARTUP_SECONDS = 60.0
#: How long a stopped ``run`` may take to exit after SIGTERM.
STOP_SECONDS = 5.0
#: How long a benchmark's process may take to listen on its port (it may build many groups).
STARTUP_TIMEOUT = 120.0
#: Besides every variable the bot's settings read: anything Slack-ish bolt might read itself.
CONTROLLED_PREFIXES = ("SLACK_", "TENCENT_")


def free_port() -> int:
    """A port nothing listens on, for a process to serve on. Chosen below the kernel's
    ephemeral range: the ports of outgoing connections (thousands in a test run) are
    picked there, and one of them could take a port handed out there before the process
    it was meant for binds it ("Address already in use")."""
    low = _ephemeral_low()
    for _ in range(200):
        port = _random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("", port))
            except OSError:
                continue  # in use (or in TIME_WAIT): another
        return port
    raise RuntimeError(f"no free port found below {low}")


_random = random.SystemRandom()


def _ephemeral_low() -> int:
    """The lowest port of the kernel's ephemeral range (Linux; 32768 if it cannot say)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bot_env(directory: Path, **values: str) -> dict[str, str]:
    """This environment without any of the bot's settings (nor Slack's or Tencent's), its
    data directory (XDG_DATA_HOME, so its default SQLite file) under ``directory``, and
    ``values``."""
    from bot.settings import Settings  # here: benchmarks import this module, and pydantic is big

    controlled = {name.upper() for name in Settings.model_fields}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in controlled and not key.startswith(CONTROLLED_PREFIXES)
    }
    env["XDG_DATA_HOME"] = str(directory / "data")
    env.update(values)
    return env


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    stop_all([process], timeout)


def stop_all(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM to every one at once, then SIGKILL to any still running ``timeout`` seconds
    later: they stop side by side, not one after another."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class StartupError(RuntimeError):
    """A process exited, or did not serve, before it was ready; the message ends with the
    tail of its log."""


def log_tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


class BotProcess:
    """``python -m bot [ARGS] run`` in the background, started in ``directory`` with
    `bot_env`, its output in files there (``NAME.stdout.txt``, ``NAME.stderr.txt``: no pipe
    to fill up)."""

    def __init__(
        self, directory: Path, name: str, *, args: tuple[str, ...] = (), **values: str
    ) -> None:
        self.name = name
        self._out = directory / f"{name}.stdout.txt"
        self._err = directory / f"{name}.stderr.txt"
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", *args, "run"],
                env=bot_env(directory, **values),
                cwd=directory,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        """Its standard output, then its standard error (where the log goes)."""
        return self._out.read_text(errors="replace") + self._err.read_text(errors="replace")

    def stderr(self) -> str:
        return self._err.read_text(errors="replace")

    def wait_until_healthy(self, url: str, timeout: float = STARTUP_SECONDS) -> None:
        """Bounded: connection attempts with a short timeout until ``url``/healthz answers 200;
        `StartupError` with the log's tail if the process exits first or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StartupError(
                    f"{self.name} exited with {self.process.returncode} before serving:\n"
                    + log_tail(self.output())
                )
            try:
                if requests.get(url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not serving yet; or busy
                pass
            time.sleep(0.05)  # connection refused comes back at once: the process is starting
        raise StartupError(
            f"{self.name}: /healthz did not answer within {timeout:.0f} s:\n"
            + log_tail(self.output())
        )

    def stop(self) -> None:
        stop(self.process, STOP_SECONDS)


def wait_listening(
    process: subprocess.Popen[bytes],
    port: int,
    log: Path,
    what: str,
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    """Until ``process`` accepts connections on ``port``: bounded by ``timeout`` seconds,
    `StartupError` with the log's tail if it exits first or does not listen in time (then
    it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(
                f"{what} exited with {process.returncode}:\n"
                + log_tail(log.read_text(errors="replace"))
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise StartupError(
        f"{what} did not listen on port {port} in {timeout:.0f} s:\n"
        + log_tail(log.read_text(errors="replace"))
    )


def start_simulator(
    scenario: Path,
    port: int,
    log: Path,
    *,
    log_level: str | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> subprocess.Popen[bytes]:
    """``online-bot simulator`` in its own process (so it does not compete for our GIL), in
    the log's directory, until it listens on ``port`` (within ``timeout`` seconds: a
    scenario of many groups takes a while to read). It reads none of the bot's settings,
    so its environment is ours as it is (`bot_env` would load pydantic into a benchmark
    that measures its own memory). ``log_level`` DEBUG logs every request it answers."""
    level = ["--log-level", log_level] if log_level else []
    command = [sys.executable, "-m", "bot", *level, "simulator", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--scenario", str(scenario)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    wait_listening(process, port, log, "the simulator", timeout)
    return process
