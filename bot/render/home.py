"""The App Home tab and its lookup modal, as Block Kit views. Pure code: ``now`` is passed in.

::

    page_of(listed, number)            which watches page ``number`` shows (a HomePage),
                                       from every watch of the workspace (Listed)
    render_home(page, rows, now=, notice=)
                                       the Home tab: a summary, Look up / Refresh, the
                                       watches needing attention, the page's watches by
                                       channel with their buttons, paging
    render_home_unavailable(text)      the Home tab when there are no watches to show
                                       (no database, a failure), with Look up still there
    render_lookup_modal()              the "Look up a group" modal
    render_changed_from_home(notice)   a change made in the Home, as told in its channel
    page_number(value)                 the page a Home showed when a button was pressed (its
                                       private_metadata), or a paging button asks for
    parse_watch_value(value)           the watch a Home button is for

A view holds at most 100 blocks. A page holds the watches that fit in what the frame
(header, summary, buttons, a notice, the watches needing attention, paging) leaves, at
most MAX_PAGE_WATCHES; the frame is reserved in full whatever it shows, so a page holds
the same watches before and after a button is pressed. A channel whose watches go on
past the page says how many more. Every watch is paged and counted from a few columns
(Listed); only those a page shows are read in full (WatchRow), and listed by the lines
``/online watches`` shows (bot/render/watches.py ``row_text``: escaped, every text cut),
with the alert's sparkline (bot/render/alerts.py ``trend``); blocks come from
bot/render/blocks.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.commands.durations import format_duration
from bot.commands.values import MAX_WATCH_ID
from bot.render.alerts import MUTE_BUTTON_SECONDS, trend
from bot.render.blocks import (
    MAX_VIEW_BLOCKS,
    Block,
    Message,
    View,
    actions,
    button,
    channel_or_code,
    confirm,
    context,
    divider,
    header,
    home_view,
    input_block,
    message,
    modal_view,
    section,
    text_input,
)
from bot.render.escape import cut, date_token, escape_mrkdwn
from bot.render.watches import RowCaps, WatchRow, row_text
from bot.render.words import display_name, group_ref

__all__ = [
    "FRAME_BLOCKS",
    "HOME_LOOKUP_ACTION",
    "HOME_MUTE_ACTION",
    "HOME_NEXT_ACTION",
    "HOME_PREVIOUS_ACTION",
    "HOME_REFRESH_ACTION",
    "HOME_UNMUTE_ACTION",
    "HOME_UNWATCH_ACTION",
    "LOOKUP_CALLBACK",
    "LOOKUP_GROUP_ID",
    "LOOKUP_MARK",
    "MAX_PAGE_WATCHES",
    "HomePage",
    "Listed",
    "page_number",
    "page_of",
    "parse_watch_value",
    "render_changed_from_home",
    "render_home",
    "render_home_unavailable",
    "render_lookup_modal",
]

#: action_ids of a watch's buttons in the Home; each button's value is the watch's ID.
HOME_MUTE_ACTION = "home_mute"
HOME_UNMUTE_ACTION = "home_unmute"
HOME_UNWATCH_ACTION = "home_unwatch"
#: action_ids of the Home's own buttons: the lookup modal, and the page to show (value).
HOME_LOOKUP_ACTION = "home_lookup"
HOME_REFRESH_ACTION = "home_refresh"
HOME_NEXT_ACTION = "home_next"
HOME_PREVIOUS_ACTION = "home_previous"
#: The lookup modal's callback_id, and its fields (each the block_id and the action_id of
#: its input, as FormError names them).
LOOKUP_CALLBACK = "online_lookup"
LOOKUP_GROUP_ID = "group_id"
LOOKUP_MARK = "mark"

#: Blocks kept for the frame: header, summary, buttons, a notice (2), attention, divider,
#: "more in this channel", the page line and its buttons.
FRAME_BLOCKS = 10
NOTICE_BLOCKS = 2
#: Blocks a watch takes (its lines, its buttons), and a channel's heading.
WATCH_BLOCKS = 2
CHANNEL_BLOCKS = 1
#: Watches on one page at most, however few channels they are in.
MAX_PAGE_WATCHES = 40
#: Watches named under "Needs attention" at most.
MAX_ATTENTION = 10

#: How long each text of a watch's lines may be (no last change: the Home does not read it).
_HOME_CAPS = RowCaps(name=80, rule=200, error=200, change=0, reason=100)
_PAGE_BLOCKS = MAX_VIEW_BLOCKS - FRAME_BLOCKS
_STATES = (
    ("firing", "🔴", "firing"),
    ("error", "⚠️", "in error"),
    ("pending", "🟡", "pending"),
    ("ok", "🟢", "OK"),
    ("muted", "🔇", "muted"),
    ("paused", "⏸️", "paused"),
)
_ATTENTION = {"firing": "🔴", "error": "⚠️"}
_EMPTY = (
    "No watches yet. In a channel, `/online watch @TGS#… below 100` starts one; its alerts "
    "go to that channel, and every watch shows here."
)


@dataclass(frozen=True, slots=True)
class Listed:
    """A watch as far as the Home pages and counts it: every watch of the workspace is read
    this far; the few a page shows, in full (WatchRow)."""

    watch_id: int
    channel_id: str
    status: str  # ok, pending, firing, error
    muted: bool = False  # (now)
    paused: bool = False  # Slack refused to post in its channel


@dataclass(frozen=True, slots=True)
class HomePage:
    """One page of the workspace's watches, and what the Home says of all of them."""

    shown: tuple[Listed, ...]  # this page's watches, by channel then ID
    number: int  # 0-based
    pages: int
    first: int  # how many watches come before this page
    total: int
    per_channel: Mapping[str, int]  # watches of each channel, on every page
    states: Mapping[str, int]  # watches by state (and muted, paused)
    attention: tuple[Listed, ...]  # firing or failing watches, on any page (the first few)
    attention_total: int
    continued: bool  # the page's first channel began on the page before
    more_in_last_channel: int  # the page's last channel's watches on later pages

    @property
    def wanted(self) -> list[int]:
        """The watches whose rows :func:`render_home` needs: the page's and those named
        under "Needs attention"."""
        return list(dict.fromkeys(item.watch_id for item in (*self.shown, *self.attention)))


