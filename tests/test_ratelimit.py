import bisect
import os
import threading
import time
import uuid

import pytest

from bot.tencent.errors import Throttled, TransportError
from bot.tencent.ratelimit import BACKGROUND_BURST, WINDOW_MS, RateLimits, shared_rate_limits


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(bisect.bisect_left(stamps, s + window) - i for i, s in enumerate(stamps))


def _hammer(limits: list[RateLimits], threads: int, calls: int) -> list[float]:
    """``threads`` threads per RateLimits (one per replica), ``calls`` each: grant times."""
    stamps: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads * len(limits))

    def worker(replica: RateLimits):
        barrier.wait()
        for _ in range(calls):
            replica.acquire("get_online_member_num", timeout=30, background=True)
            now = time.time()
            with lock:
                stamps.append(now)

    workers = [threading.Thread(target=worker, args=(r,)) for r in limits for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sorted(stamps)


def test_holds_200_per_second_with_16_threads():
    stamps = _hammer([RateLimits(200)], threads=16, calls=30)
    assert len(stamps) == 480
    # No second anywhere saw more than the limit, nor any window of WINDOW_MS:
    assert _max_in_window(stamps, 1.0) <= 200
    assert _max_in_window(stamps, WINDOW_MS / 1000 - 0.005) <= 200
    # and the calls were spaced evenly, not let through in a burst: after the first
    # BACKGROUND_BURST, one per emission interval at most.
    emission = WINDOW_MS / 1000 / (200 - BACKGROUND_BURST)
    assert stamps[-1] - stamps[0] >= (480 - BACKGROUND_BURST - 1) * emission - 0.01
    assert _max_in_window(stamps, 0.1) <= int(0.1 / emission) + BACKGROUND_BURST + 5


def test_apis_are_limited_separately():
    limits = RateLimits(5)  # 3 per 1.02 s, 2 at once
    for _ in range(2):
        limits.acquire("get_members", timeout=0.01)
    limits.acquire("get_online_member_num", timeout=0.01)  # its own budget
    with pytest.raises(Throttled, match="limit of 5 calls per second"):
        limits.acquire("get_members", timeout=0.05)


def test_shared_per_app():
    assert shared_rate_limits("1400000000", 200) is shared_rate_limits("1400000000", 200)
    assert shared_rate_limits("1400000000", 200) is not shared_rate_limits("1400000001", 200)


def test_too_small_a_budget_is_refused():
    with pytest.raises(ValueError, match="per_second"):
        RateLimits(BACKGROUND_BURST)
    with pytest.raises(ValueError, match="reserve"):
        RateLimits(10, reserve=10 - BACKGROUND_BURST)


def test_background_calls_leave_the_reserve_to_interactive_ones():
    limits = RateLimits(10, reserve=3)  # one place per 204 ms
    for _ in range(BACKGROUND_BURST):
        limits.acquire("get_online_member_num", timeout=0.05, background=True)
    with pytest.raises(Throttled):
        limits.acquire("get_online_member_num", timeout=0.05, background=True)
    for _ in range(3):  # the reserved places are still there for /online
        limits.acquire("get_online_member_num", timeout=0.05)
    with pytest.raises(Throttled):
        limits.acquire("get_online_member_num", timeout=0.05)


def test_interactive_calls_go_ahead_of_background_ones():
    limits = RateLimits(10, reserve=3)  # one place per 204 ms
    for _ in range(3 + BACKGROUND_BURST):  # every place taken
        limits.acquire("get_members", timeout=0.05)
    # The next interactive place comes one emission interval from now, the next
    # background one only when the reserve is free again: four intervals.
    with pytest.raises(Throttled):
        limits.acquire("get_members", timeout=0.5, background=True)
    limits.acquire("get_members", timeout=0.5)


def test_interactive_calls_may_use_the_whole_rate():
    limits = RateLimits(10, reserve=3)
    for _ in range(3 + BACKGROUND_BURST):
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
    replica_a = RateLimits(6, redis=redis_client, key_prefix=prefix)  # 4 per 1.02 s, 2 at once
    replica_b = RateLimits(6, redis=redis_client, key_prefix=prefix)
    replica_a.acquire("get_members", timeout=0.05)
    replica_b.acquire("get_members", timeout=0.05)
    with pytest.raises(Throttled):
        replica_a.acquire("get_members", timeout=0.05)
    with pytest.raises(Throttled):
        replica_b.acquire("get_members", timeout=0.05)
    # and a place frees for either one emission interval later
    replica_b.acquire("get_members", timeout=WINDOW_MS / 1000 / 4 + 0.2)


def test_unreachable_redis_is_a_clear_error():
    import redis

    limits = RateLimits(5, redis=redis.Redis.from_url("redis://127.0.0.1:9/0", socket_timeout=0.5))
    with pytest.raises(TransportError, match="REDIS_URL"):
        limits.acquire("get_members", timeout=1)


def test_a_query_on_one_replica_goes_ahead_of_polling_on_another(redis_client):
    prefix = f"test-{uuid.uuid4().hex}:"
    polling = RateLimits(10, reserve=3, redis=redis_client, key_prefix=prefix)
    answering = RateLimits(10, reserve=3, redis=redis_client, key_prefix=prefix)
    for _ in range(BACKGROUND_BURST):
        polling.acquire("get_members", timeout=0.05, background=True)
    for _ in range(3):  # the reserve, at once, though polling has taken all it may
        answering.acquire("get_members", timeout=0.05)
    with pytest.raises(Throttled):
        polling.acquire("get_members", timeout=0.5, background=True)
    answering.acquire("get_members", timeout=0.5)


def test_three_replicas_stay_under_the_budget_together(redis_client):
    prefix = f"test-{uuid.uuid4().hex}:"
    replicas = [RateLimits(200, redis=redis_client, key_prefix=prefix) for _ in range(3)]
    stamps = _hammer(replicas, threads=8, calls=20)
    assert len(stamps) == 480
    assert _max_in_window(stamps, 1.0) <= 200
    assert _max_in_window(stamps, WINDOW_MS / 1000 - 0.005) <= 200
