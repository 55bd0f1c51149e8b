"""Logging set-up: one format, and secrets scrubbed from every record.

The Tencent client never logs its URL, but libraries might (urllib3 logs request
lines at DEBUG): the filter below removes any ``usersig=`` or ``Sign=`` query value
and anything that looks like a Slack token from every record, whoever wrote it.

An unexpected failure is logged with its traceback under a short random reference
(:func:`log_unexpected`), which the user is shown, so that what they quote can be
found in the log.
"""

from __future__ import annotations

import logging
import re
import secrets

__all__ = ["RedactSecrets", "configure_logging", "log_unexpected", "redact"]

_PATTERNS = [
    (re.compile(r"(usersig=)[^&\s\"']+", re.IGNORECASE), r"\1<redacted>"),
    (re.compile(r"(\bSign=)[^&\s\"']+"), r"\1<redacted>"),  # a Tencent callback's
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]+"), "xox?-<redacted>"),
    (re.compile(r"xapp-[A-Za-z0-9-]+"), "xapp-<redacted>"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def log_unexpected(logger: logging.Logger, what: str) -> str:
    """Log the exception being handled, traceback included, at ERROR as ``what (ref 7f3a2c)``;
    returns the reference (six hex digits) for the user to quote."""
    ref = secrets.token_hex(3)
    logger.error("%s (ref %s)", what, ref, exc_info=True)
    return ref


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # "Running job ..." twice a tick (every second with push on); failures still show
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
