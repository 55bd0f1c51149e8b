"""The query forms of ``/online``: ``<groupId> [mark] [public]`` and
``<groupId> [public] is <account>[,<account>...]``; and the App Home's lookup form
(a group ID and an optional mark, each in a field of its own). Pure code."""

from __future__ import annotations

import re

from bot.commands.usage import IS_FORM, QUERY_FORM, WATCH_FORMS, UsageError
from bot.commands.values import CheckMembers, Query
from bot.commands.words import (
    NUMBERISH_RE,
    RULE_WORDS,
    Word,
    Words,
    parse_group_id,
    parse_mark,
    split_option,
    unquote,
)
from bot.tencent.errors import InvalidInput
from bot.tencent.validation import quote, validate_accounts

__all__ = ["PUBLIC_WORDS", "FormError", "parse_lookup", "parse_query", "split_accounts"]

PUBLIC_WORDS = ("public", "share")

_ACCOUNT_SEPARATORS_RE = re.compile(r"[\s,\uff0c\u3001]+")


def parse_query(first: Word, words: Words) -> Query | CheckMembers:
    """The query whose group ID is ``first``; the rest of ``words`` are its options."""
    group_id = parse_group_id(first.text)
    mark: int | None = None
    public = False
    for word in words:
        key, value = split_option(word, ("mark",))
        if key in PUBLIC_WORDS:
            public = True
            continue
        if key == "is":
            if mark is not None:
                raise UsageError(
                    "is checks accounts in the whole group: leave the mark out.", IS_FORM
                )
            return CheckMembers(group_id, split_accounts(words.rest()), public)
        if key == "mark":
            text = value or words.value("mark", "mark 1000", QUERY_FORM)
        elif NUMBERISH_RE.fullmatch(word.text) and re.search("[0-9]", word.text):
            text = word.text
        elif key in RULE_WORDS:
            raise UsageError(
                f"To be alerted when the count goes {key} a value, use watch: "
                f"/online watch {group_id} {key} ...",
                WATCH_FORMS,
            )
        else:
            raise UsageError(f"I don't understand {quote(word.text)} after the group ID.")
        if mark is not None:
            raise UsageError("Give one mark only.")
        mark = parse_mark(text, QUERY_FORM)
    return Query(group_id, mark, public)


class FormError(ValueError):
    """The lookup form does not hold a query: ``problems`` says, for each field that is
    wrong (``group_id``, ``mark``), what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


def parse_lookup(group_id: str, mark: str | None) -> Query:
    """The query the lookup form asks (``/online <group_id> [mark]``), its fields read
    as the command's words are (spaces around and quotes removed); FormError naming
    every field that is wrong."""
    problems: dict[str, str] = {}
    group = unquote(group_id.strip())
    try:
        parse_group_id(group)
    except UsageError as error:
        problems["group_id"] = error.problem
    value = None
    mark_text = unquote((mark or "").strip())
    if mark_text:
        try:
            value = parse_mark(mark_text, QUERY_FORM)
        except UsageError as error:
            problems["mark"] = error.problem
    if problems:
        raise FormError(problems)
    return Query(group, value)


def split_accounts(text: str) -> tuple[str, ...]:
    """Accounts separated by commas and/or spaces, each once, checked as Tencent would
    take them in one check_members call; raise :class:`UsageError` otherwise."""
    accounts = [unquote(part) for part in _ACCOUNT_SEPARATORS_RE.split(text)]
    accounts = [account for account in accounts if account]
    if not accounts:
        raise UsageError("is needs the accounts to check after it, e.g. is alice,bob.", IS_FORM)
    try:
        return validate_accounts(accounts)
    except InvalidInput as error:
        raise UsageError(error.user_message, IS_FORM) from None
