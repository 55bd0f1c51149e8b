"""Answers reused for a few seconds: the same question asked again (or at once, by many)
is answered once. ``Reused.get(key, make)`` calls ``make()`` for the first asker and
hands its result to everyone who asks for ``key`` until ``seconds`` have passed; a
failure is not kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["Reused"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Reused(Generic[K, V]):
    def __init__(self, seconds: float, *, monotonic: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[K, tuple[float, Future[V]]] = {}

    def get(self, key: K, make: Callable[[], V]) -> V:
        now = self._monotonic()
        with self._lock:
            for stale in [k for k, (until, _) in self._entries.items() if until <= now]:
                del self._entries[stale]
            entry = self._entries.get(key)
            owner = entry is None
            if owner:
                future: Future[V] = Future()
                self._entries[key] = (now + self.seconds, future)
            else:
                future = entry[1]
        if owner:
            try:
                future.set_result(make())
            except BaseException as error:
                with self._lock:
                    self._entries.pop(key, None)
                future.set_exception(error)
        return future.result()
