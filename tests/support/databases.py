"""The databases the store tests run on: SQLite files and PostgreSQL databases of their own.

Every PostgreSQL test gets a database of its own on the server TEST_POSTGRES_URL names
(default: postgres@127.0.0.1:5432, trust auth), so tests can run in parallel. A database
that should start at head is a copy of a template migrated once (`MigratedTemplates`:
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a file copy on SQLite), which costs a
fraction of migrating each one. On PostgreSQL that copy is made once per test process and
emptied for each test (`MigratedTemplates.postgres`: every row deleted, every sequence
restarted, in 10-30 ms, where a copy and a drop took 0.3-1 s of the server's time); one
whose schema or revision a test changed is dropped and copied again. Empty databases (the
migration tests) are new for each test and dropped afterwards.

Emptying the reused database takes one plain psycopg connection, not three engines (an
engine's first connection costs 20-25 ms of its own: the dialect's queries), and reads its
schema from pg_catalog (information_schema's views cost twice as much on a new
connection): 2-3 ms of the test process's CPU and about 16 ms of the server's, where it
was 17 ms and 47 ms; over 200 PostgreSQL tests, about 10 s of CPU a run.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.store import upgrade
from bot.store.models import Base

__all__ = [
    "DEFAULT_TEST_POSTGRES_URL",
    "MigratedTemplates",
    "allow_connections",
    "fresh_postgres_database",
    "postgres_server",
]

#: What a database's schema is, to tell whether a test changed it: every relation (tables,
#: indexes, sequences, views) with its kind, every column (its type, whether it may be
#: null, its default), every constraint, every index, the revision.
SCHEMA_FINGERPRINT = """
SELECT
  (SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname)
     FROM pg_class WHERE relnamespace = 'public'::regnamespace),
  (SELECT string_agg(c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                     || ':' || a.attnotnull::text || ':'
                     || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ','
                     ORDER BY c.relname, a.attname)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT string_agg(conname || ':' || pg_get_constraintdef(oid), ',' ORDER BY conname)
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
  (SELECT string_agg(indexdef, ',' ORDER BY indexdef)
     FROM pg_indexes WHERE schemaname = 'public'),
  (SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version)
"""

#: The PostgreSQL server the store tests create their databases in (CI starts it).
DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_server() -> URL:
    """The server's URL (its maintenance database), from TEST_POSTGRES_URL or the default."""
    return make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL)


def _admin(base: URL) -> Engine:
    return create_engine(
        base, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )


def _connect(url: URL) -> psycopg.Connection:
    """A plain psycopg connection to ``url`` (no engine: see the module's docstring)."""
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, connect_timeout=5)


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
    """A database at head of each kind, migrated once (on first use), to copy from; and on
    PostgreSQL a copy emptied for each test (`postgres`)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._reused: str | None = None
        self._fingerprint: tuple[str | None, ...] | None = None

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

    def postgres(self) -> str:
        """The URL of a PostgreSQL database at head with no rows, as a new copy of the
        template is (sequences restarted too); nobody else is connected to it."""
        base = postgres_server()
        if self._reused is None or not self._emptied(base.set(database=self._reused)):
            admin = _admin(base)
            try:
                if self._reused is not None:  # its schema is not the template's any more
                    _drop(admin, self._reused)
                    self._reused = None
                name = f"online_bot_test_{uuid.uuid4().hex[:12]}"
                _create(
                    admin, base, f'CREATE DATABASE "{name}" TEMPLATE "{self.postgres_template()}"'
                )
                self._reused = name
            finally:
                admin.dispose()
            if self._fingerprint is None:
                with _connect(base.set(database=name)) as connection:
                    self._fingerprint = _schema(connection)
                tables = {table.name for table in Base.metadata.sorted_tables}
                assert self._fingerprint[0] is not None
                found = set(re.findall(r"(\w+):r", self._fingerprint[0]))
                left = found - tables - {"alembic_version"}
                assert not left, f"tables the models do not name (rows would stay): {left}"
        return base.set(database=self._reused).render_as_string(hide_password=False)

    def _emptied(self, url: URL) -> bool:
        """Empty the reused database at ``url`` as a test left it, in one connection and one
        transaction; False if its schema is not the template's any more (then it is copied
        again)."""
        with _connect(url) as connection:  # commits on leaving, unless an error is raised
            # what a test left open: ended, as a drop would (so no lock of theirs stays)
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if _schema(connection) != self._fingerprint:
                return False
            for table in reversed(Base.metadata.sorted_tables):  # children first
                connection.execute(f'DELETE FROM "{table.name}"')
            connection.execute(
                "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), "
                "start_value, false) FROM pg_sequences WHERE schemaname = 'public'"
            )
        return True

    def close(self) -> None:
        admin = _admin(postgres_server())
        try:
            for name in (self._reused, self._postgres):
                if name is not None:
                    _drop(admin, name)
        finally:
            admin.dispose()


def _schema(connection: psycopg.Connection) -> tuple[str | None, ...]:
    """The schema's fingerprint (SCHEMA_FINGERPRINT) as ``connection`` sees it."""
    row = connection.execute(SCHEMA_FINGERPRINT).fetchone()
    assert row is not None
    return tuple(row)
