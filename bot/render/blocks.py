"""The one Block Kit vocabulary every renderer speaks. Pure code.

Builders return plain JSON-ready dicts and keep to Slack's limits themselves, so
a renderer says *what* a message holds and cannot get a size wrong:

    message(text, blocks)       a Message: fallback text cut to 4,000, at most 50 blocks
    mrkdwn(text)                a mrkdwn text object, always ``verbatim: true``
    plain_text(text, limit)     one line, control characters removed, cut to ``limit``
    header(text)                plain text, 150
    section(text, fields)       text 3,000, at most 10 fields of 2,000
    context(*texts)             at most 10 mrkdwn elements of 3,000
    divider()
    button(label, action, value, style=, confirm=)   label 75, value 2,000 (else ValueError)
    confirm(title, text, yes, no)                    100 / 300 / 30 / 30
    actions(block_id, elements)                      at most 25 elements
    image(source, alt_text, title=)                  a URL (3,000) or a SlackFile; alt 2,000

Views (the App Home tab, modals) hold up to 100 blocks:

    home_view(blocks, private_metadata=)             a Home tab; metadata 3,000 (else ValueError)
    modal_view(title, blocks, callback_id=, submit=, close=)   title and labels 24
    input_block(block_id, label, element, optional=, hint=)    label and hint 2,000
    text_input(action_id, placeholder=, max_length=)           placeholder 150

Mentions are built only from IDs of Slack's shape: :func:`user_mention` (``<@U…>``),
:func:`usergroup_mention` (``<!subteam^S…>``) and :func:`channel_mention` (``<#C…>``)
raise ValueError for anything else, so a bug never becomes a ping. Where a stored
value may not be an ID (the bot's own name, an unchecked setting),
:func:`user_or_text`, :func:`mention_or_text` and :func:`channel_or_code` show it
as escaped text instead.

mrkdwn passed to these builders must already be escaped (:mod:`bot.render.escape`);
they cut it without breaking an entity or a ``<...>`` token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.render.escape import cut, cut_mrkdwn, escape_line, escape_mrkdwn, plain, single_line

__all__ = [
    "MAX_ACTIONS_ELEMENTS",
    "MAX_ALT_TEXT_CHARS",
    "MAX_BLOCKS",
    "MAX_BUTTON_CHARS",
    "MAX_BUTTON_VALUE",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_FALLBACK_CHARS",
    "MAX_FIELDS",
    "MAX_FIELD_CHARS",
    "MAX_HEADER_CHARS",
    "MAX_IMAGE_URL_CHARS",
    "MAX_SECTION_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_VIEW_BLOCKS",
    "MESSAGE_TEXT_CHARS",
    "TEXT_BUDGET",
    "Block",
    "Message",
    "SlackFile",
    "View",
    "actions",
    "button",
    "channel_mention",
    "channel_or_code",
    "code",
    "confirm",
    "context",
    "divider",
    "header",
    "home_view",
    "image",
    "input_block",
    "is_channel_id",
    "is_user_id",
    "is_usergroup_id",
    "mention_or_text",
    "message",
    "modal_view",
    "mrkdwn",
    "pack",
    "plain_text",
    "section",
    "text_chars",
    "text_input",
    "user_mention",
    "user_or_text",
    "usergroup_mention",
]

Block = dict[str, Any]

# Slack's limits (Block Kit reference; chat.postMessage for the fallback text).
#: Blocks in one message.
MAX_BLOCKS = 50
#: Characters of any text object.
MAX_TEXT_CHARS = 3000
#: Characters of a section's text.
MAX_SECTION_CHARS = 3000
#: Fields of a section, and characters of each.
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
#: Characters of a header's text.
MAX_HEADER_CHARS = 150
#: Elements of a context block, and of an actions block.
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
#: Characters of a button's label, and of its value.
MAX_BUTTON_CHARS = 75
MAX_BUTTON_VALUE = 2000
#: A confirm dialog's title, text, and button labels.
CONFIRM_TITLE_CHARS, CONFIRM_TEXT_CHARS, CONFIRM_BUTTON_CHARS = 100, 300, 30
#: An image's URL and its alt text (and title).
MAX_IMAGE_URL_CHARS = 3000
MAX_ALT_TEXT_CHARS = 2000
#: All the text in a message's blocks together.
MESSAGE_TEXT_CHARS = 12_000
#: What our renderers allow themselves of MESSAGE_TEXT_CHARS, with room to spare.
TEXT_BUDGET = 10_000
#: The fallback (notification) text: Slack truncates past 40,000 and advises 4,000.
MAX_FALLBACK_CHARS = 4000
#: Blocks in a view (the App Home tab, a modal).
MAX_VIEW_BLOCKS = 100
#: A modal's title, and its submit and close labels.
MODAL_TITLE_CHARS = 24
#: A view's private_metadata, and its callback_id.
MAX_PRIVATE_METADATA, MAX_CALLBACK_ID = 3000, 255
#: An input block's label and hint, and a text input's placeholder.
MAX_LABEL_CHARS, MAX_HINT_CHARS, MAX_PLACEHOLDER_CHARS = 2000, 2000, 150

_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,20}", re.ASCII)
_USERGROUP_ID_RE = re.compile(r"S[A-Z0-9]{2,20}", re.ASCII)
_CHANNEL_ID_RE = re.compile(r"[CGD][A-Z0-9]{2,20}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Message:
    """A Slack message: ``text`` is the notification / fallback text, ``blocks`` the layout."""

    text: str
    blocks: list[Block]


def message(text: str, blocks: Sequence[Block]) -> Message:
    """A Message within Slack's limits: ``text`` (mrkdwn, escaped) cut to
    MAX_FALLBACK_CHARS, the blocks past MAX_BLOCKS left out."""
    return Message(text=cut_mrkdwn(text, MAX_FALLBACK_CHARS), blocks=list(blocks[:MAX_BLOCKS]))


# --------------------------------------------------------------------------- text objects


def mrkdwn(text: str, limit: int = MAX_TEXT_CHARS) -> Block:
    """A mrkdwn text object (``text`` already escaped), cut to ``limit``; Slack links and
    parses nothing in it that we did not write (``verbatim``)."""
    return {"type": "mrkdwn", "text": cut_mrkdwn(text, limit), "verbatim": True}


def plain_text(text: str, limit: int = MAX_TEXT_CHARS) -> Block:
    """A plain_text object: one line, control characters removed, cut to ``limit``
    (a blank one becomes a space: Slack refuses empty text)."""
    text = cut(plain(single_line(text)) or " ", limit)
    return {"type": "plain_text", "text": text, "emoji": True}


def code(text: str, limit: int = 100) -> str:
    """Raw ``text`` on one line, cut to ``limit``, escaped, in a code span unless a
    backtick would end the span (or it is empty)."""
    text = cut(single_line(text), limit)
    escaped = escape_mrkdwn(text)
    return escaped if "`" in text or not text else f"`{escaped}`"


# --------------------------------------------------------------------------- blocks


def header(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, MAX_HEADER_CHARS)}


def section(text: str | None = None, fields: Sequence[str] = ()) -> Block:
    """A section with mrkdwn text, fields (the first 10, each cut to 2,000) or both."""
    if text is None and not fields:
        raise ValueError("A section needs text or fields")
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = mrkdwn(text, MAX_SECTION_CHARS)
    if fields:
        block["fields"] = [mrkdwn(field, MAX_FIELD_CHARS) for field in fields[:MAX_FIELDS]]
    return block


def context(*texts: str) -> Block:
    """A context block of mrkdwn elements (the first 10)."""
    if not texts:
        raise ValueError("A context block needs an element")
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def confirm(title: str, text: str, yes: str, no: str, *, style: str | None = None) -> Block:
    """A confirm dialog for a button, every text plain and cut to Slack's limits."""
    dialog: Block = {
        "title": plain_text(title, CONFIRM_TITLE_CHARS),
        "text": plain_text(text, CONFIRM_TEXT_CHARS),
        "confirm": plain_text(yes, CONFIRM_BUTTON_CHARS),
        "deny": plain_text(no, CONFIRM_BUTTON_CHARS),
    }
    if style:
        dialog["style"] = style
    return dialog


