"""Block Kit as terminal text, for ``online-bot shell``: the same messages, readable.

::

    header       its text, underlined with ═
    section      its text, then each field on its own line, then its accessory
    context      elements joined with two spaces
    divider      a line of ─
    actions      buttons as [Label]
    image        [image: alt text]

mrkdwn is shown as a reader would see it: ``&amp;``/``&lt;``/``&gt;`` decoded,
``<!date^...|fallback>`` as its fallback, ``<url|label>`` as ``label (url)``,
``<@U1>`` as ``@U1``, ``<!here>`` as ``@here``. ``*bold*`` and `code` are left as typed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bot.render.escape import utc_text

__all__ = ["DIVIDER", "blocks_to_text", "mrkdwn_to_text"]

DIVIDER = "─" * 40

_MARKUP_RE = re.compile(r"<([^<>]*)>")
_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def _markup(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, bar, label = inner.partition("|")
    if target.startswith("!"):  # <!date^...|fallback>, <!here>, <!subteam^S1|@team>
        if bar:
            return label
        parts = target[1:].split("^")
        if parts[0] == "date" and len(parts) > 1 and parts[1].isdigit():
            return utc_text(int(parts[1]))
        return "@" + parts[0]
    if target.startswith(("@", "#")):  # <@U123>, <#C123|general>
        return (target[0] + label.lstrip(target[0])) if bar else target
    if bar and label != target:
        return f"{label} ({target})"
    return target


#: The emoji codes the bot itself writes, as terminal characters.
_EMOJI = {
    ":warning:": "⚠️",
    ":hourglass_flowing_sand:": "⏳",
    ":paperclip:": "📎",
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":rotating_light:": "🚨",
    ":bell:": "🔔",
    ":mute:": "🔇",
}
_EMOJI_RE = re.compile("|".join(re.escape(code) for code in _EMOJI))


def mrkdwn_to_text(text: str) -> str:
    """One mrkdwn string as plain terminal text."""
    converted = _MARKUP_RE.sub(_markup, text).replace("```", "\n")
    converted = _EMOJI_RE.sub(lambda m: _EMOJI[m.group(0)], converted)
    return _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(1)], converted)


def _text(obj: Any) -> str:
    """A text object (``plain_text`` or ``mrkdwn``) as terminal text."""
    if not isinstance(obj, dict):
        return str(obj) if obj is not None else ""
    text = str(obj.get("text", ""))
    return mrkdwn_to_text(text) if obj.get("type") == "mrkdwn" else text


def _width(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _element(element: Any) -> str:
    """An element of a context, actions block or section accessory."""
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if "text" in element:  # button, overflow, select...
        return f"[{_text(element['text'])}]"
    if "placeholder" in element:
        return f"[{_text(element['placeholder'])}]"
    return f"[{kind}]"


def _block(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"))
        return [title, "═" * max(_width(title), 1)]
    if kind == "section":
        lines: list[str] = []
        if "text" in block:
            lines.append(_text(block["text"]))
        lines.extend(_text(field) for field in block.get("fields", []))
        if "accessory" in block:
            lines.append(_element(block["accessory"]))
        return lines
    if kind == "context":
        return ["  ".join(_element(e) for e in block.get("elements", []))]
    if kind == "divider":
        return [DIVIDER]
    if kind == "actions":
        return ["  ".join(_element(e) for e in block.get("elements", []))]
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    return [f"[{kind}]"]


def blocks_to_text(blocks: list[dict[str, Any]]) -> str:
    """Every block of a message, one after another, as terminal text."""
    lines: list[str] = []
    for block in blocks:
        lines.extend(_block(block))
    return "\n".join(lines)
