"""GET /readyz over loopback HTTP, in each of its states: ready; the database behind, at a
migration the bot does not know, or empty (SQLite and PostgreSQL); the database down
(PostgreSQL refusing connections); Slack's auth.test failing (the fake Slack rejecting
the token)."""

from __future__ import annotations

import pytest
import requests
from slack_sdk import WebClient
from sqlalchemy import text
from support.databases import allow_connections, fresh_postgres_database
from support.serving import served

from bot.httpserver import routes_app
from bot.readiness import READY_PATH, Readiness, Recheck, schema_check
from bot.settings import SettingsError
from bot.slack.serve import check_auth
from bot.store import make_engine, session_factory
from bot.store.db import known_revisions


def readyz(url: str) -> tuple[int, str]:
    response = requests.get(url + READY_PATH, timeout=30)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "\n" not in response.text  # one line
    return response.status_code, response.text


def serve(*checks):
    return served(routes_app({READY_PATH: Readiness(checks).app()}))


@pytest.fixture
def sessions(migrated_database_url):
    engine = make_engine(migrated_database_url)
    yield session_factory(engine)
    engine.dispose()


def set_revision(sessions, revision: str | None) -> None:
    with sessions.begin() as session:
        session.execute(text("DELETE FROM alembic_version"))
        if revision is not None:
            session.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})


def test_ready_at_head_and_not_while_the_schema_is_behind_or_unknown(sessions):
    head, previous = known_revisions()[:2]
    with serve(schema_check(sessions)) as url:
        assert readyz(url) == (200, "ready")

        set_revision(sessions, previous)
        status, reason = readyz(url)
        assert status == 503
        assert reason == (
            f"not ready: the database is at migration {previous}, behind {head} that this "
            "bot needs: run `online-bot db upgrade` (a replica starting migrates too)"
        )

        set_revision(sessions, None)  # never migrated
        assert readyz(url)[1].startswith("not ready: the database is at migration none, behind")

        set_revision(sessions, "9999")
        status, reason = readyz(url)
        assert status == 503 and "9999, which this bot (at " in reason and "newer" in reason

        set_revision(sessions, head)
        assert readyz(url) == (200, "ready")


def test_not_ready_while_the_database_cannot_be_reached(migrated_templates):
    template = migrated_templates.postgres_template()
    for url in fresh_postgres_database(template):
        engine = make_engine(url)
        try:
            with serve(schema_check(session_factory(engine))) as base:
                assert readyz(base) == (200, "ready")
                allow_connections(url, False)
                status, reason = readyz(base)
                assert status == 503
                assert reason.startswith("not ready: the database cannot be reached (")
                assert "not currently accepting connections" in reason
                allow_connections(url, True)
                assert readyz(base) == (200, "ready")
        finally:
            engine.dispose()
            allow_connections(url, True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_not_ready_once_slack_rejects_the_token_until_auth_test_succeeds_again(fake_slack):
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    clock = Clock()
    slack = Recheck(
        lambda: check_auth(client), every=60, passed=True, errors=(SettingsError,), clock=clock
    )
    with serve(slack) as url:
        assert readyz(url) == (200, "ready")
        assert fake_slack.calls("auth.test") == []  # it passed at start: not asked again yet

        fake_slack.invalid_tokens.add("xoxb-test")
        clock.now += 59
        assert readyz(url) == (200, "ready")  # within the minute
        clock.now += 1
        status, reason = readyz(url)
        assert status == 503
        assert reason.startswith("not ready: Slack rejected SLACK_BOT_TOKEN (invalid_auth)")
        assert "xoxb-test" not in reason
        assert readyz(url)[0] == 503  # asked again on every probe while it fails
        assert len(fake_slack.calls("auth.test")) == 2

        fake_slack.invalid_tokens.discard("xoxb-test")
        assert readyz(url) == (200, "ready")
        assert readyz(url) == (200, "ready")
        assert len(fake_slack.calls("auth.test")) == 3  # then not again for a minute


def test_slack_not_answering_is_a_reason_too(fake_slack):
    client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", timeout=2)
    slack = Recheck(lambda: check_auth(client), errors=(SettingsError,))
    with serve(slack) as url:
        status, reason = readyz(url)
    assert status == 503
    assert reason.startswith("not ready: Could not reach Slack at http://127.0.0.1:9/api/")


def test_the_first_failing_check_gives_the_reason_and_only_get_is_answered(sessions):
    set_revision(sessions, None)
    with serve(schema_check(sessions), lambda: "Slack is down") as url:
        assert "the database is at migration none" in readyz(url)[1]
        set_revision(sessions, known_revisions()[0])
        assert readyz(url) == (503, "not ready: Slack is down")
        assert requests.post(url + READY_PATH, timeout=10).status_code == 405


def test_a_long_reason_is_cut_to_one_line():
    with serve(lambda: "line one\nline two " + "x" * 500) as url:
        status, reason = readyz(url)
    assert status == 503
    assert reason.startswith("not ready: line one line two xxx") and reason.endswith("…")
    assert len(reason) <= len("not ready: ") + 300
