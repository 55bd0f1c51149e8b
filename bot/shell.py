"""``online-bot shell``: the same command handlers as Slack, rendered to a terminal.

Type ``/online <groupId>`` (the ``/online`` is optional); ``next`` and ``prev``
press the paging buttons of the last answer; ``press ack|mute|unwatch [N]`` presses
a button of alert N (default: the latest alert that has it); ``home [page]`` shows
the App Home (every watch, by channel); ``digest now`` shows this channel's daily digest
as it would go now; files Slack would receive (a member list's
CSV, a history's chart as PNG) are written to a local folder instead, and their
paths printed. Charts show times in this machine's time zone.

``Shell`` is the console over the handlers, ``ShellPoster`` prints alerts, and
``ShellTransport`` is the terminal as the bot's transport for ``bot.wiring.build``.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.alerts.delivery import PostError
from bot.digest.service import Digests
from bot.drawing import DrawingFailed
from bot.handlers import Answer, Caller, Deferred, HistoryAnswer, OnlineHandlers, Reply
from bot.home import AppHome
from bot.httpserver import http_server, routes_app, stop_http_server
from bot.render.alerts import ACK_ACTION, MUTE_ACTION, UNWATCH_ACTION
from bot.render.blocks import Message
from bot.render.members import NEXT_PAGE_ACTION, PREVIOUS_PAGE_ACTION
from bot.render.text import blocks_to_text
from bot.settings import MIN_POLL_INTERVAL, Settings, SettingsError
from bot.wiring import Plan
from bot.zones import local_zone

if TYPE_CHECKING:
    from bot.tencent.connect import Tencent
    from bot.wiring import Bot

__all__ = ["Shell", "ShellPoster", "ShellTransport"]

log = logging.getLogger(__name__)

PROMPT = "online> "
SHELL_CALLER = Caller(user_id="USHELL", channel_id="CSHELL")

#: ``press <word>``: the alert button it presses, and the button's label.
ALERT_BUTTONS = {
    "ack": (ACK_ACTION, "Acknowledge"),
    "mute": (MUTE_ACTION, "Mute 1h"),
    "unwatch": (UNWATCH_ACTION, "Unwatch"),
}
PRESS_USAGE = "(press ack|mute|unwatch [alert number], e.g. press ack 1)"
HOME_USAGE = "(home [page number], e.g. home 2)"


class ShellPoster:
    """Alert messages printed to the terminal as they are delivered (the outbox's Poster);
    it keeps each alert's buttons, for ``press``."""

    def __init__(self, write: Callable[[str], None] = print, files: Path | None = None) -> None:
        self._write = write
        self._files = files or Path(tempfile.mkdtemp(prefix="online-bot-"))
        self._lock = threading.Lock()
        self._seq = 0
        self._buttons: dict[int, dict[str, str]] = {}  # alert number -> action_id -> value

    def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None, broadcast: bool
    ) -> str:
        with self._lock:
            self._seq += 1
            what = f"alert {self._seq}"
            if thread_ts:
                what = f"message {self._seq}, in the thread of alert {_number(thread_ts)}"
            self._write(f"\n--- #{channel}: {what} ---\n{self._shown(self._seq, payload)}\n")
            return f"{self._seq}.000000"

    def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        with self._lock:
            number = _number(ts)
            self._write(
                f"\n--- #{channel}: alert {number} updated ---\n{self._shown(number, payload)}\n"
            )

    def find(self, channel: str, key: str, *, since: float, thread_ts: str | None) -> str | None:
        return None  # the terminal keeps no history to look in

    def upload(
        self,
        channel: str,
        *,
        thread_ts: str | None,
        filename: str,
        title: str,
        alt_text: str,
        content: bytes,
    ) -> str:
        """An alert's chart: written to the files folder, its path printed."""
        path = self._files / filename
        try:
            self._files.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        except OSError as error:
            why = f"could not write {path} ({error.strerror or error})"
            raise PostError(why, permanent=True) from None
        with self._lock:
            where = f"alert {_number(thread_ts)}" if thread_ts else "an alert"
            self._write(
                f"\n--- #{channel}: chart of {where} ---\n{title}\nChart written to {path}\n"
            )
        return str(path)

    def find_upload(
        self, channel: str, *, thread_ts: str | None, filename: str, since: float
    ) -> str | None:
        """The chart's file, if it was written already."""
        if self._files is None or not (self._files / filename).exists():
            return None
        return str(self._files / filename)

    def buttons(self, number: int | None = None, action: str = "") -> tuple[int, str] | None:
        """(alert number, value) of ``action``'s button on alert ``number``, or on the
        latest alert that has one."""
        with self._lock:
            numbers = [number] if number is not None else sorted(self._buttons, reverse=True)
            for candidate in numbers:
                value = self._buttons.get(candidate, {}).get(action)
                if value is not None:
                    return candidate, value
            return None

    def replace(self, number: int, payload: dict[str, Any]) -> str:
        """A button's answer that replaces alert ``number`` (an acknowledgement)."""
        with self._lock:
            return f"--- alert {number} updated ---\n{self._shown(number, payload)}"

    def _shown(self, number: int, payload: dict[str, Any]) -> str:
        """The text of alert ``number``, noting its buttons (lock held)."""
        blocks = payload.get("blocks") or []
        found = _buttons(blocks)
        self._buttons[number] = found
        words = [word for word, (action, _) in ALERT_BUTTONS.items() if action in found]
        hint = f"\n(press {'|'.join(words)} {number})" if words else ""
        return _text(payload) + hint


