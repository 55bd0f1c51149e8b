"""Who is online, as a Slack message (Block Kit) and as CSV. Pure code: ``now`` is passed in.

Every block comes from :mod:`bot.render.blocks`, which keeps to Slack's limits;
member lines are packed into sections and stay within TEXT_BUDGET.

Nicknames and accounts come from a chat app's users: everything they wrote is
escaped, and mrkdwn text carries ``verbatim: true`` so Slack links or parses
nothing in it. When a page of long names would not fit, names are shortened
first; only then are fewer members shown, and the message says so.
"""

from __future__ import annotations

import functools
import json
import time

from bot.commands.durations import format_age
from bot.render.blocks import (
    MAX_BUTTON_VALUE,
    TEXT_BUDGET,
    Block,
    Message,
    actions,
    button,
    code,
    context,
    divider,
    header,
    message,
    pack,
    section,
    text_chars,
)
from bot.render.escape import cut, date_token, escape_cut, escape_mrkdwn, plain, single_line
from bot.render.words import group_ref, group_title, plural
from bot.tencent.models import (
    COMMUNITY,
    LOWER_EDITION_CAP,
    MEMBER_LIST_CAP,
    GroupInfo,
    Member,
    MemberCheck,
    OnlineMembers,
)

__all__ = [
    "CSV_HEADER",
    "NEXT_PAGE_ACTION",
    "PAGE_SIZE",
    "PREVIOUS_PAGE_ACTION",
    "SNAPSHOT_SECONDS",
    "count_freshness",
    "members_csv",
    "page_value",
    "render_count_only",
    "render_error",
    "render_help",
    "render_looking_up",
    "render_member_check",
    "render_online",
    "spreadsheet_safe",
]

#: Members per page unless the caller says otherwise.
PAGE_SIZE = 50
#: Tencent's online list is a cached snapshot refreshed about this often.
SNAPSHOT_SECONDS = 40
#: action_id of the paging buttons; their value is page_value(...).
NEXT_PAGE_ACTION = "online_next_page"
PREVIOUS_PAGE_ACTION = "online_prev_page"
CSV_HEADER = ("account", "nickname", "avatar", "join_time_utc")
_CSV_HEADER_ROW = ",".join(f'"{name}"' for name in CSV_HEADER) + "\r\n"

#: Nickname lengths tried in turn until a page fits in TEXT_BUDGET.
_NICKNAME_CAPS = (64, 40, 24, 16)
_ACCOUNT_CAP = 48
#: Text kept free for the "Showing..." line and notes added after the members are packed.
_RESERVE = 400
#: A list older than this when rendered came from a cache: say how old.
_CACHED_AFTER = 60


# --------------------------------------------------------------------------- paging


def page_value(group_id: str, mark: int | None, page: int) -> str:
    """The value of a paging button: compact JSON ``{"g": group, "m": mark, "p": page}``."""
    return json.dumps({"g": group_id, "m": mark, "p": page}, separators=(",", ":"))


# --------------------------------------------------------------------------- the answer


