"""The command line's answers to ``online-bot online``: plain text for a terminal, and the
``--json`` objects; and ``online-bot history``'s when there is nothing to draw (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.tencent.models import MemberCheck, OnlineMembers

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.render.history import HistoryView
    from bot.simulator.scenario import Scenario

__all__ = [
    "check_json",
    "check_output",
    "check_text",
    "no_samples_text",
    "online_json",
    "online_output",
    "online_text",
    "simulator_note",
]


def online_output(result: OnlineMembers, count: int, *, as_json: bool) -> str:
    """``online-bot online``'s answer: text, or one JSON object."""
    if as_json:
        return json.dumps(online_json(result, count), ensure_ascii=False)
    return online_text(result, count)


def check_output(check: MemberCheck, *, as_json: bool) -> str:
    """``online-bot online --is``'s answer: text, or one JSON object."""
    return json.dumps(check_json(check)) if as_json else check_text(check)


def online_json(result: OnlineMembers, count: int) -> dict[str, object]:
    return {
        "group_id": result.group_id,
        "mark": result.mark,
        "online_count": count,
        "member_count": len(result.members),
        "capped": result.capped,
        "edition_limited": result.edition_limited,
        "partial": result.partial is not None,
        "partial_reason": result.partial.value if result.partial else None,
        "pages": result.pages,
        "members": [m.as_dict() for m in result.members],
    }


def check_json(check: MemberCheck) -> dict[str, object]:
    return {
        "group_id": check.group_id,
        "checked_at": int(check.checked_at),
        "present": list(check.present),
        "absent": list(check.absent),
    }


def check_text(check: MemberCheck) -> str:
    asked = len(check.present) + len(check.absent)
    return "\n".join(
        [
            f"{check.group_id}: {len(check.present)} of {asked} in the group now (check_members: "
            "a snapshot up to 40 s old, beyond the list's 1,000 cap too)",
            "  in:     " + (", ".join(check.present) or "-"),
            "  not in: " + (", ".join(check.absent) or "-"),
        ]
    )


def online_text(result: OnlineMembers, count: int) -> str:
    mark = f" with mark {result.mark}" if result.mark is not None else ""
    lines = [
        f"{result.group_id}: {count} online (exact count); "
        f"list{mark}: {len(result.members)} members in {result.pages} page(s)",
    ]
    if result.capped:
        lines.append("note: Tencent returns only the 1,000 latest members; the list is partial.")
    if result.partial:
        lines.append(
            f"note: incomplete list: Tencent stopped paging after {result.pages} page(s) "
            f"({result.partial.explanation}); these are the members it sent."
        )
    if result.edition_limited:
        lines.append(
            "note: exactly 30 members: lower editions return at most 30. Enable 'List of online "
            "audio-video group members' (Pro, Pro Plus or Enterprise) in the Chat console."
        )
    for m in result.members:
        joined = datetime.fromtimestamp(m.join_time, UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"  {m.account:<24} {joined} UTC  {m.nickname}")
    return "\n".join(lines)


def no_samples_text(view: HistoryView, range_text: str, zone: ZoneInfo) -> str:
    """Why ``online-bot history`` has nothing to draw in ``view`` (asked as ``range_text``)."""
    if view.latest_before is None:
        return (
            f"No samples of {view.label} in the database: the bot records an audience only "
            f"while a channel watches it (/online watch {view.group_id} below <N>)."
        )
    latest = datetime.fromtimestamp(view.latest_before, zone).strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"No samples of {view.label} in the last {range_text}; the latest is from "
        f"{latest}: try a longer --range."
    )


def simulator_note(scenario: Scenario) -> str:
    """What ``online-bot online`` says on stderr when it answers from the built-in simulator."""
    names = ", ".join(g.group_id for g in scenario.groups)
    return f"No TENCENT_IM_SDKAPPID set: using the built-in simulator ({names})."
