"""Client-side rate limits: Tencent's per-API budget, shared by every caller.

Tencent allows each REST API a number of calls per second per app (200 by
default, ``TENCENT_IM_RATE_LIMIT``). The bot keeps under it by itself with
pyrate-limiter's GCRA (a leaky bucket kept as one timestamp): calls are spaced
evenly, ``per_second - reserve - BACKGROUND_BURST`` of them per ``WINDOW_MS``,
and never more than ``per_second`` in any window of ``WINDOW_MS`` however the
bursts fall. The window is 2 % longer than a second so that network jitter
between here and Tencent's per-second counter cannot turn our 200th call into
their 201st.

Interactive queries (``/online``) go first, so a big poll cycle never makes a
user wait. Both kinds of call share one bucket (one state) per API, but a
background call (the poller) is admitted only while the bucket holds more than
``reserve`` free places: the last ``reserve`` places are for interactive calls,
which pass at once, and beyond them an interactive call is admitted ``reserve``
emission intervals before any waiting background call. When nobody asks, the
poller has the whole rate.

The state lives in process memory, or in Redis (``REDIS_URL``) so that every
replica of the bot shares one budget per Tencent app: the budget is per app, not
per process. Replicas stamp calls with their own wall clocks (keep them in sync
with NTP, as any server): a clock ahead by d ms can win d / emission extra
places once, never a higher rate. Within a process, callers of one kind queue on
a lock, so each process has at most one background and one interactive caller
waiting on the bucket: no thundering herd on Redis, and calls are served
roughly in turn.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pyrate_limiter import GCRA, InMemoryStateStore, Rate, RateItem, RedisStateStore, StateBucket
from pyrate_limiter.clocks import WallClock

from bot.tencent.errors import Throttled, TransportError

__all__ = [
    "BACKGROUND_BURST",
    "WINDOW_MS",
    "RateLimits",
    "shared_rate_limits",
    "sustained_per_window",
]

WINDOW_MS = 1020

#: Places a background caller may use at once: a caller waking a few ms late (a busy
#: process) then still finds its place, instead of the time being lost.
BACKGROUND_BURST = 2

_CLOCK = WallClock()  # replicas compare timestamps through Redis: wall-clock ms


def sustained_per_window(per_second: int, reserve: int = 0) -> int:
    """Calls the limiter lets through per ``WINDOW_MS`` when it is busy: ``per_second``
    less the places that may go at once (the interactive reserve and the background
    burst), so that no window ever holds more than ``per_second``."""
    return per_second - reserve - BACKGROUND_BURST


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
        if per_second <= BACKGROUND_BURST:
            raise ValueError(f"per_second must be more than {BACKGROUND_BURST}")
        if reserve < 0 or sustained_per_window(per_second, reserve) < 1:
            raise ValueError(f"reserve must be from 0 to per_second - {BACKGROUND_BURST + 1}")
        self.per_second = per_second
        self.reserve = reserve
        self._redis = redis
        # What an unreachable store raises; redis (6 MB of modules) only when it is used.
        self._store_errors: tuple[type[Exception], ...] = ()
        if redis is not None:
            from redis.exceptions import RedisError

            self._store_errors = (RedisError,)
        self._prefix = key_prefix
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, bool], tuple[threading.Lock, StateBucket]] = {}
        self._stores: dict[str, Any] = {}

    @property
    def shared(self) -> bool:
        """Whether other processes share this budget (through Redis)."""
        return self._redis is not None

    def __repr__(self) -> str:
        where = "redis" if self.shared else "memory"
        return f"RateLimits(per_second={self.per_second}, reserve={self.reserve}, in={where})"

    def _bucket(self, api: str, background: bool) -> tuple[threading.Lock, StateBucket]:
        with self._lock:
            found = self._buckets.get((api, background))
            if found is None:
                store = self._stores.get(api)
                if store is None:
                    store = self._stores[api] = (
                        RedisStateStore(self._redis, self._prefix + api)
                        if self._redis is not None
                        else InMemoryStateStore()
                    )
                rate = Rate(
                    sustained_per_window(self.per_second, self.reserve),
                    WINDOW_MS,
                    burst=BACKGROUND_BURST if background else BACKGROUND_BURST + self.reserve,
                )
                bucket = StateBucket([rate], GCRA(), store, clock=_CLOCK)
                found = self._buckets[(api, background)] = (threading.Lock(), bucket)
            return found

    def acquire(self, api: str, *, timeout: float, background: bool = False) -> None:
        """Wait for a place for ``api``; raise Throttled if none comes within ``timeout`` s.

        ``background`` calls leave the reserved places, and their turn, to interactive ones.
        """
        deadline = time.monotonic() + timeout
        gate, bucket = self._bucket(api, background)
        if not gate.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise self._throttled()
        try:
            while True:
                item = RateItem(api, _CLOCK.now())
                if bucket.put(item):
                    return
                wait = int(bucket.waiting(item)) / 1000  # type: ignore[arg-type]
                if time.monotonic() + wait > deadline:
                    raise self._throttled()
                time.sleep(wait)
        except self._store_errors as error:  # the shared limiter's store is unreachable
            raise TransportError(
                f"The shared rate limiter in Redis is unreachable ({type(error).__name__}): "
                "check REDIS_URL; Tencent was not called."
            ) from None
        finally:
            gate.release()

    def _throttled(self) -> Throttled:
        return Throttled(
            f"The bot is at its own limit of {self.per_second} calls per second to Tencent "
            "and no place freed up in time; try again in a moment."
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
