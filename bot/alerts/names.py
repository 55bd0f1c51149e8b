"""Group names for alert messages: asked of Tencent once an hour per group, at most."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.tencent.client import TencentClient
from bot.tencent.errors import TencentError

__all__ = ["GroupNames"]


class GroupNames:
    def __init__(
        self, tencent: TencentClient, *, ttl: float = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self._tencent = tencent
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str | None, float]] = {}

    def remember(self, group_id: str, name: str | None) -> None:
        with self._lock:
            self._names[group_id] = (name, self._clock())

    def known(self, group_id: str) -> bool:
        """Whether ``get`` would answer without asking Tencent."""
        with self._lock:
            hit = self._names.get(group_id)
        return hit is not None and self._clock() - hit[1] < self._ttl

    def get(self, group_id: str) -> str | None:
        """The group's name, or None when Tencent cannot tell (the ID is shown instead)."""
        with self._lock:
            hit = self._names.get(group_id)
        if hit is not None and self._clock() - hit[1] < self._ttl:
            return hit[0]
        try:
            name = self._tencent.group_info(group_id).name or None
        except TencentError:
            name = hit[0] if hit else None
        self.remember(group_id, name)
        return name
