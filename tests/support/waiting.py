"""Waiting for something observable: bounded polling, never a bare sleep taken as
synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str | Callable[[], str],
    every: float = 0.05,
) -> T:
    """Poll ``condition`` until it returns something truthy (returned), for at most
    ``timeout`` seconds; then fail saying what did not happen (``what``, or what it
    returns then: the state when the wait gave up)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"waited {timeout:.0f}s: {said}")
        time.sleep(every)