def _number(ts: str) -> int:
    """A shell alert's number from its message ts ("3.000000")."""
    return int(ts.split(".", 1)[0])


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """action_id -> value of every button in ``blocks``."""
    return {
        element["action_id"]: element.get("value", "")
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if "action_id" in element
    }


def _text(payload: dict[str, Any]) -> str:
    blocks = payload.get("blocks") or []
    return blocks_to_text(blocks) if blocks else str(payload.get("text", ""))


class Shell:
    """A console backend: ``execute(line)`` returns what the terminal shows."""

    def __init__(
        self,
        handlers: OnlineHandlers,
        files_dir: Path,
        alerts: ShellPoster | None = None,
        *,
        zone: ZoneInfo | None = None,
        digests: Digests | None = None,
    ) -> None:
        self.handlers = handlers
        self.digests = digests
        self.files_dir = files_dir
        self.alerts = alerts
        self.zone = zone or local_zone()  # a chart's times
        self._buttons: dict[str, str] = {}  # action_id -> value, from the last answer

    def execute(self, line: str) -> str:
        text = line.strip()
        if text in ("next", "prev"):
            action = NEXT_PAGE_ACTION if text == "next" else PREVIOUS_PAGE_ACTION
            value = self._buttons.get(action)
            if value is None:
                return f"(no [{'Next' if text == 'next' else 'Previous'}] button to press)"
            return self._show(self._render(self.handlers.page(value)))
        if text == "press" or text.startswith("press "):
            return self._press(text.split()[1:])
        if text == "home" or text.startswith("home "):
            return self._home(text.split()[1:])
        if text == "digest now":
            return self._digest_now()
        if text.startswith("/online"):
            text = text.removeprefix("/online")
        outcome = self.handlers.command(text, SHELL_CALLER)
        if isinstance(outcome, Deferred):
            first = self._show(outcome.ack)
            return first + "\n" + self._show(self._render(outcome.work()))
        return self._show(outcome.message)

    def _press(self, words: list[str]) -> str:
        if not words or words[0] not in ALERT_BUTTONS or len(words) > 2:
            return PRESS_USAGE
        if len(words) == 2 and not words[1].isdigit():
            return PRESS_USAGE
        action, label = ALERT_BUTTONS[words[0]]
        number = int(words[1]) if len(words) == 2 else None
        found = self.alerts.buttons(number, action) if self.alerts is not None else None
        if found is None:
            where = f"alert {number}" if number is not None else "any alert yet"
            return f"(no [{label}] button on {where})"
        number, value = found
        outcome = self.handlers.alert_button(action, value, SHELL_CALLER)
        if outcome is None:  # pragma: no cover - every pressable action has an answer
            return "(that button does nothing any more)"
        if action == ACK_ACTION and outcome.public and self.alerts is not None:
            message = outcome.message
            return self.alerts.replace(number, {"text": message.text, "blocks": message.blocks})
        return self._show(outcome.message)

    def _digest_now(self) -> str:
        """This channel's digest as it would go now (nothing sent); its chart written."""
        digests = self.digests
        if digests is None:
            return "(no digests here: they need the bot's database)"
        now = time.time()
        day = datetime.fromtimestamp(now, self.zone).date()
        view = digests.view(SHELL_CALLER.channel_id, self.zone, day, now)
        message, chart = digests.compose(view)
        shown = self._show(message)
        if chart is None:
            return shown
        filename, _, _, png = chart
        try:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            (self.files_dir / filename).write_bytes(png)
        except OSError as error:
            return f"{shown}\n(the chart could not be written: {error.strerror})"
        return f"{shown}\nChart written to {self.files_dir / filename}"

    def _home(self, words: list[str]) -> str:
        """The App Home as Slack would show it: ``home 2`` for its second page."""
        if len(words) > 1 or (words and not (words[0].isdigit() and int(words[0]) >= 1)):
            return HOME_USAGE
        page = int(words[0]) - 1 if words else 0
        return blocks_to_text(AppHome(self.handlers).view(page)["blocks"])

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

    def _render(self, outcome: Reply | Answer | HistoryAnswer) -> Message:
        if isinstance(outcome, Reply):
            return outcome.message
        if isinstance(outcome, HistoryAnswer):
            return self._chart(outcome)
        csv = outcome.csv()
        note = None
        if csv is not None:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / csv.filename
            path.write_text(csv.content, encoding="utf-8")
            note = f"Full list written to {path}"
        return outcome.message(file_note=note)

    def _chart(self, answer: HistoryAnswer) -> Message:
        """Draw the chart into the files folder; the answer names the file."""
        zone_note = f"Times on the chart are in {self.zone.key}, this machine's time zone."
        try:
            chart = answer.chart(self.zone)
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / chart.filename
            path.write_bytes(chart.content)
        except OSError as error:
            note = (
                f"The chart could not be written to {self.files_dir} ({error.strerror or error}); "
                "the counts below stand in for it."
            )
            return answer.message(chart_note=note, zone_note=zone_note, attached=False)
        except DrawingFailed as error:
            note = f"The chart could not be drawn ({error}); the counts below stand in for it."
            return answer.message(chart_note=note, zone_note=zone_note, attached=False)
        return answer.message(
            chart_note=f"Chart written to {path}", zone_note=zone_note, attached=True
        )

    def _show(self, message: Message) -> str:
        self._buttons = _buttons(message.blocks)
        return blocks_to_text(message.blocks) if message.blocks else message.text


