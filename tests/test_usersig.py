import threading
from unittest import mock

import pytest
import TLSSigAPIv2

from bot.tencent import usersig
from bot.tencent.usersig import UserSigCache, UserSigError

VECTOR_APPID = 1400000000
VECTOR_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"


def test_spec_vector_decodes_to_the_published_fields():
    sig = usersig.generate(
        VECTOR_APPID, VECTOR_KEY, "administrator", expire=15552000, now=1700000000
    )
    assert usersig.decode(sig) == {
        "TLS.ver": "2.0",
        "TLS.identifier": "administrator",
        "TLS.sdkappid": 1400000000,
        "TLS.expire": 15552000,
        "TLS.time": 1700000000,
        "TLS.sig": "JCzxanF8NTTXau4m+2h9wv7gYJnyNksm0xm1NEXU274=",
    }


@pytest.mark.parametrize("identifier", ["administrator", "admin_2", "用户"])
def test_byte_compatible_with_tencents_package(identifier):
    with mock.patch.object(TLSSigAPIv2.time, "time", return_value=1712345678.9):
        theirs = TLSSigAPIv2.TLSSigAPIv2(VECTOR_APPID, VECTOR_KEY).gen_sig(identifier, 86400)
    ours = usersig.generate(VECTOR_APPID, VECTOR_KEY, identifier, expire=86400, now=1712345678)
    assert ours == theirs


def _sig(**overrides):
    args = {"expire": 3600, "now": 1_000_000}
    args.update(overrides)
    return usersig.generate(VECTOR_APPID, VECTOR_KEY, "administrator", **args)


def test_verify_accepts_a_fresh_signature():
    usersig.verify(
        _sig(), sdkappid=VECTOR_APPID, key=VECTOR_KEY, identifier="administrator", now=1_000_100
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"now": 1_003_601}, 70001),
        ({"key": "another-key"}, 70009),
        ({"identifier": "someone"}, 70013),
        ({"sdkappid": 1400000001}, 70014),
    ],
)
def test_verify_rejects_with_tencents_code(kwargs, code):
    args = {
        "sdkappid": VECTOR_APPID,
        "key": VECTOR_KEY,
        "identifier": "administrator",
        "now": 1_000_100,
    }
    args.update(kwargs)
    with pytest.raises(UserSigError) as caught:
        usersig.verify(_sig(), **args)
    assert caught.value.code == code


@pytest.mark.parametrize("garbage", ["", "not-a-sig", "eJyrVkrOz0vOTFWyUlAqzs9JUQIA"])
def test_unparsable_signature_is_70003(garbage):
    with pytest.raises(UserSigError) as caught:
        usersig.verify(garbage, sdkappid=1, key="k", identifier="a", now=0)
    assert caught.value.code == 70003


def test_expire_bounds():
    with pytest.raises(ValueError, match="50 years"):
        usersig.generate(1, "k", "a", expire=0, now=0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_cache_reuses_until_shortly_before_expiry():
    clock = Clock(1_000_000)
    cache = UserSigCache(VECTOR_APPID, VECTOR_KEY, expire=7200, renew_before=600, clock=clock)
    first = cache.get("administrator")
    clock.now += 7200 - 601
    assert cache.get("administrator") == first
    clock.now += 1
    renewed = cache.get("administrator")
    assert renewed != first
    assert usersig.decode(renewed)["TLS.time"] == 1_000_000 + 6600
    assert cache.generated == 2


def test_cache_invalidate_only_drops_the_stale_value():
    clock = Clock(1_000_000)
    cache = UserSigCache(VECTOR_APPID, VECTOR_KEY, clock=clock)
    first = cache.get("administrator")
    cache.invalidate("administrator", "some-other-sig")
    assert cache.get("administrator") == first
    cache.invalidate("administrator", first)
    clock.now += 1
    assert cache.get("administrator") != first


def test_cache_generates_once_under_many_threads():
    cache = UserSigCache(VECTOR_APPID, VECTOR_KEY, clock=Clock(1_000_000))
    barrier = threading.Barrier(16)
    results = []

    def worker():
        barrier.wait()
        results.append(cache.get("administrator"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert cache.generated == 1


def test_secret_never_in_repr():
    cache = UserSigCache(VECTOR_APPID, VECTOR_KEY, clock=Clock(0))
    assert VECTOR_KEY not in repr(cache)
