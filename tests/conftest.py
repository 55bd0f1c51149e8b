"""Fixtures shared by the tests; the helpers behind them are the support package (support/)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from support.databases import MigratedTemplates, fresh_postgres_database
from support.fakeslack import FakeSlack

from bot.store import make_engine, session_factory

#: The alerting tests' ``sim`` and ``env`` fixtures (support/alerting.py).
pytest_plugins = ["support.alerting"]

#: Test files whose tests take many seconds each, waiting on subprocesses: they run first.
#: With xdist (``-n 4 --dist loadgroup --no-loadscope-reorder``, in pyproject.toml) tests
#: are handed out one at a time in this order, so each of these starts at once on a worker
#: of its own, side by side, rather than one after another at the end of the run.
#: Then the files whose tests each start ``online-bot run`` (or build a wheel): a few seconds
#: each, mostly waiting, so they overlap the quick tests rather than trail the run.
SLOW_FIRST = (
    "test_replicas.py",
    "test_digest_replicas.py",
    "test_run_ops.py",
    "test_run.py",
    "test_packaging.py",
    "test_wiring.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: else unchanged


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack Web API; aim clients at ``fake_slack.api_url``."""
    with FakeSlack() as fake:
        yield fake


# --- databases: every store test runs on SQLite and on PostgreSQL ------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's URL: a SQLite file under tmp_path, or a fresh PostgreSQL database.

    PostgreSQL is TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth). If it
    cannot be reached the test fails, it does not skip: CI guarantees the server.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'online-bot.db'}"
    else:
        yield from fresh_postgres_database()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    """One database at head of each kind per test process, migrated on first use."""
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[str]:
    """Like ``database_url``, but the database is already at head (a copy of a template;
    on PostgreSQL, the test process's copy emptied)."""
    if request.param == "sqlite":
        yield migrated_templates.sqlite(tmp_path / "online-bot.db")
    else:
        yield migrated_templates.postgres()


@pytest.fixture
def db_engine(migrated_database_url: str) -> Iterator[Engine]:
    """An engine on a database at head; disposed afterwards."""
    engine = make_engine(migrated_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database (expire_on_commit=False, as the bot uses)."""
    with session_factory(db_engine)() as session:
        yield session
