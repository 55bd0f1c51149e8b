import bisect
import os
import threading
import time
import uuid

import pytest

from bot.tencent.errors import Throttled, TransportError
from bot.tencent.ratelimit import WINDOW_MS, RateLimits, shared_rate_limits


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(bisect.bisect_left(stamps, s + window) - i for i, s in enumerate(stamps))


def test_holds_200_per_second_with_16_threads():
    limits = RateLimits(200)
    stamps: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker():
        barrier.wait()
        for _ in range(30):
            limits.acquire("get_online_member_num", timeout=30)
            now = time.monotonic()
            with lock:
                stamps.append(now)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 480
    # No second anywhere saw more than the limit, and the limiter did let calls through at pace:
    assert _max_in_window(stamps, 1.0) <= 200
    assert _max_in_window(stamps, WINDOW_MS / 1000 - 0.005) <= 200
    # 480 calls need at least two full windows after the first burst of 200.
    assert max(stamps) - min(stamps) >= 2 * WINDOW_MS / 1000 - 0.05


def test_apis_are_limited_separately():
    limits = RateLimits(3)
    for _ in range(3):
        limits.acquire("get_members", timeout=0.01)
    limits.acquire("get_online_member_num", timeout=0.01)  # its own budget
    with pytest.raises(Throttled, match="limit of 3 calls per second"):
        limits.acquire("get_members", timeout=0.05)


def test_shared_per_app():
    assert shared_rate_limits("1400000000", 200) is shared_rate_limits("1400000000", 200)
    assert shared_rate_limits("1400000000", 200) is not shared_rate_limits("1400000001", 200)


def test_background_calls_leave_the_reserve_to_interactive_ones():
    limits = RateLimits(10, reserve=3)
    for _ in range(7):
        limits.acquire("get_online_member_num", timeout=0.05, background=True)
    with pytest.raises(Throttled):
        limits.acquire("get_online_member_num", timeout=0.05, background=True)
    for _ in range(3):  # the reserved share is still there for /online
        limits.acquire("get_online_member_num", timeout=0.05)
    with pytest.raises(Throttled):
        limits.acquire("get_online_member_num", timeout=0.05)


def test_interactive_calls_may_use_the_whole_budget():
    limits = RateLimits(10, reserve=3)
    for _ in range(10):
        limits.acquire("get_members", timeout=0.05)
    with pytest.raises(Throttled):
        limits.acquire("get_members", timeout=0.05, background=True)


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({error}); .ci/run starts it.")
    yield client
    client.close()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_replicas_share_one_budget_through_redis(redis_client):
    prefix = f"test-{uuid.uuid4().hex}:"
    replica_a = RateLimits(6, redis=redis_client, key_prefix=prefix)
    replica_b = RateLimits(6, redis=redis_client, key_prefix=prefix)
    for _ in range(3):
        replica_a.acquire("get_members", timeout=0.05)
        replica_b.acquire("get_members", timeout=0.05)
    with pytest.raises(Throttled):
        replica_a.acquire("get_members", timeout=0.05)
    with pytest.raises(Throttled):
        replica_b.acquire("get_members", timeout=0.05)
    # and a slot frees for either once the window has moved on
    replica_b.acquire("get_members", timeout=WINDOW_MS / 1000 + 0.5)


def test_unreachable_redis_is_a_clear_error():
    import redis

    limits = RateLimits(5, redis=redis.Redis.from_url("redis://127.0.0.1:9/0", socket_timeout=0.5))
    with pytest.raises(TransportError, match="REDIS_URL"):
        limits.acquire("get_members", timeout=1)


def test_entries_stamped_a_moment_later_by_another_replica_still_count(redis_client):
    # Another replica (whose clock read a few ms later) took the whole window's budget.
    prefix = f"test-{uuid.uuid4().hex}:"
    later = int(time.time() * 1000) + 300
    redis_client.zadd(
        f"{prefix}get_members:all", {f"other-replica:{i}": later for i in range(6)}
    )
    limits = RateLimits(6, redis=redis_client, key_prefix=prefix)
    with pytest.raises(Throttled):
        limits.acquire("get_members", timeout=0.05)
