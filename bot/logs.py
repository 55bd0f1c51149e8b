"""Logging set-up: text or JSON lines, the context at hand, and secrets scrubbed from
every record.

The Tencent client never logs its URL, but libraries might (urllib3 logs request
lines at DEBUG): the filter below removes any ``usersig=`` or ``Sign=`` query value
and anything that looks like a Slack token from every record, whoever wrote it; and
the secrets the settings hold (``configure_logging(secrets=...)``), wherever they appear.

With ``LOG_FORMAT=json`` each record is one JSON object on one line: ``time`` (UTC, ISO
8601), ``level``, ``logger``, ``message``, ``exception`` (a traceback, if any), and the
context at hand (``CONTEXT_FIELDS``): the process's own (``replica``, see
``set_fields``), what a block of code works on (``with log_context(group_id=...)``), or
what a log call passes (``extra={"tencent_request_id": ...}``). Every string in it is
scrubbed like the text.

An unexpected failure is logged with its traceback under a short random reference
(:func:`log_unexpected`), which the user is shown, so that what they quote can be
found in the log.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "LogFormat",
    "RedactSecrets",
    "configure_logging",
    "holding",
    "json_lines",
    "log_context",
    "log_unexpected",
    "note",
    "redact",
    "set_fields",
]

LogFormat = Literal["text", "json"]

#: What a JSON line may carry besides time, level, logger and message: what the bot was
#: working on (a group, a watch), which process (replica), and the ids Slack and Tencent
#: give a request (Slack's x-slack-req-id, Tencent's RequestId), to look it up with them.
CONTEXT_FIELDS = (
    "replica",
    "group_id",
    "watch_id",
    "slack_request_id",
    "tencent_request_id",
    "ref",
)

_PATTERNS = [
    (re.compile(r"(usersig=)[^&\s\"']+", re.IGNORECASE), r"\1<redacted>"),
    (re.compile(r"(\bSign=)[^&\s\"']+"), r"\1<redacted>"),  # a Tencent callback's
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]+"), "xox?-<redacted>"),
    (re.compile(r"xapp-[A-Za-z0-9-]+"), "xapp-<redacted>"),
]

#: Configured secrets shorter than this are not scrubbed as text: "abc" would mangle
#: every line (their patterns above still apply).
MIN_SCRUBBED_SECRET = 6

_secrets: tuple[str, ...] = ()
_fields: dict[str, str] = {}
_context: ContextVar[Mapping[str, object]] = ContextVar("log_context", default=MappingProxyType({}))
_json = False


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in _secrets:
        text = text.replace(secret, "<redacted>")
    return text


def log_unexpected(logger: logging.Logger, what: str) -> str:
    """Log the exception being handled, traceback included, at ERROR as ``what (ref 7f3a2c)``;
    returns the reference (six hex digits) for the user to quote."""
    ref = secrets.token_hex(3)
    logger.error("%s (ref %s)", what, ref, exc_info=True, extra={"ref": ref})
    return ref


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Every record logged inside (in this thread, or task) carries ``fields`` (None ones
    are left out), e.g. ``with log_context(group_id=...)`` around a check."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def set_fields(**fields: str) -> None:
    """Fields every record of this process carries from now on (``replica``)."""
    _fields.update(fields)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class AddContext(logging.Filter):
    """The process's fields and the context at hand, as record attributes (a log call's
    own ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for fields in (_context.get(), _fields):
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; every string in it scrubbed (``redact``)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None and value != "":
                entry[key] = value if isinstance(value, int | float) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        scrubbed = {k: redact(v) if isinstance(v, str) else v for k, v in entry.items()}
        return json.dumps(scrubbed, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """The text format, its traceback scrubbed too."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "text", *, secrets: Iterable[str] = ()
) -> None:
    """One handler on stderr, in ``log_format``, scrubbing the patterns above and
    ``secrets`` (the settings' tokens and keys) from every record."""
    global _secrets, _json
    # the longest first: a secret inside another one is scrubbed with it
    kept = {secret for secret in secrets if len(secret) >= MIN_SCRUBBED_SECRET}
    _secrets = tuple(sorted(kept, key=len, reverse=True))
    _json = log_format == "json"
    handler = logging.StreamHandler()
    if _json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    handler.addFilter(AddContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # "setup plugin alembic.autogenerate..." seven times as alembic loads
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # "Running job ..." twice a tick (every second with push on); failures still show
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


def json_lines() -> bool:
    """Whether the log is JSON lines (LOG_FORMAT=json)."""
    return _json


_notes = logging.getLogger("bot.notes")


def note(text: str, level: int = logging.INFO) -> None:
    """A note for the operator ("HTTP mode on port 3000"), whatever the log level: as it
    is on stderr, or as one JSON line with LOG_FORMAT=json (so the stream stays JSON)."""
    if not _json:
        print(text, file=sys.stderr, flush=True)
        return
    _notes.handle(_notes.makeRecord(_notes.name, level, "(note)", 0, text, None, None))


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def holding() -> Iterator[None]:
    """Records logged inside (the settings' warnings, read before the format is known) are
    kept, and handled on leaving by the handler configured inside, if any, else by the one
    before."""
    root = logging.getLogger()
    before, held = root.handlers[:], _Held()
    root.handlers[:] = [held]
    try:
        yield
    finally:
        if root.handlers == [held]:
            root.handlers[:] = before
        for record in held.records:
            logging.getLogger(record.name).handle(record)