def render_online(
    result: OnlineMembers,
    *,
    group: GroupInfo | None,
    online_count: int | None,
    now: float,
    page: int = 0,
    page_size: int = PAGE_SIZE,
    file_note: str | None = None,
) -> Message:
    """One page of a group's online list, with the count, its caveats and paging buttons.

    ``online_count`` is the exact count when known (None: only the list's length is
    known). ``page`` is clamped to the pages there are.
    """
    page_size = max(1, page_size)
    members = result.members
    listed = len(members)
    last_page = max(0, (listed - 1) // page_size)
    page = min(max(0, page), last_page)
    start = page * page_size
    on_page = members[start : start + page_size]

    name = single_line(group.name) if group is not None else ""
    gid = result.group_id
    where, title = _where(gid, group)

    if online_count is not None:
        summary = f"*{online_count:,} online* in {where}"
        if online_count != listed or result.capped or result.edition_limited or result.partial:
            summary += f" · {plural(listed, 'member')} in the list"
        fallback = f"{online_count:,} online in {title}"
    else:
        summary = f"*{plural(listed, 'member')} in the online list* of {where}"
        fallback = f"{listed:,} in the online list of {title}"
    lines = [summary]
    if result.mark is not None:
        lines.append(f"Only members with mark {result.mark}.")
    fetched = result.fetched_at if result.fetched_at > 0 else now
    taken = f"List taken {date_token(int(fetched))}"
    age = int(now - fetched)
    if age >= _CACHED_AFTER:
        taken += f" (a saved copy, {format_age(age)} old when you asked)"
    lines.append(
        f"{taken}: Tencent's list is a snapshot, up to {SNAPSHOT_SECONDS} s old, so people "
        f"who just joined or left may not show yet."
    )

    blocks: list[Block] = [
        header(f"Online in {name or gid}"),
        section("\n".join(lines)),
    ]
    for note in _notes(result, online_count, listed):
        blocks.append(section(note))
    if online_count is not None and group is not None and group.type == COMMUNITY:
        blocks.append(section(f"{count_freshness(group)}."))
    blocks.append(divider())

    tail: list[Block] = []
    if file_note:
        tail.append(context(f":paperclip: {escape_cut(single_line(file_note), 500)}"))
    budget = TEXT_BUDGET - text_chars(blocks) - text_chars(tail) - _RESERVE
    member_lines, shortened = _member_lines(on_page, budget)
    shown = len(member_lines)

    if not on_page:
        empty = "Nobody is in the online list right now."
        if online_count:
            empty += (
                f" The count says {online_count:,}: the list lags by up to "
                f"{SNAPSHOT_SECONDS} s, so ask again in a minute."
            )
        blocks.append(section(empty))
    for chunk in pack(member_lines):
        blocks.append(section(chunk))

    notes: list[str] = []
    if shown < listed:
        notes.append(f"Showing {start + 1:,}\u2013{start + shown:,} of {listed:,}")
    if shown < len(on_page):
        notes.append(
            f"{len(on_page) - shown:,} more on this page did not fit in one Slack message: "
            f"their names are very long" + ("; see the attached file" if file_note else "")
        )
    elif shortened:
        notes.append("Long names are shortened with …")
    if notes:
        blocks.append(context(" · ".join(notes)))

    pages: list[tuple[str, str, str]] = []
    if page > 0:
        pages.append(("Previous", PREVIOUS_PAGE_ACTION, page_value(gid, result.mark, page - 1)))
    if start + page_size < listed:
        label = f"Next {page_size}"
        pages.append((label, NEXT_PAGE_ACTION, page_value(gid, result.mark, page + 1)))
    if pages and all(len(value) <= MAX_BUTTON_VALUE for _, _, value in pages):
        blocks.append(actions("online_pages", [button(*spec) for spec in pages]))
    blocks.extend(tail)
    return message(escape_mrkdwn(fallback), blocks)


def _notes(result: OnlineMembers, online_count: int | None, listed: int) -> list[str]:
    notes: list[str] = []
    if result.capped:
        exact = (
            f"the count of {online_count:,} is exact."
            if online_count is not None
            else f"at least {listed:,} people are online."
        )
        notes.append(
            f":warning: Tencent returns only the {MEMBER_LIST_CAP:,} most recent members, so "
            f"this list is partial; {exact}"
        )
    if result.edition_limited:
        if online_count is not None and online_count > LOWER_EDITION_CAP:
            head = f"Only {LOWER_EDITION_CAP} of {online_count:,} are listed"
        else:
            head = f"Tencent listed exactly {LOWER_EDITION_CAP}, so there may be more"
        notes.append(
            f":information_source: {head}: editions below Pro return at most the "
            f"{LOWER_EDITION_CAP} latest members. To list everyone, use the Pro, Pro Plus or "
            f'Enterprise edition and enable "List of online audio-video group members" in the '
            f"Chat console."
        )
    if result.partial:
        pages = plural(result.pages, "page")
        notes.append(
            f":warning: Incomplete list: Tencent stopped paging after {pages} "
            f"({result.partial.explanation}); these are the members it sent. Ask again in a minute."
        )
    if (
        online_count is not None
        and online_count != listed
        and not result.capped
        and not result.edition_limited
        and not result.partial
        and listed
    ):
        notes.append(
            f"The count and the list can differ a little: the list is a snapshot up to "
            f"{SNAPSHOT_SECONDS} s old."
        )
    return notes


def _member_line(member_nickname: str, account: str, join_time: int, cap: int) -> str:
    nick = cut(single_line(member_nickname), cap)
    acct = code(account, _ACCOUNT_CAP)
    joined = f"joined {date_token(join_time)}"
    if not nick:
        return f"• {acct} · {joined}"
    nick_text = escape_mrkdwn(nick)
    if "*" not in nick:
        nick_text = f"*{nick_text}*"
    return f"• {nick_text} — {acct} · {joined}"


def _member_lines(members: tuple[Member, ...], budget: int) -> tuple[list[str], bool]:
    """Lines for ``members`` within ``budget`` characters, and whether names were shortened.

    Names are shortened step by step; if even the shortest do not fit, the lines
    that fit are returned (the caller says how many were left out).
    """
    lines: list[str] = []
    for cap in _NICKNAME_CAPS:
        lines = [_member_line(m.nickname, m.account, m.join_time, cap) for m in members]
        if sum(len(line) + 1 for line in lines) <= budget:
            shortened = any(len(single_line(m.nickname)) > cap for m in members)
            return lines, shortened
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return kept, True


# --------------------------------------------------------------------------- counts, checks


def count_freshness(group: GroupInfo | None) -> str:
    """How fresh Tencent's count is, as the end of a sentence."""
    if group is not None and group.type == COMMUNITY:
        return "Tencent refreshes a Community's count about every 4 minutes"
    return "Tencent refreshes the count about every 10 s"


def _where(group_id: str, group: GroupInfo | None) -> tuple[str, str]:
    """``*Name* (`id`)`` for mrkdwn, and ``Name (id)`` for the fallback text."""
    name = group.name if group is not None else None
    return group_ref(group_id, name), group_title(group_id, name)


def render_count_only(group: GroupInfo, online_count: int, *, now: float) -> Message:
    """The exact count of a group Tencent counts but does not list (Public, Meeting...)."""
    where, title = _where(group.group_id, group)
    kind = escape_cut(single_line(group.type), 40) or "non audio-video"
    lines = [
        f"*{online_count:,} online* in {where}",
        f"Tencent lists members only for audio-video and Community groups; this is a {kind} "
        "group: count only.",
        f"Counted {date_token(int(now))}; {count_freshness(group)}.",
    ]
    title_text = f"Online in {single_line(group.name) or group.group_id}"
    blocks: list[Block] = [
        header(title_text),
        section("\n".join(lines)),
    ]
    return message(escape_mrkdwn(f"{online_count:,} online in {title}"), blocks)


#: Characters of a member check's message kept for everything but the account lists.
_CHECK_RESERVE = 1500
_ACCOUNTS_A_ROW = 20


def render_member_check(check: MemberCheck, group: GroupInfo | None, *, now: float) -> Message:
    """Which of the asked accounts are in the group now, and which are not."""
    where, title = _where(check.group_id, group)
    asked = len(check.present) + len(check.absent)
    if asked == 1:
        summary = f"*{'In' if check.present else 'Not in'}* {where} now"
    else:
        summary = f"*{len(check.present):,} of {asked:,}* are in {where} now"
    checked = check.checked_at if check.checked_at > 0 else now
    lines = [
        summary,
        f"Checked {date_token(int(checked))}: Tencent's answer is a snapshot, up to "
        f"{SNAPSHOT_SECONDS} s old, so people who just joined or left may not show yet. It "
        f"sees every member, those past the list's {MEMBER_LIST_CAP:,} cap too.",
    ]
    name = single_line(group.name) if group is not None else ""
    blocks: list[Block] = [
        header(f"In {name or check.group_id}?"),
        section("\n".join(lines)),
    ]
    budget = TEXT_BUDGET - _CHECK_RESERVE
    left_out = 0
    for label, accounts in (
        (":white_check_mark: In the group", check.present),
        (":x: Not in the group", check.absent),
    ):
        items = [code(account, 40) for account in accounts]
        kept: list[str] = []
        for item in items:
            if len(item) + 2 > budget:
                break
            kept.append(item)
            budget -= len(item) + 2
        left_out += len(items) - len(kept)
        if kept:
            rows = [
                ", ".join(kept[i : i + _ACCOUNTS_A_ROW])
                for i in range(0, len(kept), _ACCOUNTS_A_ROW)
            ]
            lines = [f"{label} ({len(items):,}):", *rows]
            blocks.extend(section(chunk) for chunk in pack(lines))
    if left_out:
        blocks.append(
            context(
                f"{left_out:,} more accounts did not fit in one Slack message; ask about fewer."
            )
        )
    return message(escape_mrkdwn(f"{len(check.present):,} of {asked:,} in {title}"), blocks)


# --------------------------------------------------------------------------- other replies


def render_error(error_text: str) -> Message:
    """A user-facing error (escaped; line breaks kept), e.g. a UsageError or a TencentError's."""
    lines = (plain(line).rstrip() for line in error_text.replace("\r\n", "\n").split("\n"))
    kept = "\n".join(lines).strip() or "Something went wrong."
    text = escape_cut(kept, 2900)
    return message(text, [section(f":warning: {text}")])


def render_help(usage: str) -> Message:
    """The usage text in a code block (it holds no user input, but is escaped all the same)."""
    text = f"Usage of /online:\n{usage}"
    return message(text, [section(f"*Usage of* `/online`\n```{escape_mrkdwn(usage)}```")])


def render_looking_up(group_id: str, mark: int | None, *, accounts: int = 0) -> Message:
    """The immediate acknowledgement while Tencent is asked (about ``accounts``, if any)."""
    what = code(group_id)
    if mark is not None:
        what += f" (mark {mark})"
    verb = "is" if accounts == 1 else "are"
    question = f"whether {plural(accounts, 'account')} {verb}" if accounts else "who is"
    text = f":hourglass_flowing_sand: Looking up {question} online in {what}…"
    return message(text, [context(text)])


# --------------------------------------------------------------------------- CSV

#: What a spreadsheet runs as a formula when a cell starts with it.
_FORMULA_STARTS = frozenset("=+-@\t\r")
#: Where a spreadsheet may start a new cell: the CSV's ``,``, but also ``;`` (Excel's
#: separator in many locales), tab, and line breaks, whatever the file itself uses.
_CELL_BREAKS = frozenset(",;\t\r\n")


def spreadsheet_safe(value: str) -> str:
    """``value`` read as text by any spreadsheet in any locale: a ``'`` goes before a
    formula start at the beginning and after every ``,`` ``;`` tab or line break (spaces
    between are skipped), so ``x;=cmd|...`` stays text where ``;`` separates cells."""
    if _CELL_BREAKS.isdisjoint(value):  # one cell (most are): only its start counts
        start = value.lstrip(" ")
        if not start or start[0] not in _FORMULA_STARTS:
            return value
    out: list[str] = []
    cell_start = True
    for ch in value:
        if cell_start and ch in _FORMULA_STARTS:
            out.append("'")
        out.append(ch)
        if ch in _CELL_BREAKS:
            cell_start = True
        elif ch != " ":
            cell_start = False
    return "".join(out)


def _csv_field(value: str) -> str:
    """``value`` as it goes between a CSV cell's quotes: :func:`spreadsheet_safe` on one
    line, ``"`` doubled. Most cells (printable, none of ``,;"``, no formula start) only
    lose the spaces at their ends."""
    if value.isprintable() and "," not in value and ";" not in value and '"' not in value:
        value = value.strip()
        if not value or value[0] not in _FORMULA_STARTS:
            return value
    return spreadsheet_safe(single_line(value)).replace('"', '""')


#: 10000-01-01T00:00:00Z: join times before it (from 1970) have a four-digit year.
_ISO_FAST_END = 253_402_300_800
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))


