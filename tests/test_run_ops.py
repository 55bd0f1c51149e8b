"""``online-bot run`` as a real process, as operators see it: GET /metrics (parsed with
prometheus_client's parser) moving with what the bot does, GET /readyz in its states,
METRICS_PORT in both modes, and LOG_FORMAT=json holding no secret with every one set.

Slack's Web API is the fake (``fake_slack``); Tencent is the bot's built-in simulator, or a
simulator started here (on loopback) when the bot needs a secret key of its own.

Each start of ``run`` costs a second or more of CPU: the stories that need the same settings
(HTTP mode with METRICS_PORT) share one process, started once by one test and told in turn,
each a function of its own named for what it shows.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from support.databases import allow_connections, fresh_postgres_database
from support.processes import STARTUP_SECONDS, BotProcess, free_port
from support.slackapp import post_signed, slash_command
from support.waiting import wait_until

from bot.simulator import Faults, Scenario, Simulator
from bot.store.db import known_revisions
from bot.tencent.callbacks import MEMBER_STATE_CHANGE, signed_query

SECRET = "ops-test-signing-secret"
CALLBACK_TOKEN = "ops-test-callback-token"
DEMO_APP = 1400000000  # the built-in simulator's SDKAppID

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@pytest.fixture
def start_bot(tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    started: list[BotProcess] = []

    def start(*args: str, **values: str) -> BotProcess:
        bot = BotProcess(tmp_path, f"bot{len(started)}", args=args, **values)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()


def http_mode(fake_slack, port: int, **values: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(port),
        **values,
    }


def scrape(url: str) -> Samples:
    response = requests.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get(name, {}).get(tuple(sorted(labels.items())))


def audience(samples: Samples, group: str, mark: str = "") -> float | None:
    return value(samples, "online_bot_watched_online_members", group_id=group, mark=mark)


def slash(url: str, text: str, response_url: str) -> requests.Response:
    answer = slash_command(url, text, response_url, secret=SECRET)
    assert answer.status_code == 200, answer.text
    return answer


def home_opened(url: str, user: str) -> None:
    """The user opens the bot's Home tab (a signed ``app_home_opened`` event)."""
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
    body = json.dumps(
        {"token": "legacy", "team_id": "T0001", "event": event, "type": "event_callback"}
    )
    answer = post_signed(
        url + "/slack/events", body, secret=SECRET, content_type="application/json"
    )
    assert answer.status_code == 200, answer.text


def callback(url: str, app: int, token: str | None, group: str) -> requests.Response:
    body = {
        "CallbackCommand": MEMBER_STATE_CHANGE,
        "GroupId": group,
        "EventType": "Offline",
        "EventCause": "Quit",
        "MemberList": [{"Member_Account": "jared"}],
    }
    query = signed_query(app, token, time.time())
    return requests.post(url + "/tencent/callback", params=query, json=body, timeout=10)


# -- /metrics moves with the bot's work ---------------------------------------------------


