"""What a failed Slack Web API call said, read defensively.

Slack answers ``{"ok": false, "error": "not_in_channel"}``; slack_sdk puts a body it
could not parse (an HTML error page from a proxy, malformed JSON) in that same field
as a long sentence, and may hold something other than a dict. :func:`error_code`
returns Slack's code, or None when there is none to show.
"""

from __future__ import annotations

import re

from slack_sdk.errors import SlackApiError

__all__ = ["UnreadableAnswer", "error_code"]

#: Slack's error codes: ``not_in_channel``, ``ratelimited``, ``missing_scope``...
_CODE = re.compile(r"[a-z0-9_]{1,64}")


class UnreadableAnswer(ValueError):
    """Slack said ``ok`` but left out what the call needs (a channel, a ts)."""


def error_code(error: SlackApiError) -> str | None:
    """Slack's error code in ``error``; None when its answer could not be read."""
    data = getattr(error.response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and _CODE.fullmatch(code) else None
