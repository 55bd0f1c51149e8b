import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeslack import FakeSlack
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bot.store import make_engine, session_factory, upgrade

#: The alerting tests' ``sim`` and ``env`` fixtures (tests/alerting.py).
pytest_plugins = ["alerting"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack Web API; aim clients at ``fake_slack.api_url``."""
    with FakeSlack() as fake:
        yield fake


# --- databases: every store test runs on SQLite and on PostgreSQL ------------------------

#: The PostgreSQL server the store tests create their databases in (CI starts it).
DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    base = make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL)
    name = f"online_bot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        base, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        reason = None
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if reason is not None:
            pytest.fail(
                f"PostgreSQL is not reachable at {base.render_as_string(hide_password=True)} "
                f"({reason}). The store tests run on it: start it (.ci/run does) or set "
                "TEST_POSTGRES_URL to a server where this user may CREATE DATABASE.",
                pytrace=False,
            )
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's URL: a SQLite file under tmp_path, or a fresh PostgreSQL database.

    PostgreSQL is TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth). If it
    cannot be reached the test fails, it does not skip: CI guarantees the server.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'online-bot.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url``, migrated to head; disposed afterwards."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database (expire_on_commit=False, as the bot uses)."""
    with session_factory(db_engine)() as session:
        yield session
