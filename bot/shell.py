"""``online-bot shell``: the same command handlers as Slack, rendered to a terminal.

Type ``/online <groupId>`` (the ``/online`` is optional); ``next`` and ``prev``
press the paging buttons of the last answer; files Slack would receive are
written to a local folder instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.handlers import Answer, Caller, Deferred, OnlineHandlers, Reply
from bot.render.members import NEXT_PAGE_ACTION, PREVIOUS_PAGE_ACTION, Message
from bot.render.text import blocks_to_text

__all__ = ["Shell", "ShellPoster"]

PROMPT = "online> "
SHELL_CALLER = Caller(user_id="USHELL", channel_id="CSHELL")


class ShellPoster:
    """Alert messages printed to the terminal as they are delivered (the outbox's Poster)."""

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._seq = 0

    def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None, broadcast: bool
    ) -> str:
        with self._lock:
            self._seq += 1
            ts = f"{self._seq}.000000"
            where = f"in the thread of alert {thread_ts}" if thread_ts else f"alert {ts}"
            self._write(f"\n--- #{channel}: {where} ---\n{_text(payload)}\n")
        return ts

    def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._write(f"\n--- #{channel}: alert {ts} updated ---\n{_text(payload)}\n")

    def find(self, channel: str, key: str, *, since: float, thread_ts: str | None) -> str | None:
        return None  # the terminal keeps no history to look in


def _text(payload: dict[str, Any]) -> str:
    blocks = payload.get("blocks") or []
    return blocks_to_text(blocks) if blocks else str(payload.get("text", ""))


class Shell:
    """A console backend: ``execute(line)`` returns what the terminal shows."""

    def __init__(self, handlers: OnlineHandlers, files_dir: Path) -> None:
        self.handlers = handlers
        self.files_dir = files_dir
        self._buttons: dict[str, str] = {}  # action_id -> value, from the last answer

    def execute(self, line: str) -> str:
        text = line.strip()
        if text in ("next", "prev"):
            action = NEXT_PAGE_ACTION if text == "next" else PREVIOUS_PAGE_ACTION
            value = self._buttons.get(action)
            if value is None:
                return f"(no [{'Next' if text == 'next' else 'Previous'}] button to press)"
            return self._show(self._render(self.handlers.page(value)))
        if text.startswith("/online"):
            text = text.removeprefix("/online")
        outcome = self.handlers.command(text, SHELL_CALLER)
        if isinstance(outcome, Deferred):
            first = self._show(outcome.ack)
            return first + "\n" + self._show(self._render(outcome.work()))
        return self._show(outcome.message)

    def loop(
        self, read: Callable[[str], str] = input, write: Callable[[str], None] = print
    ) -> None:
        while True:
            try:
                line = read(PROMPT)
            except (EOFError, KeyboardInterrupt):
                write("")
                return
            if line.strip() in ("quit", "exit"):
                return
            if line.strip():
                write(self.execute(line))

    def _render(self, outcome: Reply | Answer) -> Message:
        if isinstance(outcome, Reply):
            return outcome.message
        csv = outcome.csv()
        note = None
        if csv is not None:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / csv.filename
            path.write_text(csv.content, encoding="utf-8")
            note = f"Full list written to {path}"
        return outcome.message(file_note=note)

    def _show(self, message: Message) -> str:
        self._buttons = {
            element["action_id"]: element.get("value", "")
            for block in message.blocks
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if "action_id" in element
        }
        return blocks_to_text(message.blocks) if message.blocks else message.text