def _ordered(listed: Sequence[Listed]) -> list[Listed]:
    return sorted(listed, key=lambda item: (item.channel_id, item.watch_id))


def _page_starts(rows: Sequence[Listed]) -> list[int]:
    """Where each page begins: as many watches as fit in the blocks the frame leaves."""
    starts, used, count, previous = [0], 0, 0, None
    for index, row in enumerate(rows):
        cost = WATCH_BLOCKS + (CHANNEL_BLOCKS if count == 0 or row.channel_id != previous else 0)
        if count and (count == MAX_PAGE_WATCHES or used + cost > _PAGE_BLOCKS):
            starts.append(index)
            used, count, cost = 0, 0, WATCH_BLOCKS + CHANNEL_BLOCKS
        used += cost
        count += 1
        previous = row.channel_id
    return starts


def _state_counts(listed: Sequence[Listed]) -> Counter[str]:
    counts: Counter[str] = Counter(item.status for item in listed)
    counts["muted"] = sum(1 for item in listed if item.muted)
    counts["paused"] = sum(1 for item in listed if item.paused)
    return counts


def page_of(listed: Sequence[Listed], number: int) -> HomePage:
    """Page ``number`` (clamped to the pages there are) of ``listed``, every watch of the
    workspace, grouped by channel."""
    ordered = _ordered(listed)
    starts = _page_starts(ordered)
    number = max(0, min(number, len(starts) - 1))
    first = starts[number]
    end = starts[number + 1] if number + 1 < len(starts) else len(ordered)
    shown = ordered[first:end]
    alerting = [item for item in ordered if item.status in _ATTENTION and not item.paused]
    more = 0
    if shown:
        last = shown[-1].channel_id
        while end + more < len(ordered) and ordered[end + more].channel_id == last:
            more += 1
    return HomePage(
        shown=tuple(shown),
        number=number,
        pages=len(starts),
        first=first,
        total=len(ordered),
        per_channel=Counter(item.channel_id for item in ordered),
        states=_state_counts(ordered),
        attention=tuple(alerting[:MAX_ATTENTION]),
        attention_total=len(alerting),
        continued=bool(shown)
        and first > 0
        and ordered[first - 1].channel_id == shown[0].channel_id,
        more_in_last_channel=more,
    )


