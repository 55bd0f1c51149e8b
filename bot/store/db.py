"""Engines, sessions and migrations, for SQLite files and PostgreSQL alike.

The URL is the one ``Settings.database`` gives (DATABASE_URL, else a SQLite file in the
user's data directory). URLs may hold a password: show them only through ``safe_url``.

Migrations are the Alembic scripts in the repository's ``migrations`` directory (shipped
in the wheel as ``bot/migrations``); run them with ``upgrade``/``downgrade`` here,
``online-bot db upgrade``, or ``alembic upgrade head`` at the repository root. ``check``
says whether the models and a migrated database agree.

A database that cannot be opened (server down, database missing, a SQLite path that
cannot be created) raises DatabaseUnusable, whose message names DATABASE_URL and says
what to do; the command line turns it into exit code 2.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Float,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bot.store.models import Base, UTCDateTime

if TYPE_CHECKING:  # Alembic is loaded when a migration runs, not to start at head
    from alembic.autogenerate.api import AutogenContext
    from alembic.config import Config

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "POSTGRES_CONNECT_TIMEOUT",
    "SQLITE_BUSY_TIMEOUT_MS",
    "DatabaseInUse",
    "DatabaseUnusable",
    "alembic_config",
    "check",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_postgresql",
    "known_revisions",
    "make_engine",
    "migration_options",
    "revision_of",
    "safe_url",
    "seconds_reader",
    "session_factory",
    "unix_seconds",
    "upgrade",
]

logger = logging.getLogger(__name__)


def _migrations_dir() -> Path:
    """Installed from a wheel: ``bot/migrations`` in the package; in a checkout (or an
    editable install): ``migrations/`` at the top of the repository."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    return package.parent / "migrations"


#: The Alembic scripts.
MIGRATIONS_DIR = _migrations_dir()

#: How long a SQLite writer waits for another one before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000

#: Seconds to wait for a PostgreSQL server that does not answer (unless the URL says).
POSTGRES_CONNECT_TIMEOUT = 10


class DatabaseUnusable(Exception):
    """The database DATABASE_URL names cannot be used; the message says why and what to do."""


class DatabaseInUse(DatabaseUnusable):
    """Another process already uses this SQLite database."""


def safe_url(url: str | URL) -> str:
    """The URL fit for logs and messages: any password is masked."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str | URL, *, echo: bool = False, sqlite_foreign_keys: bool = True) -> Engine:
    """An engine for ``url``.

    SQLite: the file's directory is created on first start, and every connection gets
    ``journal_mode=WAL`` (readers do not block the writer), ``busy_timeout`` and
    ``foreign_keys=ON`` (SQLite ignores ON DELETE rules without it; migrations turn it off,
    as table rebuilds would otherwise cascade). PostgreSQL: connections are pinged before
    use, so a restarted server costs no failed request, and a server that does not answer
    is given up after ``POSTGRES_CONNECT_TIMEOUT``. A directory that cannot be created, or
    a dialect without a driver, raises DatabaseUnusable.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None and not path.parent.exists():
            _make_directory(parsed, path.parent)
            logger.info("created %s for the SQLite database", path.parent)
        engine = _create_engine(parsed, echo=echo)
        foreign_keys = "ON" if sqlite_foreign_keys else "OFF"

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cursor.execute(f"PRAGMA foreign_keys={foreign_keys}")
            finally:
                cursor.close()

    else:
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT
        engine = _create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    logger.debug("database engine for %s", safe_url(parsed))
    return engine


def _create_engine(url: URL, **options: Any) -> Engine:
    try:
        return create_engine(url, **options)
    except (ArgumentError, ImportError) as exc:  # an unknown dialect, a missing driver
        raise DatabaseUnusable(
            f"DATABASE_URL {safe_url(url)} names a database the bot has no driver for ({exc}): "
            "use sqlite:////path/to/online-bot.db or postgresql+psycopg://user@host:5432/dbname."
        ) from None


