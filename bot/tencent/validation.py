"""Checks on what users type before anything is sent to Tencent."""

from __future__ import annotations

from bot.tencent.errors import InvalidInput

__all__ = ["MAX_GROUP_ID_BYTES", "MAX_MARK", "validate_group_id", "validate_mark"]

MAX_GROUP_ID_BYTES = 48
MAX_MARK = 2**32 - 1


def validate_group_id(group_id: str) -> str:
    """Return ``group_id`` if Tencent could accept it, else raise InvalidInput saying why."""
    if not group_id:
        raise InvalidInput("The group ID is empty: give one like @TGS#a6I4ZUUGO.")
    if not all(0x20 <= ord(ch) <= 0x7E for ch in group_id):
        raise InvalidInput(
            "The group ID may only contain printable ASCII characters (letters, digits, "
            "punctuation); copy it from the Chat console."
        )
    if len(group_id.encode()) > MAX_GROUP_ID_BYTES:
        raise InvalidInput(
            f"The group ID is {len(group_id)} characters long; Tencent group IDs have at most "
            f"{MAX_GROUP_ID_BYTES}."
        )
    return group_id


def validate_mark(mark: int | None) -> int | None:
    """Return ``mark`` if it is None or an integer from 0 to 2^32-1, else raise InvalidInput."""
    if mark is None:
        return None
    if isinstance(mark, bool) or not isinstance(mark, int) or not 0 <= mark <= MAX_MARK:
        raise InvalidInput(
            f"The mark must be a whole number from 0 to {MAX_MARK} (Tencent marks are usually "
            f"1000 or more), not {mark!r}."
        )
    return mark