def _watches(n: int) -> str:
    return f"{n:,} watch" if n == 1 else f"{n:,} watches"


def _more(n: int) -> str:
    return f"{n:,} more watch" if n == 1 else f"{n:,} more watches"


def _summary(page: HomePage, now: float) -> str:
    channels = len(page.per_channel)
    parts = [f"*{_watches(page.total)}* in {channels:,} channel{'s' if channels != 1 else ''}"]
    parts += [
        f"{emoji} {page.states[key]:,} {word}"
        for key, emoji, word in _STATES
        if page.states.get(key)
    ]
    parts.append(f"updated {date_token(now)}")
    return " · ".join(parts)


def _home_buttons(page_number: int) -> Block:
    return actions(
        "home_actions",
        [
            button("Look up a group", HOME_LOOKUP_ACTION, "lookup", style="primary"),
            button("Refresh", HOME_REFRESH_ACTION, _page_value(page_number)),
        ],
    )


def _attention(page: HomePage, rows: Mapping[int, WatchRow]) -> Block | None:
    named = [rows[item.watch_id] for item in page.attention if item.watch_id in rows]
    named = [row for row in named if row.status in _ATTENTION]  # (still, as read)
    if not named:
        return None
    lines = ["*Needs attention*"]
    for row in named:
        where = channel_or_code(row.channel_id)
        what = group_ref(row.group_id, row.group_name, 40)
        lines.append(f"{_ATTENTION[row.status]} *#{row.watch_id}* {what} in {where}")
    hidden = page.attention_total - len(named)
    if hidden:
        lines.append(f"…and {hidden:,} more")
    return section("\n".join(lines))


def _channel_heading(channel_id: str, count: int, continued: bool) -> Block:
    more = " (continued)" if continued else ""
    return section(f"*{channel_or_code(channel_id)}*{more} · {_watches(count)}")


def _watch_text(row: WatchRow, now: float) -> str:
    text = row_text(row, now, _HOME_CAPS)
    recent = trend(row.samples)
    return f"{text}\nRecent counts: {recent}" if recent else text


def _watch_buttons(row: WatchRow) -> Block:
    value = str(row.watch_id)
    if row.paused_reason:
        toggle = button("Resume", HOME_UNMUTE_ACTION, value)
    elif row.muted_until is not None:
        toggle = button("Unmute", HOME_UNMUTE_ACTION, value)
    else:
        toggle = button(f"Mute {format_duration(MUTE_BUTTON_SECONDS)}", HOME_MUTE_ACTION, value)
    name = cut(display_name(row.group_id, row.group_name), 120)
    stop = confirm(
        "Stop watching?",
        f"Stop watching {name} (watch #{row.watch_id})? Its channel gets no more alerts about it.",
        "Unwatch",
        "Cancel",
        style="danger",
    )
    unwatch = button("Unwatch", HOME_UNWATCH_ACTION, value, style="danger", confirm=stop)
    return actions(f"home_watch_{row.watch_id}", [toggle, unwatch])


def _page_blocks(page: HomePage, rows: Mapping[int, WatchRow], now: float) -> list[Block]:
    blocks: list[Block] = []
    previous = None
    for index, item in enumerate(page.shown):
        row = rows.get(item.watch_id)
        if row is None:  # removed since it was listed
            continue
        if row.channel_id != previous:
            continued = index == 0 and page.continued
            count = page.per_channel[row.channel_id]
            blocks.append(_channel_heading(row.channel_id, count, continued))
            previous = row.channel_id
        blocks += [section(_watch_text(row, now)), _watch_buttons(row)]
    if page.more_in_last_channel:
        channel = channel_or_code(page.shown[-1].channel_id)
        blocks.append(
            context(f"…and {_more(page.more_in_last_channel)} in {channel} on the next page")
        )
    return blocks