def test_metrics_follow_polls_tencent_slack_and_callbacks(start_bot, fake_slack):
    port = free_port()
    started = time.time()
    bot = start_bot(
        **http_mode(fake_slack, port, POLL_INTERVAL="1", TENCENT_IM_CALLBACK_TOKEN=CALLBACK_TOKEN)
    )
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)
    first = scrape(url)
    assert value(first, "online_bot_poll_interval_seconds") == 1
    assert value(first, "online_bot_database_up") == 1
    assert value(first, "online_bot_slack_calls_total", method="auth.test", outcome="ok") == 1
    assert "online_bot_watched_online_members" not in first
    assert value(first, "online_bot_watches", state="firing") == 0
    assert "process_resident_memory_bytes" in first

    home_opened(url, "U1")
    fake_slack.wait_for("views.publish", timeout=15)
    slash(url, "watch @TGS#demo-small below 100000", fake_slack.response_url("w1"))
    fake_slack.wait_for("response_url:w1", timeout=15)  # made: it is watch 1
    slash(url, "watch @TGS#demo-class below 100000 mark 1000", fake_slack.response_url("w2"))
    fake_slack.wait_for("chat.postMessage", count=2, timeout=20)  # both alerts went out

    def moved() -> Samples | None:
        """Both alerts counted as posted, and the database read since (every 5 s)."""
        samples = scrape(url)
        posted = value(
            samples, "online_bot_slack_calls_total", method="chat.postMessage", outcome="ok"
        )
        firing = value(samples, "online_bot_watches", state="firing")
        delivered = value(samples, "online_bot_outbox_messages", status="pending") == 0
        return samples if posted == 2 and firing == 2 and delivered else None

    busy = wait_until(moved, timeout=20, what="both alerts posted and read as firing")
    fake_slack.wait_for("views.publish", count=2, timeout=15)  # the open Home follows them
    assert "🔴 firing ·" in json.dumps(fake_slack.home_view("U1"), ensure_ascii=False)
    assert audience(busy, "@TGS#demo-small") == 12
    marked = audience(busy, "@TGS#demo-class", "1000")
    assert marked is not None and 0 <= marked <= 45
    assert value(busy, "online_bot_poll_targets_checked_total", outcome="ok") >= 2
    assert value(busy, "online_bot_poll_cycle_duration_seconds_count") >= 1
    assert value(busy, "online_bot_poll_cycle_last_completed_timestamp_seconds") >= started
    count_api = "group_open_http_svc/get_online_member_num"
    assert value(busy, "online_bot_tencent_requests_total", api=count_api, outcome="ok") >= 1
    assert (
        value(busy, "online_bot_tencent_request_duration_seconds_count", api=count_api) or 0
    ) >= 1
    waits = value(
        busy,
        "online_bot_tencent_rate_limit_wait_seconds_count",
        api=count_api,
        priority="background",
    )
    assert waits is not None and waits >= 1

    # a query whose list goes out as a file, through the client bolt gives the listeners
    slash(url, "@TGS#demo-large", fake_slack.response_url("q"))
    fake_slack.wait_for("response_url:q", timeout=15)

    def answered() -> Samples | None:
        """The three answers on response_url (two watches, the query) counted."""
        samples = scrape(url)
        posts = value(samples, "online_bot_slack_calls_total", method="response_url", outcome="ok")
        return samples if posts == 3 else None

    uploads = ("files.getUploadURLExternal", "files.completeUploadExternal")
    before = {method: len(fake_slack.calls(method)) for method in uploads}
    queried = wait_until(answered, timeout=10, what="the answers on response_url counted")
    opened = value(
        queried, "online_bot_slack_calls_total", method="conversations.open", outcome="ok"
    )
    assert opened == 1  # the DM the CSV went to
    for method in uploads:  # the CSV's, and the alerts' charts (each counted as it is made)
        counted = value(queried, "online_bot_slack_calls_total", method=method, outcome="ok")
        assert before[method] >= 1 and 1 <= counted <= len(fake_slack.calls(method))

    # a cycle completes every second: the timestamp moves on
    last = value(busy, "online_bot_poll_cycle_last_completed_timestamp_seconds")
    wait_until(
        lambda: value(scrape(url), "online_bot_poll_cycle_last_completed_timestamp_seconds") > last,
        timeout=10,
        what="another poll cycle completed",
    )

    assert callback(url, DEMO_APP, CALLBACK_TOKEN, "@TGS#demo-small").status_code == 200
    assert callback(url, DEMO_APP, "guessed", "@TGS#demo-small").status_code == 401
    pushed = scrape(url)
    accepted = value(pushed, "online_bot_tencent_callbacks_total", outcome="accepted", status="200")
    refused = value(pushed, "online_bot_tencent_callbacks_total", outcome="refused", status="401")
    assert (accepted, refused) == (1, 1)

    assert "stopped watching" in slash(url, "unwatch 1", fake_slack.response_url("u")).text

    def unwatched() -> Samples | None:
        samples = scrape(url)
        return samples if audience(samples, "@TGS#demo-small") is None else None

    # gone at the next poll tick (every second here), which syncs the targets, once read
    gone = wait_until(unwatched, timeout=20, what="the unwatched audience gone")
    assert audience(gone, "@TGS#demo-class", "1000") is not None
    assert value(gone, "online_bot_watches", state="firing") == 1

    assert requests.get(url + "/readyz", timeout=10).text == "ready"
    output = bot.output()
    assert "GET /readyz, GET /metrics, GET /healthz" in output
    assert "Traceback" not in output


