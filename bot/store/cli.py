"""``online-bot db``: create, migrate and inspect the bot's database.

The database is DATABASE_URL, else the default SQLite file (see ``Settings.database``).
Exit codes follow bot.cli: 0 success, 2 configuration or usage error, 1 database error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import SettingsError, load_settings
from bot.store import db as store

EXIT_DB_ERROR = 1
EXIT_USAGE = 2


def _url() -> str:
    try:
        return load_settings().database
    except SettingsError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _run(action: str, url: str, call: Callable[[], object]) -> None:
    """Run ``call()``; a database or Alembic failure becomes one sentence and an exit code."""
    try:
        call()
    except store.DatabaseUnusable as exc:  # unreachable, missing, not creatable
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except CommandError as exc:  # an unknown revision, ...
        click.echo(f"Error: cannot {action} {store.safe_url(url)}: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        click.echo(f"Error: cannot {action} {store.safe_url(url)}: {reason}", err=True)
        sys.exit(EXIT_DB_ERROR)


def _where(url: str) -> str:
    revision = store.current_revision(url)
    head = store.head_revision()
    if revision is None:
        return "empty (no migration applied)"
    return f"at {revision}" + (" (head)" if revision == head else f" (head is {head})")


@click.group()
def db() -> None:
    """Create and migrate the database (DATABASE_URL, else a SQLite file)."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Migrate up to this one.")
def upgrade(revision: str) -> None:
    """Create the tables, or migrate them to the newest schema."""
    url = _url()
    _run("upgrade", url, lambda: store.upgrade(url, revision))
    _run("read", url, lambda: click.echo(f"Database {store.safe_url(url)} is {_where(url)}."))


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Migrate down to REVISION ("base" drops every table: all data is lost)."""
    url = _url()
    _run("downgrade", url, lambda: store.downgrade(url, revision))
    _run("read", url, lambda: click.echo(f"Database {store.safe_url(url)} is {_where(url)}."))


@db.command()
def current() -> None:
    """Show which migration the database is at."""
    url = _url()
    _run("read", url, lambda: click.echo(f"Database {store.safe_url(url)} is {_where(url)}."))
