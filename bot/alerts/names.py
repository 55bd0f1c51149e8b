"""Group names for alert messages and lists: asked of Tencent 50 at a time, at most
once an hour per group, and never while a database transaction is open (``peek``
only reads what was learnt)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from bot.tencent.client import TencentClient
from bot.tencent.errors import ApiError, TencentError

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
        """Whether the name (or that Tencent has none) was learnt within the last ``ttl``."""
        with self._lock:
            hit = self._names.get(group_id)
        return hit is not None and self._clock() - hit[1] < self._ttl

    def peek(self, group_id: str) -> str | None:
        """The name if known, without asking Tencent (None: show the ID)."""
        with self._lock:
            hit = self._names.get(group_id)
        return hit[0] if hit is not None else None

    def prefetch(self, group_ids: Iterable[str]) -> None:
        """Learn the names of many groups in few calls (50 a call)."""
        wanted = sorted({g for g in group_ids if not self.known(g)})
        if not wanted:
            return
        try:
            infos = self._tencent.group_infos(wanted)
        except TencentError:
            return  # not learnt: asked again next time; meanwhile messages show the ID
        for group_id in wanted:
            info = infos.get(group_id)
            name = None if info is None or isinstance(info, ApiError) else info.name or None
            self.remember(group_id, name)