# -- METRICS_PORT ---------------------------------------------------------------------------


def test_socket_mode_serves_metrics_and_readiness_on_metrics_port(start_bot, fake_slack):
    port, metrics_port = free_port(), free_port()
    bot = start_bot(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_API_URL=fake_slack.api_url,
        PORT=str(port),
        METRICS_PORT=str(metrics_port),
        LOG_FORMAT="json",
    )
    url = f"http://127.0.0.1:{metrics_port}"
    bot.wait_until_healthy(url)
    assert value(scrape(url), "online_bot_database_up") == 1
    assert requests.get(url + "/readyz", timeout=10).text == "ready"
    with pytest.raises(requests.ConnectionError):  # no push: nothing on PORT
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    fake_slack.wait_for("apps.connections.open", timeout=15)
    bot.stop()
    notes = [entry["message"] for entry in json_lines(bot.output())]  # stdout too: nothing else
    assert f"GET /metrics, GET /readyz, GET /healthz on port {metrics_port}." in notes


def test_http_mode_with_metrics_port(start_bot, fake_slack, tmp_path):
    """One process in HTTP mode with METRICS_PORT for two stories (the last one puts its
    database behind the migration this version needs)."""
    port, metrics_port = free_port(), free_port()
    bot = start_bot(**http_mode(fake_slack, port, METRICS_PORT=str(metrics_port)))
    public, private = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    bot.wait_until_healthy(public)
    _metrics_kept_off_the_public_port(public, private)
    database = f"sqlite:///{tmp_path}/data/online-bot/online-bot.db"
    _the_images_health_checks_are_liveness_and_readiness(metrics_port, database)


def _metrics_kept_off_the_public_port(public: str, private: str) -> None:
    assert requests.get(public + "/metrics", timeout=10).status_code == 404
    assert requests.get(public + "/readyz", timeout=10).text == "ready"  # for load balancers
    assert value(scrape(private), "online_bot_database_up") == 1
    assert requests.get(private + "/readyz", timeout=10).text == "ready"
    assert requests.get(private + "/healthz", timeout=10).text == "ok"


def test_a_metrics_port_in_use_stops_the_start_naming_it(start_bot, fake_slack):
    port = free_port()
    bot = start_bot(**http_mode(fake_slack, port, METRICS_PORT=str(port)))
    bot.wait_until_healthy(f"http://127.0.0.1:{port}")  # the same port: served once
    taken = start_bot(
        **http_mode(
            fake_slack,
            free_port(),
            METRICS_PORT=str(port),
            DATABASE_URL="sqlite:///" + str(bot._out.parent / "other.db"),
        )
    )
    assert taken.process.wait(STARTUP_SECONDS) == 2
    assert f"Cannot listen on port {port}" in taken.stderr()
    assert "Traceback" not in taken.stderr()


# -- /readyz against a database that goes wrong under a running bot ------------------------


@pytest.fixture
def postgres_url(migrated_templates) -> Iterator[str]:
    yield from fresh_postgres_database(migrated_templates.postgres_template())


