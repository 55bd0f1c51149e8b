"""Alembic environment: run the migrations against one database.

Which database, first match wins:

1. ``config.attributes["connection"]``: an open SQLAlchemy connection (used as is);
2. ``config.attributes["url"]``: what ``bot.store.db.upgrade(url)`` passes;
3. ``alembic -x url=sqlite:///...``;
4. ``sqlalchemy.url`` in the configuration;
5. the bot's settings: DATABASE_URL, else the default SQLite file
   (so ``alembic upgrade head`` at the repository root migrates the bot's own database).
"""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, make_url

from bot.store.db import is_postgresql, make_engine, migration_options, safe_url

config = context.config
logger = logging.getLogger("alembic.env")

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )
    if url:
        return str(url)
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings().database
    except SettingsError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None


#: pg_advisory_xact_lock key: replicas starting together migrate one at a time.
MIGRATION_LOCK = 0x6F6E6C62  # "onlb"


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, **migration_options(connection.dialect.name))
    with context.begin_transaction():
        if is_postgresql(connection):
            # Held until this transaction ends; the next replica then finds the schema
            # at head and has nothing to do.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the SQL instead of running it (``alembic upgrade head --sql``)."""
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **migration_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    url = _url()
    logger.info("database %s", safe_url(url))
    # SQLite foreign keys stay off while migrating: a batch migration rebuilds a table by
    # dropping it, which with them on would cascade to (delete) the rows that refer to it.
    engine = make_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            _migrate(connection)
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
