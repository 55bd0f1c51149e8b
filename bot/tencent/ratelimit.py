"""Client-side rate limits: one limiter per Tencent API, shared by every caller.

Tencent allows each REST API a number of calls per second per app (200 by
default, ``TENCENT_IM_RATE_LIMIT``). The bot keeps under it by itself with a
sliding-window log from pyrate-limiter: never more than ``per_second`` calls in
any window of ``WINDOW_MS`` milliseconds. The window is 2 % longer than a second
so that network jitter between here and Tencent's per-second counter cannot
turn our 200th call into their 201st; the cost is a ceiling of ~196 calls/s.
"""

from __future__ import annotations

import threading

from pyrate_limiter import InMemoryBucket, Limiter, Rate

from bot.tencent.errors import Throttled

__all__ = ["WINDOW_MS", "RateLimits", "shared_rate_limits"]

WINDOW_MS = 1020


class RateLimits:
    """Per-API limiters (created on first use), thread-safe."""

    def __init__(self, per_second: int) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.per_second = per_second
        self._lock = threading.Lock()
        self._limiters: dict[str, Limiter] = {}

    def __repr__(self) -> str:
        return f"RateLimits(per_second={self.per_second}, apis={sorted(self._limiters)})"

    def _limiter(self, api: str) -> Limiter:
        with self._lock:
            limiter = self._limiters.get(api)
            if limiter is None:
                bucket = InMemoryBucket([Rate(self.per_second, WINDOW_MS)])
                limiter = Limiter(bucket, buffer_ms=5)
                self._limiters[api] = limiter
            return limiter

    def acquire(self, api: str, *, timeout: float) -> None:
        """Wait for a slot for ``api``; raise Throttled if none comes within ``timeout`` s."""
        try:
            acquired = self._limiter(api).try_acquire(
                api, blocking=True, timeout=max(timeout, 0.001)
            )
        except TimeoutError:
            acquired = False
        if not acquired:
            raise Throttled(
                f"The bot is at its own limit of {self.per_second} calls per second to Tencent "
                "and no slot freed up in time; try again in a moment."
            )


_shared: dict[tuple[str, int], RateLimits] = {}
_shared_lock = threading.Lock()


def shared_rate_limits(app: str, per_second: int) -> RateLimits:
    """The process-wide limits for one Tencent app: every client of that app shares them."""
    with _shared_lock:
        limits = _shared.get((app, per_second))
        if limits is None:
            limits = _shared[(app, per_second)] = RateLimits(per_second)
        return limits
