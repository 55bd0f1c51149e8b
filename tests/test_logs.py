"""Logging: text or JSON lines (LOG_FORMAT), the context at hand, secrets scrubbed from
every part of a record, and the records logged before the format was known."""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest

from bot import logs
from bot.alerts.delivery import Deliverer, PostError

SECRET_KEY = "tencent-secret-key-0123456789"
CALLBACK_TOKEN = "callback-token-abcdef"


@pytest.fixture(autouse=True)
def restore_logging():
    """Each test configures the root logger as the bot does; put back pytest's afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    logs.configure_logging("WARNING", "text")  # the module's own state back to the start
    logs._fields.clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_a_json_line_has_time_level_logger_message_and_the_context(capsys):
    logs.configure_logging("INFO", "json")
    logs.set_fields(replica="host:42")
    log = logging.getLogger("bot.test")
    with logs.log_context(group_id="@TGS#a", watch_id=None):
        log.info("checked %s", "@TGS#a")
        log.warning("from Tencent", extra={"tencent_request_id": "req-1", "watch_id": 7})
    log.info("outside")
    first, second, third = lines(capsys)
    assert set(first) == {"time", "level", "logger", "message", "replica", "group_id"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "bot.test",
        "checked @TGS#a",
    )
    assert (first["replica"], first["group_id"]) == ("host:42", "@TGS#a")
    assert second["tencent_request_id"] == "req-1" and second["watch_id"] == 7
    assert second["level"] == "WARNING" and second["group_id"] == "@TGS#a"
    assert "group_id" not in third  # the context ended with its block


def test_context_is_per_thread(capsys):
    logs.configure_logging("INFO", "json")
    log = logging.getLogger("bot.test")
    inside = threading.Event()
    done = threading.Event()

    def other() -> None:
        inside.wait(5)
        log.info("other thread")
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with logs.log_context(group_id="@TGS#mine"):
        inside.set()
        done.wait(5)
        log.info("this thread")
    thread.join(5)
    by_message = {line["message"]: line for line in lines(capsys)}
    assert "group_id" not in by_message["other thread"]
    assert by_message["this thread"]["group_id"] == "@TGS#mine"


def test_secrets_are_scrubbed_from_message_exception_and_fields(capsys):
    logs.configure_logging("DEBUG", "json", secrets=[SECRET_KEY, CALLBACK_TOKEN, "short"])
    log = logging.getLogger("bot.test")
    try:
        raise ValueError(f"signed with {SECRET_KEY}?usersig=eJyrVkrOz0mN")
    except ValueError:
        log.exception("GET /v4/x?usersig=eJw1jV1&sdkappid=1 token xoxb-123-abc")
    log.info("callback token %s, Sign=abcdef0123 short", CALLBACK_TOKEN, extra={"ref": "xapp-1-A"})
    text = capsys.readouterr().err
    first, second = (json.loads(line) for line in text.splitlines())
    assert "usersig=<redacted>&sdkappid=1" in first["message"]
    assert "xox?-<redacted>" in first["message"]
    assert "ValueError: signed with <redacted>?usersig=<redacted>" in first["exception"]
    assert second["message"] == "callback token <redacted>, Sign=<redacted> short"
    assert second["ref"] == "xapp-<redacted>"
    for secret in (SECRET_KEY, CALLBACK_TOKEN, "eJyrVkrOz0mN", "eJw1jV1", "abcdef0123", "xoxb-123"):
        assert secret not in text
    assert "short" in text  # too short to scrub as text: it would mangle every line


def test_text_lines_are_scrubbed_too_tracebacks_included(capsys):
    logs.configure_logging("INFO", "text", secrets=[SECRET_KEY])
    try:
        raise RuntimeError(SECRET_KEY)
    except RuntimeError:
        logging.getLogger("bot.test").exception("failed")
    text = capsys.readouterr().err
    assert "INFO" not in text and "ERROR bot.test: failed" in text
    assert SECRET_KEY not in text and "RuntimeError: <redacted>" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_records_held_while_the_settings_are_read_come_out_in_their_format(capsys):
    logs.configure_logging("WARNING", "text")
    with logs.holding():
        logging.getLogger("bot.settings").warning("a pasted newline around %s", "the key")
        logs.configure_logging("WARNING", "json", secrets=[])
    (line,) = lines(capsys)
    assert line["message"] == "a pasted newline around the key"
    assert line["logger"] == "bot.settings"


def test_records_held_go_to_the_old_handler_when_nothing_was_configured(capsys):
    logs.configure_logging("WARNING", "text")
    with pytest.raises(RuntimeError), logs.holding():
        logging.getLogger("bot.settings").warning("kept")
        raise RuntimeError("the settings were wrong")
    assert "WARNING bot.settings: kept" in capsys.readouterr().err


def test_notes_are_plain_in_text_and_json_lines_in_json_whatever_the_level(capsys):
    logs.configure_logging("ERROR", "text")
    logs.note("HTTP mode on port 3000")
    assert capsys.readouterr().err == "HTTP mode on port 3000\n"
    logs.configure_logging("ERROR", "json")
    logs.note("HTTP mode on port 3000")
    logs.note("Configuration error: PORT", logging.ERROR)
    first, second = lines(capsys)
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "bot.notes",
        "HTTP mode on port 3000",
    )
    assert second["level"] == "ERROR"


def test_an_unexpected_failure_carries_its_ref(capsys):
    logs.configure_logging("INFO", "json")
    try:
        raise KeyError("x")
    except KeyError:
        ref = logs.log_unexpected(logging.getLogger("bot.test"), "boom")
    (line,) = lines(capsys)
    assert line["ref"] == ref and line["message"] == f"boom (ref {ref})"
    assert "KeyError" in line["exception"]


class FailingPoster:
    def post(self, channel, payload, *, thread_ts, broadcast):
        raise PostError("channel_not_found", permanent=True, request_id="fake-req-9")

    def update(self, channel, ts, payload):
        raise AssertionError("not reached")

    def find(self, channel, key, *, since, thread_ts):
        return None


def test_a_failed_delivery_names_its_watch_and_slacks_request_id(env, capsys):
    logs.configure_logging("INFO", "json")
    env.watch("watch @TGS#live below 1000")  # 500 online: fires
    env.poller.run_cycle()
    Deliverer(env.sessions, FailingPoster(), owner="r1", clock=env.clock).deliver_due()
    (failed,) = [line for line in lines(capsys) if "failed for good" in line["message"]]
    assert failed["watch_id"] == 1 and failed["slack_request_id"] == "fake-req-9"