def button(
    label: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button; ValueError if ``value`` is longer than Slack takes (check first with
    MAX_BUTTON_VALUE and leave the button out)."""
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"A button value is at most {MAX_BUTTON_VALUE} characters")
    element: Block = {
        "type": "button",
        "text": plain_text(label, MAX_BUTTON_CHARS),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(block_id: str, elements: Sequence[Block]) -> Block:
    """An actions block of the first 25 ``elements``."""
    if not elements:
        raise ValueError("An actions block needs an element")
    kept = list(elements[:MAX_ACTIONS_ELEMENTS])
    return {"type": "actions", "block_id": block_id, "elements": kept}


@dataclass(frozen=True, slots=True)
class SlackFile:
    """An image uploaded to Slack, by its ID (``F…``) or its URL (``url_private`` or
    permalink): exactly one of the two."""

    id: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.id is None) == (self.url is None):
            raise ValueError("A SlackFile has an id or a url, not both or neither")


def image(source: str | SlackFile, alt_text: str, *, title: str | None = None) -> Block:
    """An image block: a public ``https://`` URL (at most 3,000 characters) or a file
    uploaded to Slack. ``alt_text`` is plain, cut to 2,000 (Slack requires one)."""
    block: Block = {"type": "image"}
    if isinstance(source, SlackFile):
        block["slack_file"] = {"id": source.id} if source.id is not None else {"url": source.url}
    else:
        if not source.startswith(("https://", "http://")) or len(source) > MAX_IMAGE_URL_CHARS:
            raise ValueError("An image URL is http(s) and at most 3,000 characters")
        block["image_url"] = source
    block["alt_text"] = cut(plain(single_line(alt_text)) or "image", MAX_ALT_TEXT_CHARS)
    if title is not None:
        block["title"] = plain_text(title, MAX_ALT_TEXT_CHARS)
    return block


# --------------------------------------------------------------------------- views

#: A view object (views.publish, views.open), JSON-ready.
View = dict[str, Any]


def home_view(blocks: Sequence[Block], *, private_metadata: str = "") -> View:
    """The App Home tab: the blocks past MAX_VIEW_BLOCKS left out; ``private_metadata``
    comes back with every button pressed in it (ValueError past 3,000 characters)."""
    if len(private_metadata) > MAX_PRIVATE_METADATA:
        raise ValueError(f"private_metadata is at most {MAX_PRIVATE_METADATA} characters")
    view: View = {"type": "home", "blocks": list(blocks[:MAX_VIEW_BLOCKS])}
    if private_metadata:
        view["private_metadata"] = private_metadata
    return view


def modal_view(
    title: str,
    blocks: Sequence[Block],
    *,
    callback_id: str,
    submit: str | None = None,
    close: str | None = None,
) -> View:
    """A modal (views.open): title and button labels cut to 24, the blocks past
    MAX_VIEW_BLOCKS left out. Slack requires ``submit`` when it holds an input."""
    if not callback_id or len(callback_id) > MAX_CALLBACK_ID:
        raise ValueError(f"A callback_id has 1 to {MAX_CALLBACK_ID} characters")
    view: View = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain_text(title, MODAL_TITLE_CHARS),
        "blocks": list(blocks[:MAX_VIEW_BLOCKS]),
    }
    if submit is not None:
        view["submit"] = plain_text(submit, MODAL_TITLE_CHARS)
    if close is not None:
        view["close"] = plain_text(close, MODAL_TITLE_CHARS)
    return view


def input_block(
    block_id: str, label: str, element: Block, *, optional: bool = False, hint: str | None = None
) -> Block:
    """An input block (in a modal): its value comes back under ``block_id`` in the view's
    state; label and hint plain, cut to 2,000."""
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(label, MAX_LABEL_CHARS),
        "element": element,
        "optional": optional,
    }
    if hint is not None:
        block["hint"] = plain_text(hint, MAX_HINT_CHARS)
    return block


def text_input(
    action_id: str, *, placeholder: str | None = None, max_length: int | None = None
) -> Block:
    """A one-line plain_text_input; placeholder cut to 150."""
    element: Block = {"type": "plain_text_input", "action_id": action_id}
    if placeholder is not None:
        element["placeholder"] = plain_text(placeholder, MAX_PLACEHOLDER_CHARS)
    if max_length is not None:
        element["max_length"] = max_length
    return element


# --------------------------------------------------------------------------- mentions


def is_user_id(value: str) -> bool:
    """``U…`` or ``W…`` (Enterprise Grid), capitals and digits."""
    return _USER_ID_RE.fullmatch(value) is not None


def is_usergroup_id(value: str) -> bool:
    return _USERGROUP_ID_RE.fullmatch(value) is not None


def is_channel_id(value: str) -> bool:
    """``C…`` (public), ``G…`` (private) or ``D…`` (a DM)."""
    return _CHANNEL_ID_RE.fullmatch(value) is not None


def user_mention(user_id: str) -> str:
    """``<@U123>``; ValueError if ``user_id`` is not a user ID."""
    if not is_user_id(user_id):
        raise ValueError(f"Not a Slack user ID: {user_id!r}")
    return f"<@{user_id}>"


def usergroup_mention(group_id: str) -> str:
    """``<!subteam^S123>``; ValueError if ``group_id`` is not a user-group ID."""
    if not is_usergroup_id(group_id):
        raise ValueError(f"Not a Slack user-group ID: {group_id!r}")
    return f"<!subteam^{group_id}>"


def channel_mention(channel_id: str) -> str:
    """``<#C123>``; ValueError if ``channel_id`` is not a channel ID."""
    if not is_channel_id(channel_id):
        raise ValueError(f"Not a Slack channel ID: {channel_id!r}")
    return f"<#{channel_id}>"


def user_or_text(value: str, limit: int = 60) -> str:
    """A user ID as its mention; anything else (``online-bot``) as escaped text on one
    line, cut to ``limit``."""
    return user_mention(value) if is_user_id(value) else escape_line(value, limit)


def mention_or_text(value: str, limit: int = 60) -> str:
    """A user or user-group ID as its mention; anything else as escaped text."""
    if is_usergroup_id(value):
        return usergroup_mention(value)
    return user_or_text(value, limit)


def channel_or_code(value: str) -> str:
    """A channel ID as its link; anything else as code."""
    return channel_mention(value) if is_channel_id(value) else code(value)


# --------------------------------------------------------------------------- sizes


def text_chars(blocks: Sequence[Block]) -> int:
    """Characters in every text object of ``blocks``: what Slack's 12,000 limit counts."""
    total = 0

    def walk(node: object) -> None:
        nonlocal total
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                total += len(node["text"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(list(blocks))
    return total


def pack(lines: Sequence[str], limit: int = MAX_SECTION_CHARS) -> list[str]:
    """mrkdwn lines joined with newlines into as few chunks as possible, each at most
    ``limit`` long (a longer line is cut)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = cut_mrkdwn(line, limit)
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current))
    return chunks
