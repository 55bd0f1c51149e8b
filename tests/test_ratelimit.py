import bisect
import threading
import time

import pytest

from bot.tencent.errors import Throttled
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