def test_readyz_while_the_database_is_behind_or_down(start_bot, fake_slack, postgres_url):
    port = free_port()
    bot = start_bot(**http_mode(fake_slack, port, DATABASE_URL=postgres_url))
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)

    def readyz() -> tuple[int, str]:
        answer = requests.get(url + "/readyz", timeout=30)
        return answer.status_code, answer.text

    assert readyz() == (200, "ready")
    head, previous = known_revisions()[:2]
    admin = create_engine(postgres_url, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": previous})
        status, reason = readyz()
        assert status == 503
        assert f"at migration {previous}, behind {head}" in reason
        assert "online-bot db upgrade" in reason
        with admin.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": head})
        assert readyz() == (200, "ready")
    finally:
        admin.dispose()

    allow_connections(postgres_url, False)
    try:
        status, reason = readyz()
        assert status == 503
        assert reason.startswith("not ready: the database cannot be reached")
        assert requests.get(url + "/healthz", timeout=10).status_code == 200  # still alive
        assert value(scrape(url), "online_bot_database_up") == 0
    finally:
        allow_connections(postgres_url, True)
    wait_until(lambda: readyz() == (200, "ready"), timeout=15, what="ready again")


# -- LOG_FORMAT=json, with every secret set ------------------------------------------------

BOT_TOKEN = "xoxb-4242-json-logs-bot-token"
APP_TOKEN = "xapp-1-A42-json-logs-app-token"
SECRET_KEY = "json-logs-tencent-secret-key-5bd2850fff3e"
GROUP = "@TGS#json-logs"


@pytest.fixture
def tencent() -> Iterator[Simulator]:
    """A Tencent app of the test's own (its secret key), on loopback."""
    scenario = Scenario(sdkappid=1400000042, secret_key=SECRET_KEY, groups=[], faults=Faults())
    with Simulator(scenario).start() as sim:
        sim.add_group(GROUP, "JSON <Logs>", "AVChatRoom")
        sim.set_audience(GROUP, 30)
        yield sim


def every_secret(fake_slack, sim: Simulator, port: int) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "TENCENT_IM_SDKAPPID": str(sim.scenario.sdkappid),
        "TENCENT_IM_SECRET_KEY": SECRET_KEY,
        "TENCENT_IM_ADMIN": sim.scenario.admin,
        "TENCENT_IM_BASE_URL": sim.url,
        "TENCENT_IM_CALLBACK_TOKEN": CALLBACK_TOKEN,
        "POLL_INTERVAL": "1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
    }


SECRETS = (BOT_TOKEN, APP_TOKEN, SECRET, SECRET_KEY, CALLBACK_TOKEN)


def json_lines(output: str) -> list[dict]:
    """Every line a JSON object with time, level, logger and message (fails on any other)."""
    entries = []
    for line in output.splitlines():
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    return entries


def assert_no_secret(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output
    assert not re.search(r"usersig=(?!<redacted>)", output, re.IGNORECASE)
    assert not re.search(r"\bSign=(?!<redacted>)", output)


def test_json_logs_hold_no_secret_while_answering_a_command_and_a_callback(
    start_bot, fake_slack, tencent
):
    port = free_port()
    bot = start_bot("--log-level", "DEBUG", **every_secret(fake_slack, tencent, port))
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)

    slash(url, GROUP, fake_slack.response_url("q"))  # a query: Tencent and response_url
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:q", timeout=15)]
    assert "JSON &lt;Logs&gt;" in json.dumps(answer)
    slash(url, "@TGS#nope", fake_slack.response_url("e"))  # Tencent answers an error
    fake_slack.wait_for("response_url:e", timeout=15)
    fake_slack.fail_next("chat.postMessage", "not_in_channel")
    slash(url, f"watch {GROUP} below 1000", fake_slack.response_url("w"))  # fires; refused
    assert callback(url, tencent.scenario.sdkappid, CALLBACK_TOKEN, GROUP).status_code == 200
    refused = fake_slack.wait_for("chat.postMessage", timeout=15)[0]
    wait_until(
        lambda: "failed for good" in bot.output(), timeout=15, what="the refused alert logged"
    )
    bot.stop()

    output = bot.output()
    entries = json_lines(output)
    assert_no_secret(output)
    assert {e["level"] for e in entries} >= {"DEBUG", "INFO", "ERROR"}
    assert all(e["replica"].endswith(f":{bot.process.pid}") for e in entries)
    (tencent_error,) = [e for e in entries if e["message"].startswith("Tencent get_members")]
    assert tencent_error["group_id"] == "@TGS#nope" and tencent_error["tencent_request_id"]
    (failed,) = [e for e in entries if "failed for good" in e["message"]]
    assert failed["watch_id"] == 1 and failed["slack_request_id"] == refused.request_id
    assert any(e["message"].startswith("HTTP mode on port") for e in entries)


