"""UserSig (TLSSigAPIv2): generate, decode and verify; a thread-safe cache.

Byte-compatible with Tencent's own Python implementation (PyPI
``tls-sig-api-v2``): same JSON field order and spacing, same zlib stream, same
URL-safe alphabet. Pure code: the current time is always passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_EXPIRE",
    "UserSigCache",
    "UserSigError",
    "decode",
    "generate",
    "verify",
]

DEFAULT_EXPIRE = 180 * 86400
MAX_EXPIRE = 50 * 365 * 86400


class UserSigError(Exception):
    """A UserSig that cannot be used; ``code`` is the Tencent error code it maps to."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


def _content_to_sign(identifier: str, sdkappid: int, issued: int, expire: int) -> bytes:
    return (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{issued}\n"
        f"TLS.expire:{expire}\n"
    ).encode()


def _hmac(key: str, content: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), content, hashlib.sha256).digest()).decode()


def _urlsafe(data: bytes) -> str:
    return base64.b64encode(data).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def _from_urlsafe(text: str) -> bytes:
    return base64.b64decode(text.replace("*", "+").replace("-", "/").replace("_", "="))


def generate(sdkappid: int, key: str, identifier: str, *, expire: int, now: int) -> str:
    """Return a UserSig for ``identifier`` valid ``expire`` seconds from ``now``."""
    if not 0 < expire <= MAX_EXPIRE:
        raise ValueError(f"expire must be between 1 second and 50 years, got {expire}")
    fields = {
        "TLS.ver": "2.0",
        "TLS.identifier": str(identifier),
        "TLS.sdkappid": int(sdkappid),
        "TLS.expire": int(expire),
        "TLS.time": int(now),
    }
    fields["TLS.sig"] = _hmac(key, _content_to_sign(identifier, sdkappid, now, expire))
    return _urlsafe(zlib.compress(json.dumps(fields).encode()))


def decode(usersig: str) -> dict[str, object]:
    """The JSON fields inside a UserSig; raises UserSigError (70003) if unreadable."""
    try:
        fields = json.loads(zlib.decompress(_from_urlsafe(usersig)))
    except (binascii.Error, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise UserSigError("the UserSig could not be parsed", code=70003) from exc
    if not isinstance(fields, dict):
        raise UserSigError("the UserSig could not be parsed", code=70003)
    return fields


def verify(usersig: str, *, sdkappid: int, key: str, identifier: str, now: int) -> None:
    """Check a UserSig the way Tencent does; raise UserSigError with the matching code."""
    fields = decode(usersig)
    try:
        sig_identifier = str(fields["TLS.identifier"])
        sig_appid = int(fields["TLS.sdkappid"])  # type: ignore[call-overload]
        issued = int(fields["TLS.time"])  # type: ignore[call-overload]
        expire = int(fields["TLS.expire"])  # type: ignore[call-overload]
        signature = str(fields["TLS.sig"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserSigError("the UserSig is missing fields", code=70003) from exc
    if sig_appid != sdkappid:
        raise UserSigError("the UserSig was made for another SDKAppID", code=70014)
    if sig_identifier != identifier:
        raise UserSigError("the UserSig was made for another identifier", code=70013)
    expected = _hmac(key, _content_to_sign(sig_identifier, sig_appid, issued, expire))
    if not hmac.compare_digest(expected, signature):
        raise UserSigError("the UserSig signature does not match the secret key", code=70009)
    if now > issued + expire:
        raise UserSigError("the UserSig has expired", code=70001)


@dataclass
class _Cached:
    value: str
    renew_at: float


class UserSigCache:
    """One UserSig per identifier, reused until ``renew_before`` seconds before expiry.

    Thread-safe; the secret key is held but never shown (see ``__repr__``).
    """

    def __init__(
        self,
        sdkappid: int,
        key: str,
        *,
        expire: int = DEFAULT_EXPIRE,
        renew_before: int = 3600,
        clock: Callable[[], float],
    ) -> None:
        if renew_before >= expire:
            raise ValueError("renew_before must be shorter than expire")
        self._sdkappid = sdkappid
        self._key = key
        self._expire = expire
        self._renew_before = renew_before
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, _Cached] = {}
        self.generated = 0  # how many signatures were made (observable in tests)

    def __repr__(self) -> str:
        return f"UserSigCache(sdkappid={self._sdkappid}, key=<hidden>)"

    def get(self, identifier: str) -> str:
        now = self._clock()
        with self._lock:
            hit = self._cached.get(identifier)
            if hit is not None and now < hit.renew_at:
                return hit.value
            return self._renew(identifier, now)

    def invalidate(self, identifier: str, stale: str) -> None:
        """Drop ``stale`` (rejected as expired) so the next ``get`` makes a new one."""
        with self._lock:
            hit = self._cached.get(identifier)
            if hit is not None and hit.value == stale:
                del self._cached[identifier]

    def _renew(self, identifier: str, now: float) -> str:
        issued = int(now)
        value = generate(self._sdkappid, self._key, identifier, expire=self._expire, now=issued)
        self._cached[identifier] = _Cached(value, issued + self._expire - self._renew_before)
        self.generated += 1
        return value
