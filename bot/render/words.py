"""Phrases every renderer shares: a group by name, counts. Pure code (spans of time are
bot/commands/durations.py's)."""

from __future__ import annotations

from bot.render.blocks import code
from bot.render.escape import cut, escape_line, single_line

__all__ = ["count", "display_name", "group_ref", "group_title", "plural"]


def group_ref(group_id: str, group_name: str | None, cap: int = 200) -> str:
    """``*Math class* (`@TGS#...`)`` in mrkdwn, or the ID alone when the group has no name."""
    name = single_line(group_name or "")
    return f"*{escape_line(name, cap)}* ({code(group_id)})" if name else code(group_id)


def group_title(group_id: str, group_name: str | None) -> str:
    """``Math class (@TGS#...)``, raw, for fallback text (escape it)."""
    name = single_line(group_name or "")
    return cut(f"{name} ({group_id})" if name else group_id, 300)


def display_name(group_id: str, group_name: str | None) -> str:
    """The group's name if it has one, else its ID: raw, one line, for plain text."""
    return single_line(group_name or "") or single_line(group_id)


def count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
