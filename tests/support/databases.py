"""The databases the store tests run on: SQLite files and PostgreSQL databases of their own.

Every PostgreSQL test gets a database of its own on the server TEST_POSTGRES_URL names
(default: postgres@127.0.0.1:5432, trust auth), dropped afterwards, so tests can run in
parallel. A database that should start at head is a copy of a template migrated once
(`MigratedTemplates`: ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a file copy on
SQLite), which costs a fraction of migrating each one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.store import upgrade

__all__ = [
    "DEFAULT_TEST_POSTGRES_URL",
    "MigratedTemplates",
    "allow_connections",
    "fresh_postgres_database",
    "postgres_server",
]

#: The PostgreSQL server the store tests create their databases in (CI starts it).
DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_server() -> URL:
    """The server's URL (its maintenance database), from TEST_POSTGRES_URL or the default."""
    return make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL)


def _admin(base: URL) -> Engine:
    return create_engine(
        base, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )


def _create(admin: Engine, base: URL, statement: str) -> None:
    """Run a CREATE DATABASE; a server that cannot be reached fails the test, saying so."""
    reason = None
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(statement)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if reason is not None:
        pytest.fail(
            f"PostgreSQL is not reachable at {base.render_as_string(hide_password=True)} "
            f"({reason}). The store tests run on it: start it (.ci/run does) or set "
            "TEST_POSTGRES_URL to a server where this user may CREATE DATABASE.",
            pytrace=False,
        )


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one test (empty, or a copy of ``template``); its URL is
    yielded, and it is dropped afterwards."""
    base = postgres_server()
    name = f"online_bot_test_{uuid.uuid4().hex[:12]}"
    admin = _admin(base)
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        _create(admin, base, f'CREATE DATABASE "{name}"{copy}')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


def allow_connections(url: str, allowed: bool) -> None:
    """Let clients connect to the PostgreSQL database at ``url``, or not: refused, its open
    connections are ended too, so that it is down for whoever uses it (as if the server
    were stopped) while the others' databases carry on."""
    name = make_url(url).database
    admin = _admin(postgres_server())
    try:
        with admin.connect() as connection:
            flag = "true" if allowed else "false"
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {flag}')
            if not allowed:
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                )
    finally:
        admin.dispose()


class MigratedTemplates:
    """A database at head of each kind, migrated once (on first use), to copy from."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def sqlite(self, path: Path) -> str:
        """A SQLite file at ``path`` at head; its URL."""
        if self._sqlite is None:
            template = self._directory / "template.db"
            upgrade(f"sqlite:///{template}")
            self._sqlite = template
        shutil.copyfile(self._sqlite, path)
        return f"sqlite:///{path}"

    def postgres_template(self) -> str:
        """The name of the PostgreSQL database at head to copy (nobody connects to it)."""
        if self._postgres is None:
            base = postgres_server()
            name = f"online_bot_template_{uuid.uuid4().hex[:12]}"
            admin = _admin(base)
            try:
                _create(admin, base, f'CREATE DATABASE "{name}"')
            finally:
                admin.dispose()
            self._postgres = name
            upgrade(base.set(database=name).render_as_string(hide_password=False))
        return self._postgres

    def close(self) -> None:
        if self._postgres is not None:
            admin = _admin(postgres_server())
            try:
                _drop(admin, self._postgres)
            finally:
                admin.dispose()