def test_json_logs_hold_no_secret_in_socket_mode_with_every_secret_set(
    start_bot, fake_slack, tencent
):
    fake_slack.socket_mode = True  # apps.connections.open gives a WebSocket: commands come
    port = free_port()
    settings = {**every_secret(fake_slack, tencent, port), "SLACK_APP_TOKEN": APP_TOKEN}
    bot = start_bot("--log-level", "DEBUG", **settings)
    url = f"http://127.0.0.1:{port}"
    bot.wait_until_healthy(url)  # push on: the callbacks (and /readyz) on PORT

    def command(text: str, answer_to: str) -> dict:
        payload = {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A1",
            "channel_id": "C1",
            "user_id": "U1",
            "user_name": "ada",
            "command": "/online",
            "text": text,
            "response_url": fake_slack.response_url(answer_to),
            "trigger_id": "1.2.3",
        }
        return fake_slack.socket_event("slash_commands", payload, timeout=20)

    assert "Looking up" in command(GROUP, "q")["text"]  # the ack, over the WebSocket
    (answer,) = [c.params for c in fake_slack.wait_for("response_url:q", timeout=15)]
    assert "JSON &lt;Logs&gt;" in json.dumps(answer)
    command("@TGS#nope", "e")
    fake_slack.wait_for("response_url:e", timeout=15)
    assert callback(url, tencent.scenario.sdkappid, CALLBACK_TOKEN, GROUP).status_code == 200
    (opened,) = fake_slack.calls("apps.connections.open")
    assert opened.token == APP_TOKEN
    bot.stop()

    output = bot.output()
    entries = json_lines(output)
    assert_no_secret(output)
    (tencent_error,) = [e for e in entries if e["message"].startswith("Tencent get_members")]
    assert tencent_error["group_id"] == "@TGS#nope"
    assert any(e["message"] == "Socket Mode: connecting to Slack." for e in entries)


# -- the image's health checks --------------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parent.parent


def dockerfile_healthcheck() -> list[str]:
    text = (REPOSITORY / "Dockerfile").read_text()
    found = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$", text, re.MULTILINE)
    assert found, "the Dockerfile has a HEALTHCHECK ... CMD [...]"
    return json.loads(found.group(1))


def compose_healthcheck(metrics_port: int) -> list[str]:
    compose = yaml.safe_load((REPOSITORY / "compose.yaml").read_text())
    test = compose["services"]["bot"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [part.replace(":9100/", f":{metrics_port}/") for part in test[1:]]


def _the_images_health_checks_are_liveness_and_readiness(metrics_port: int, database: str):
    """Run as the image runs them, against ``run`` serving METRICS_PORT on ``database``."""

    def probe(command: list[str]) -> int:
        command = [sys.executable if part == "python" else part for part in command]
        env = {"METRICS_PORT": str(metrics_port), "PATH": "/usr/bin:/bin"}
        return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode

    live, ready = dockerfile_healthcheck(), compose_healthcheck(metrics_port)
    assert (probe(live), probe(ready)) == (0, 0)
    engine = create_engine(database)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert (probe(live), probe(ready)) == (0, 1)  # alive, not ready
    finally:
        engine.dispose()