@functools.lru_cache(maxsize=1024)
def _iso_day(day: int) -> str:
    """``2022-07-14`` for the ``day``-th day since 1970-01-01."""
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def _iso_utc(unix: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))
    except (OverflowError, OSError, ValueError):
        return str(unix)


def _join_time_field(unix: int) -> str:
    """The join time's cell: ``2022-07-14T04:31:50Z`` (digits and ``-:TZ``, nothing to make
    safe), the C library asked once a day; an impossible timestamp, its number made safe."""
    if type(unix) is int and 0 <= unix < _ISO_FAST_END:
        day, second = divmod(unix, 86_400)
        hour, second = divmod(second, 3_600)
        minute, second = divmod(second, 60)
        two = _TWO_DIGITS
        return f"{_iso_day(day)}T{two[hour]}:{two[minute]}:{two[second]}Z"
    return _csv_field(_iso_utc(unix))


def members_csv(result: OnlineMembers) -> str:
    """Every listed member as CSV: ``account,nickname,avatar,join_time_utc`` (ISO 8601, UTC).

    Every cell is quoted and made :func:`spreadsheet_safe`. Rows end in CRLF (RFC 4180);
    no cell holds a line break (:func:`single_line`).
    """
    field, when = _csv_field, _join_time_field
    pieces = [_CSV_HEADER_ROW]  # joined once: no string a row
    for m in result.members:
        a, n, v, t = field(m.account), field(m.nickname), field(m.avatar), when(m.join_time)
        pieces += ('"', a, '","', n, '","', v, '","', t, '"\r\n')
    return "".join(pieces)
