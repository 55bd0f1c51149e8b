"""Client-side rate limits: Tencent's per-API budget, shared by every caller.

Tencent allows each REST API a number of calls per second per app (200 by
default, ``TENCENT_IM_RATE_LIMIT``). The bot keeps under it by itself with
pyrate-limiter's sliding-window log: never more than ``per_second`` calls in any
window of ``WINDOW_MS`` milliseconds. The window is 2 % longer than a second so
that network jitter between here and Tencent's per-second counter cannot turn our
200th call into their 201st; the cost is a ceiling of ~196 calls/s.

Two levels, so a big poll cycle never makes a user wait:

- every call takes a slot of ``<api>:all`` (``per_second``);
- background calls (the poller) also take a slot of ``<api>:background``
  (``per_second - reserve``): they can never use the last ``reserve`` slots of a
  window, which stay for interactive queries (``/online``), while interactive
  queries may use the whole budget when the poller is idle.

The buckets live in process memory, or in Redis (``REDIS_URL``) so that every
replica of the bot shares one budget per Tencent app: the budget is per app, not
per process.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pyrate_limiter import InMemoryBucket, Limiter, Rate, RedisBucket
from pyrate_limiter.buckets.redis_bucket import LuaScript

from bot.tencent.errors import Throttled, TransportError

__all__ = ["WINDOW_MS", "RateLimits", "shared_rate_limits"]

WINDOW_MS = 1020

# pyrate-limiter's Redis script counts a window's entries up to the caller's own clock
# reading: an entry stamped a moment later by another thread or replica (whose clock read
# later) is not counted, and the window over-admits. Measured with 3 processes x 32
# threads: 196-197 grants/s against 186 allowed, up to 211 in one window. Counting to
# +inf counts every entry from the window's start: 186/s, never more than 190.
_COUNT_TO_NOW = "redis.call('ZCOUNT', bucket, window_start, now)"
_PUT_ITEM = LuaScript.PUT_ITEM.replace(
    _COUNT_TO_NOW, "redis.call('ZCOUNT', bucket, window_start, '+inf')"
)
if _PUT_ITEM == LuaScript.PUT_ITEM:  # pragma: no cover - a pyrate-limiter upgrade changed it
    raise ImportError(
        "pyrate-limiter's Redis script no longer has the expected ZCOUNT line: review "
        "bot/tencent/ratelimit.py before using this version"
    )


class RateLimits:
    """Per-API limiters (created on first use), thread-safe; in memory or in Redis."""

    def __init__(
        self,
        per_second: int,
        *,
        reserve: int = 0,
        redis: Any = None,
        key_prefix: str = "online-bot:ratelimit:",
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        if not 0 <= reserve < per_second:
            raise ValueError("reserve must be from 0 to per_second - 1")
        self.per_second = per_second
        self.reserve = reserve
        self._redis = redis
        self._prefix = key_prefix
        self._lock = threading.Lock()
        self._limiters: dict[str, Limiter] = {}

    def __repr__(self) -> str:
        where = "redis" if self._redis is not None else "memory"
        return f"RateLimits(per_second={self.per_second}, reserve={self.reserve}, in={where})"

    def _limiter(self, key: str, limit: int) -> Limiter:
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                rates = [Rate(limit, WINDOW_MS)]
                if self._redis is not None:
                    script = self._redis.script_load(_PUT_ITEM)
                    bucket: Any = RedisBucket(rates, self._redis, self._prefix + key, script)
                else:
                    bucket = InMemoryBucket(rates)
                limiter = self._limiters[key] = Limiter(bucket, buffer_ms=5)
            return limiter

    def acquire(self, api: str, *, timeout: float, background: bool = False) -> None:
        """Wait for a slot for ``api``; raise Throttled if none comes within ``timeout`` s.

        ``background`` calls leave the reserved slots to interactive ones.
        """
        deadline = time.monotonic() + timeout
        if background and self.reserve:
            self._take(f"{api}:background", self.per_second - self.reserve, deadline)
        self._take(f"{api}:all", self.per_second, deadline)

    def _take(self, key: str, limit: int, deadline: float) -> None:
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            acquired = self._limiter(key, limit).try_acquire(key, blocking=True, timeout=remaining)
        except TimeoutError:
            acquired = False
        except Exception as error:  # the shared limiter's store (Redis) is unreachable
            if self._redis is None:
                raise
            raise TransportError(
                f"The shared rate limiter in Redis is unreachable ({type(error).__name__}): "
                "check REDIS_URL; Tencent was not called."
            ) from None
        if not acquired:
            raise Throttled(
                f"The bot is at its own limit of {self.per_second} calls per second to Tencent "
                "and no slot freed up in time; try again in a moment."
            )


_shared: dict[tuple[str, int, int, str], RateLimits] = {}
_shared_lock = threading.Lock()


def shared_rate_limits(
    app: str, per_second: int, *, reserve: int = 0, redis_url: str | None = None
) -> RateLimits:
    """The limits of one Tencent app, shared by every client of it in this process and,
    with ``redis_url``, by every replica."""
    key = (app, per_second, reserve, redis_url or "")
    with _shared_lock:
        limits = _shared.get(key)
        if limits is None:
            redis = None
            if redis_url:
                import redis as redis_client

                redis = redis_client.Redis.from_url(redis_url, socket_timeout=2)
            limits = _shared[key] = RateLimits(
                per_second, reserve=reserve, redis=redis, key_prefix=f"online-bot:{app}:"
            )
        return limits