def _make_directory(url: URL, directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnusable(_cannot_open(url, exc.strerror or str(exc))) from None


def _cannot_open(url: str | URL, reason: str) -> str:
    """The sentence for a database that cannot be opened, with what to do."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        fix = (
            "give a file path in a directory this user may create and write "
            "(sqlite:////path/to/online-bot.db)"
        )
    else:
        fix = (
            "check that the server is running and the database exists "
            f"(createdb {parsed.database or 'NAME'}), or fix the host, port, user or database"
        )
    return f"Cannot open the database at DATABASE_URL {safe_url(parsed)} ({reason}): {fix}."


@contextmanager
def _connected(url: str | URL) -> Iterator[Connection]:
    """A connection on a fresh engine; failing to connect raises DatabaseUnusable."""
    engine = make_engine(url)
    try:
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise DatabaseUnusable(_cannot_open(url, reason)) from None
        with connection:
            yield connection
    finally:
        engine.dispose()


def _reachable(url: str | URL) -> None:
    """Connect to the database once: DatabaseUnusable, saying why and what to do, if not."""
    with _connected(url):
        pass


def is_postgresql(bind: Session | Engine | Connection) -> bool:
    """Whether ``bind`` (a session, an engine or a connection) talks to PostgreSQL: the
    one question the SQL that differs between the two dialects asks."""
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name == "postgresql"
    return bind.dialect.name == "postgresql"


#: The Unix epoch, naive: SQLite's timestamps are naive UTC text.
_EPOCH = datetime(1970, 1, 1)


def _sqlite_seconds(stored: str | None) -> float | None:
    return None if stored is None else (datetime.fromisoformat(stored) - _EPOCH).total_seconds()


def seconds_reader(dialect: Dialect) -> Callable[[Any], float | None] | None:
    """How the driver's value of a ``unix_seconds`` column becomes Unix seconds: parsed
    from SQLite's text; None where the driver gives them already (PostgreSQL)."""
    return _sqlite_seconds if dialect.name == "sqlite" else None


class _Seconds(Float[float]):
    """Unix seconds as a float: as PostgreSQL's driver gives it, or parsed from SQLite's text."""

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        return seconds_reader(dialect)


class _UnixSeconds(FunctionElement[float]):
    type = _Seconds()
    inherit_cache = True


def unix_seconds(column: ColumnElement[datetime]) -> ColumnElement[float]:
    """A ``UTCDateTime`` column read as Unix seconds (a float), equal to the datetime's
    ``timestamp()`` to the microsecond, for reading thousands of rows: about half the CPU
    of making aware datetimes (the driver's, then ``UTCDateTime``'s, per row).

    PostgreSQL computes it: ``EXTRACT(EPOCH ...)`` of the ``timestamptz`` is exact (a
    numeric), and its conversion to ``double precision`` is correctly rounded, like
    ``timestamp()``'s one division of the microseconds. SQLite returns the stored naive UTC
    text (``YYYY-MM-DD HH:MM:SS[.ffffff]``), parsed here by ``datetime.fromisoformat``
    (SQLite's own date functions cost more, and round to milliseconds).
    """
    return _UnixSeconds(column)


@compiles(_UnixSeconds)
def _unix_seconds_postgresql(element: _UnixSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"


@compiles(_UnixSeconds, "sqlite")
def _unix_seconds_sqlite(element: _UnixSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@contextmanager
def single_process(url: str | URL) -> Iterator[None]:
    """Hold this SQLite database for this process alone; no-op for other databases.

    SQLite serves one process: two bots on one file would both poll and both alert.
    The lock is an exclusive ``flock`` on ``<file>.lock``, released when the process
    ends however it ends.
    """
    parsed = make_url(url)
    path = _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is None:
        yield
        return
    _make_directory(parsed, path.parent)
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 -- closed by the with below
    except OSError as exc:
        raise DatabaseUnusable(_cannot_open(parsed, exc.strerror or str(exc))) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise DatabaseInUse(
                f"The SQLite database {path} is already in use by {holder}. SQLite serves one "
                "bot process; stop the other one, or run several replicas on PostgreSQL "
                "(DATABASE_URL=postgresql+psycopg://user@host:5432/dbname)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine``; objects stay readable after commit (expire_on_commit=False)."""
    return sessionmaker(engine, expire_on_commit=False)


# --- migrations ----------------------------------------------------------------------


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Autogenerate writes our column types as plain SQLAlchemy ones."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def migration_options(dialect_name: str) -> dict[str, Any]:
    """The options env.py and ``check`` both give Alembic's migration context."""
    return {
        "target_metadata": Base.metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "render_item": _render_item,
    }


#: The migration this code's models need (``head_revision()``, the newest in the
#: repository: a test holds them equal). A database already there is not migrated, and
#: Alembic not even loaded: a replica's start takes 0.17 s less.
HEAD_REVISION = "0005"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration for the repository's migrations (and ``url``, if given).

    The URL also travels in ``config.attributes["url"]``: env.py prefers it there, as the
    ini-style option would need every ``%`` of a percent-encoded password doubled.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        text = make_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
        config.attributes["url"] = text
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating it from empty); one
    already at ``HEAD_REVISION`` is left as it is when asked for the head."""
    with _connected(url) as connection:
        if revision == "head" and revision_of(connection) == HEAD_REVISION:
            return
    from alembic import command

    logger.info("upgrading %s to %s", safe_url(url), revision)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` ("base" drops everything)."""
    from alembic import command

    _reachable(url)
    logger.info("downgrading %s to %s", safe_url(url), revision)
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest migration in the repository."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> tuple[str, ...]:
    """Every migration in the repository, the newest (head) first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return tuple(revision.revision for revision in script.walk_revisions())


def revision_of(connection: Connection) -> str | None:
    """The migration the database behind ``connection`` is at; None when it has none.
    (Alembic's own reading logs two lines each time: too many for a readiness probe.)"""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current_revision(url: str | URL) -> str | None:
    """The migration the database at ``url`` is at; None when it has none (empty)."""
    with _connected(url) as connection:
        return revision_of(connection)


def check(url: str | URL) -> list[Any]:
    """How the migrated database at ``url`` differs from the models; empty when they agree.

    Each item is one of Alembic's autogenerate diffs, e.g. ``("add_table", Table)`` or
    ``[("modify_type", schema, table, column, {...}, old_type, new_type)]``.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with _connected(url) as connection:
        options = migration_options(connection.dialect.name)
        metadata = options.pop("target_metadata")
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, metadata))