def _paging(page: HomePage) -> list[Block]:
    if page.pages <= 1:
        return []
    last = page.first + len(page.shown)
    line = (
        f"Page {page.number + 1} of {page.pages} · watches {page.first + 1:,} to {last:,} "
        f"of {page.total:,}"
    )
    buttons = []
    if page.number > 0:
        buttons.append(button("Previous", HOME_PREVIOUS_ACTION, _page_value(page.number - 1)))
    if page.number + 1 < page.pages:
        buttons.append(button("Next", HOME_NEXT_ACTION, _page_value(page.number + 1)))
    return [context(line), actions("home_pages", buttons)]


def _page_value(page_number: int) -> str:
    """``{"page": 2}``: the Home's private_metadata, and the value of the buttons that show
    a page (read back by :func:`page_number`)."""
    return json.dumps({"page": page_number}, separators=(",", ":"))


def render_home(
    page: HomePage, rows: Mapping[int, WatchRow], *, now: float, notice: Message | None = None
) -> View:
    """The Home tab: ``page`` of the workspace's watches, shown from ``rows`` (by watch ID:
    those of ``page.wanted``; one missing was removed meanwhile and is left out);
    ``notice`` (what a button did, or why it did nothing) at the top."""
    blocks: list[Block] = [header("Audience watches")]
    blocks.append(context(_summary(page, now) if page.total else _EMPTY))
    blocks.append(_home_buttons(page.number))
    if notice is not None:
        blocks += notice.blocks[:NOTICE_BLOCKS]
    attention = _attention(page, rows)
    if attention is not None:
        blocks.append(attention)
    if page.shown:
        blocks.append(divider())
        blocks += _page_blocks(page, rows, now)
        blocks += _paging(page)
    return home_view(blocks, private_metadata=_page_value(page.number))


def render_home_unavailable(text: str, *, notice: Message | None = None) -> View:
    """The Home tab without watches to show (``text`` says why), the lookup still offered."""
    blocks: list[Block] = [header("Audience watches"), section(f":warning: {escape_mrkdwn(text)}")]
    blocks.append(_home_buttons(0))
    if notice is not None:
        blocks += notice.blocks[:NOTICE_BLOCKS]
    return home_view(blocks, private_metadata=_page_value(0))


def render_lookup_modal() -> View:
    """The "Look up a group" modal: a group ID, an optional mark; the answer goes to the DM."""
    return modal_view(
        "Look up a group",
        [
            input_block(
                LOOKUP_GROUP_ID,
                "Group ID",
                text_input(LOOKUP_GROUP_ID, placeholder="@TGS#a6I4ZUUGO"),
                hint="As the Chat console shows it.",
            ),
            input_block(
                LOOKUP_MARK,
                "Mark",
                text_input(LOOKUP_MARK, placeholder="1000"),
                optional=True,
                hint="Only members carrying this mark (audio-video and Community groups).",
            ),
            context(
                escape_mrkdwn(
                    "The answer arrives in your direct messages with the bot, as "
                    "`/online <groupId> [mark]` gives it, with the full list as a CSV file "
                    "when it is long."
                )
            ),
        ],
        callback_id=LOOKUP_CALLBACK,
        submit="Look up",
        close="Cancel",
    )


def render_changed_from_home(notice: Message) -> Message:
    """A change made in the App Home (``notice``: what it did), as its channel is told."""
    blocks = [*notice.blocks, context("Changed from the bot's App Home.")]
    return message(f"{notice.text} (from the App Home)", blocks)


def page_number(value: object) -> int:
    """The page a Home showed (its private_metadata, as it came back) or a paging button
    asks for (its value); 0 if unreadable."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return 0
    number = data.get("page") if isinstance(data, dict) else None
    return number if type(number) is int and number >= 0 else 0


def parse_watch_value(value: str) -> int:
    """The watch ID a Home button carries; ValueError if it is not one (values can be
    copied and edited)."""
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_WATCH_ID)):
        raise ValueError(f"Not a watch button value: {value!r}")
    watch_id = int(value)
    if not 1 <= watch_id <= MAX_WATCH_ID:
        raise ValueError(f"Not a watch button value: {value!r}")
    return watch_id
