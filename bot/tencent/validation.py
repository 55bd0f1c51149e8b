"""Checks on what users type before anything is sent to Tencent."""

from __future__ import annotations

from bot.tencent.errors import InvalidInput

__all__ = [
    "MAX_ACCOUNT_BYTES",
    "MAX_CHECK_ACCOUNTS",
    "MAX_GROUP_ID_BYTES",
    "MAX_MARK",
    "quote",
    "validate_accounts",
    "validate_group_id",
    "validate_mark",
]

MAX_GROUP_ID_BYTES = 48
MAX_MARK = 2**32 - 1
#: Tencent's UserIDs are at most 32 bytes.
MAX_ACCOUNT_BYTES = 32
#: Accounts one check_members call is asked about. Tencent's page shows no maximum:
#: 500 is an assumption (the batch size of its other member APIs), unconfirmed.
MAX_CHECK_ACCOUNTS = 500


def validate_group_id(group_id: str) -> str:
    """Return ``group_id`` if Tencent could accept it, else raise InvalidInput saying why.

    The one rule for group IDs, Tencent's: printable ASCII (0x20-0x7e, so a space
    too), at most MAX_GROUP_ID_BYTES bytes. The ``/online`` grammar splits words on
    spaces before it asks, so an ID typed there never holds one.
    """
    if not group_id:
        raise InvalidInput("The group ID is empty: give one like @TGS#a6I4ZUUGO.")
    bad = next((ch for ch in group_id if not 0x20 <= ord(ch) <= 0x7E), None)
    if bad is not None:
        raise InvalidInput(
            f"Group IDs are printable ASCII (letters, digits and symbols such as @ # _ -); "
            f"{quote(group_id)} contains {quote(bad)}. Copy the ID from the Chat console."
        )
    # Printable ASCII is one byte a character: the bytes Tencent counts are characters.
    if len(group_id.encode()) > MAX_GROUP_ID_BYTES:
        raise InvalidInput(
            f"Group IDs have at most {MAX_GROUP_ID_BYTES} characters; {quote(group_id)} has "
            f"{len(group_id)}."
        )
    return group_id


def quote(text: str, limit: int = 40) -> str:
    """A user's word quoted for a message: control characters masked, long words cut."""
    clean = "".join("?" if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 else ch for ch in text)
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f'"{clean}"'


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


def validate_accounts(accounts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The accounts, once each in the given order, if Tencent could be asked about them
    in one call (1 to MAX_CHECK_ACCOUNTS UserIDs of at most 32 bytes), else InvalidInput."""
    unique = tuple(dict.fromkeys(accounts))
    if not unique:
        raise InvalidInput("Name at least one account to check, e.g. user1,user2.")
    if len(unique) > MAX_CHECK_ACCOUNTS:
        raise InvalidInput(
            f"Tencent checks at most {MAX_CHECK_ACCOUNTS} accounts at a time; "
            f"{len(unique)} were given. Split them into several checks."
        )
    for account in unique:
        if not account or len(account.encode()) > MAX_ACCOUNT_BYTES or not account.isprintable():
            shown = repr(account if len(account) <= 40 else account[:39] + "…")
            raise InvalidInput(
                f"Accounts (Tencent UserIDs) are 1 to {MAX_ACCOUNT_BYTES} bytes of printable "
                f"text; {shown} is not."
            )
    return unique