DEMO_WATCH = "watch @TGS#demo-drop below 100 recover 200"


class ShellTransport:
    """The terminal as the bot's transport: alerts print as they are delivered, files go
    to a temporary folder, and on the simulator the watches live in a temporary database,
    a demo watch is made at start, and the simulator pushes its audiences' moves to the
    bot's callback endpoint (on a loopback port, signed with a token made for the
    session), as Tencent would: the demo drop alerts about 10 s after it starts, while
    polling stays at POLL_INTERVAL."""

    usergroup_members = None  # a terminal has no user groups

    def __init__(
        self,
        write: Callable[[str], None],
        poll_interval: int | None = None,
        *,
        files: Path | None = None,
        read: Callable[[str], str] = input,
    ) -> None:
        self.write = write
        self.read = read
        self.poll_interval = poll_interval  # --poll-interval, if given
        self.files = files or Path(tempfile.mkdtemp(prefix="online-bot-"))
        self.alerts = ShellPoster(write, self.files)

    def user_zone(self, user_id: str) -> ZoneInfo | None:
        return local_zone()  # the terminal's user is this machine's

    def poster(self, replica: str) -> ShellPoster:
        return self.alerts

    def plan(self, settings: Settings, tencent: Tencent) -> Plan:
        simulator = tencent.simulator
        if simulator is not None:
            self.write("No TENCENT_IM_SDKAPPID set: the built-in simulator is serving demo groups:")
            for group in simulator.scenario.groups:
                self.write(f"  {group.group_id:<20} {group.name} ({group.type})")
            database = f"sqlite:///{self.files / 'demo.db'}"
        else:
            self.write(f"Using Tencent Cloud Chat app {settings.tencent_im_sdkappid}.")
            database = settings.database
        interval = self.poll_interval or settings.poll_interval
        if interval < MIN_POLL_INTERVAL and not settings.tencent_is_local:
            raise SettingsError(
                f"--poll-interval {interval} is below {MIN_POLL_INTERVAL} s: Tencent caches the "
                "online list for up to 40 s, so faster polling only repeats the same answer "
                "(shorter intervals are for the simulator)."
            )
        if simulator is None:  # Tencent cannot reach a terminal
            return Plan(database, interval)
        return Plan(database, interval, push=True, push_token=secrets.token_urlsafe(16))

    def serve(self, bot: Bot) -> None:
        """Read commands until ``quit`` or end of input."""
        console = Shell(bot.handlers, self.files, alerts=self.alerts, digests=bot.digests)
        if bot.tencent.simulator is not None:
            self.write(f"Demo watch in this shell: /online {DEMO_WATCH}")
            created = console.execute(f"/online {DEMO_WATCH}")
            self.write(created.split("\n", 1)[-1])  # without the "looking up" line
            self.write(
                "Its audience drops in about 2 minutes and comes back at 5. The simulator "
                "pushes each move to the bot as Tencent would: the alert shows here about "
                "10 s after the drop, and its resolve 10 s after the return (polling alone "
                f"would take up to {bot.plan.poll_interval:g} s)."
            )
        self.write(
            "Type /online <groupId> [mark] [public], /online <groupId> is <a,b>, "
            "/online history <groupId> [24h], /online watches, /online help, "
            "next / prev to page, press ack|mute|unwatch [N] for an alert's buttons, "
            "home [page] for the App Home, /online digest HH:MM [zone] and digest now for "
            "the daily digest, quit to leave."
        )
        bot.start()
        with _pushed(bot):
            console.loop(read=self.read)


@contextmanager
def _pushed(bot: Bot) -> Iterator[None]:
    """While the console runs: the simulator (if any) pushes its audiences' moves to the
    bot's callback endpoint, served on a loopback port of its own."""
    simulator, routes = bot.tencent.simulator, bot.callback_routes()
    if simulator is None or not routes:
        yield
        return
    server = http_server(routes_app(routes), "127.0.0.1", 0)
    serving = threading.Thread(target=server.run, name="callbacks", daemon=True)
    serving.start()
    (path,) = routes
    pusher = simulator.push_callbacks(
        f"http://127.0.0.1:{server.effective_port}{path}", bot.plan.push_token
    )
    try:
        yield
    finally:
        pusher.stop()
        stop_http_server(server)
        serving.join(timeout=10)
