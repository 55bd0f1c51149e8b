"""Making untrusted text safe for Slack, and cutting text to Slack's limits.

Slack's mrkdwn gives meaning to exactly three characters, ``&``, ``<`` and ``>``:
``<!channel>`` pings a channel and ``<https://x|click>`` hides a link behind a
label. Escaping those three makes any text show literally; nothing else needs
neutralising (``*bold*`` in a nickname only looks bold).

Cutting: :func:`cut` for raw text, :func:`escape_cut` / :func:`escape_line` for raw
text about to become mrkdwn (never cut inside an entity), :func:`cut_mrkdwn` for
mrkdwn already written (never cut inside an entity or a ``<...>`` token). Every cut
ends with an ellipsis. Pure code.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = [
    "DATE_FORMAT",
    "cut",
    "cut_mrkdwn",
    "date_token",
    "escape_cut",
    "escape_line",
    "escape_mrkdwn",
    "plain",
    "single_line",
    "utc_text",
]

#: How Slack shows a date token in each reader's own time zone.
DATE_FORMAT = "{date_short_pretty} {time}"

_MRKDWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_mrkdwn(s: str) -> str:
    """Escape ``&``, ``<`` and ``>`` (and only those) so ``s`` shows literally in mrkdwn."""
    return s.translate(_MRKDWN)


#: Unicode's control characters (category Cc, closed by Unicode's stability policy).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def plain(s: str) -> str:
    """Text for a ``plain_text`` field: control characters removed, nothing escaped."""
    return _CONTROL.sub("", s)


def single_line(s: str) -> str:
    """Control characters (newlines, tabs...) as spaces, ends trimmed: one line."""
    if s.isprintable():  # no control character (most text): only the ends to trim
        return s.strip()
    return _CONTROL.sub(" ", s).strip()


def utc_text(unix: float, *, seconds: bool = False) -> str:
    """``2022-07-14 04:31 UTC``; an impossible timestamp comes back as its number."""
    try:
        moment = datetime.fromtimestamp(unix, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(unix)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def date_token(unix: float, fallback: str | None = None) -> str:
    """``<!date^1657773110^{date_short_pretty} {time}|2022-07-14 04:31 UTC>``.

    Slack shows it in the reader's time zone; clients that cannot show ``fallback``,
    which defaults to the UTC time.
    """
    text = utc_text(unix) if fallback is None else fallback
    text = escape_mrkdwn(plain(text)).replace("|", "/")
    return f"<!date^{int(unix)}^{DATE_FORMAT}|{text}>"


def cut(text: str, limit: int) -> str:
    """``text`` cut with an ellipsis to at most ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_cut(text: str, limit: int) -> str:
    """``text`` escaped, cut with an ellipsis so the escaped form is at most ``limit`` long
    (never in the middle of an entity such as ``&amp;``)."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    size = 0
    for i, ch in enumerate(text):
        size += len(escape_mrkdwn(ch))
        if size > limit - 1:
            return escape_mrkdwn(text[:i]) + "…"
    return escaped


def escape_line(text: str, limit: int) -> str:
    """``text`` on one line, escaped, cut so the escaped form is at most ``limit`` long."""
    return escape_cut(single_line(text), limit)


def cut_mrkdwn(text: str, limit: int) -> str:
    """mrkdwn ``text`` cut with an ellipsis to at most ``limit`` characters, never inside
    an entity (``&amp;``) or a token (``<!date^...>``, ``<@U1>``): a cut one is dropped."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - 1)]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    lt = head.rfind("<")
    if lt != -1 and ">" not in head[lt:]:
        head = head[:lt]
    return head + "…"
