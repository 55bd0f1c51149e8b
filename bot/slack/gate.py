"""What reaches bolt over HTTP: requests Slack signed, recently, with a body bolt can read.

The signature is checked on the raw bytes before anything parses them, so junk from
anyone without the signing secret costs one HMAC and gets 401; a signed body that bolt
cannot read (not JSON where JSON belongs, not an object) gets 400. No I/O: the caller
reads the body and passes ``now``. (slack_sdk's SignatureVerifier, which bolt uses, takes
the body as text and raises on a timestamp that is not a number: a 500 with a traceback.)

    Refused            the request is not handed to bolt; ``status`` is the HTTP answer
    ├── Unsigned       401: no timestamp, a stale one, or a signature that does not match
    └── Malformed      400: signed, but not a body bolt can read
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from slack_bolt.request import BoltRequest

__all__ = ["MAX_AGE_SECONDS", "Malformed", "Refused", "Unsigned", "bolt_request", "verify"]

#: Slack's rule: a request signed longer ago than this is refused (replays).
MAX_AGE_SECONDS = 5 * 60


class Refused(Exception):
    """Not handed to bolt; the message is one line for the log, without the body."""

    status = 400


class Unsigned(Refused):
    status = 401


class Malformed(Refused):
    status = 400


def verify(
    body: bytes, timestamp: str | None, signature: str | None, secret: str, now: float
) -> None:
    """Raise Unsigned unless ``signature`` is Slack's v0 signature of ``body`` at a recent
    ``timestamp`` (the X-Slack-Request-Timestamp and X-Slack-Signature headers)."""
    if not secret:
        raise ValueError("a signing secret is required")
    if not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        raise Unsigned("no valid X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise Unsigned("X-Slack-Request-Timestamp is more than 5 minutes away")
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
    given = (signature or "").encode("latin-1", "replace")  # WSGI headers are latin-1
    if not hmac.compare_digest(expected, given):
        raise Unsigned("X-Slack-Signature does not match")


def bolt_request(
    body: bytes, query: str, headers: Mapping[str, str | Sequence[str]]
) -> BoltRequest:
    """The request as bolt reads it; Malformed if bolt cannot (it parses in the constructor)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    try:
        request = BoltRequest(body=text, query=query, headers=dict(headers))
    except ValueError as exc:  # not JSON where JSON belongs (JSONDecodeError)
        raise Malformed(f"the body is not what Slack sends ({type(exc).__name__})") from None
    except (AttributeError, TypeError, KeyError, IndexError):  # JSON, but not an object
        raise Malformed("the body is not a JSON object where Slack sends one") from None
    unreadable = _unreadable(request.body)
    if unreadable:
        raise Malformed(unreadable)
    return request


#: Payload types whose ``actions`` bolt's matchers read (``actions[0]``...) unguarded.
_PRESSES = ("block_actions", "interactive_message")


def _unreadable(body: dict[str, object]) -> str | None:
    """Why bolt would fail on this parsed body (a traceback, a 500); None if it will not."""
    # bolt reads these whenever they are present, whatever the type (an event callback's
    # event always); null included
    for field in ("event", "view"):
        needed = field in body or (field == "event" and body.get("type") == "event_callback")
        if needed and not isinstance(body.get(field), dict):
            return f"its {field} is not a JSON object"
    if body.get("type") in _PRESSES:
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions):
            return "a button press without actions"
        for action in actions:
            if not isinstance(action, dict):
                return "a button press whose actions are not JSON objects"
            if body["type"] == "block_actions" and not isinstance(action.get("action_id"), str):
                return "a button press without an action_id"
    return None
