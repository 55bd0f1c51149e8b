"""Checks: fetching the value of one target, a watched (group, mark), from Tencent."""

from __future__ import annotations

from dataclasses import dataclass

from bot.tencent.client import TencentClient
from bot.tencent.errors import TencentError

__all__ = ["Target", "fetch_value"]


@dataclass(frozen=True, slots=True)
class Target:
    """What one check fetches: a group's exact online count (no mark), or how many of its
    online members carry ``mark``."""

    group_id: str
    mark: int | None


def fetch_value(tencent: TencentClient, target: Target) -> tuple[int | None, str | None]:
    """One check: the exact count (no mark) or the length of the marked list; or None and
    the error, said for the alert.

    A list Tencent's paging cut short is a lower bound, not a count: a failed check.
    """
    try:
        if target.mark is None:
            return tencent.online_count(target.group_id), None
        result = tencent.online_members(target.group_id, target.mark)
        if result.partial:
            return None, (
                f"Tencent's member list was incomplete ({result.partial.explanation}), so the "
                "members with the mark could not be counted; it is checked again next cycle."
            )
        return len(result.members), None
    except TencentError as error:
        return None, error.sentence
