"""The ``online-bot`` command line (click).

Exit codes: 0 success, 2 usage or configuration error, 1 Tencent API error.
Errors are one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

from bot import logs
from bot.render.cli_text import check_output, online_output, simulator_note
from bot.settings import Settings, SettingsError, load_settings
from bot.tencent import usersig
from bot.tencent.errors import InvalidInput, TencentError

EXIT_API_ERROR = 1
EXIT_USAGE = 2

_LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
#: ``--mark``, one definition for every command that takes one.
_MARK = click.option(
    "--mark", type=click.IntRange(0, 2**32 - 1), help="Only members carrying this mark (e.g. 1000)."
)


def _exit(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One sentence on stderr, and the exit code."""
    click.echo(message, err=True)
    sys.exit(code)


def _settings() -> Settings:
    """The settings, read before the bot's modules load; the log then takes LOG_FORMAT and
    scrubs every secret they hold (what was logged while reading them, or loading, too)."""
    level = str(click.get_current_context().find_root().params.get("log_level") or "WARNING")
    try:
        with logs.holding():
            settings = load_settings()
            logs.configure_logging(
                level.upper(), settings.log_format, secrets=settings.secret_values
            )
    except SettingsError as exc:
        _exit(f"Configuration error: {exc}")
    return settings


def _refuse(error: Exception) -> NoReturn:
    """A configuration error found once the log is set up: its sentence as a note (a JSON
    line with LOG_FORMAT=json), exit 2."""
    logs.note(f"Configuration error: {error}", logging.ERROR)
    sys.exit(EXIT_USAGE)


@contextmanager
def _exit_on_unusable_setting() -> Iterator[None]:
    """A setting found wrong only when used (the database cannot be opened or is held by
    another process, the port is taken): one clear sentence, exit 2."""
    from bot.store.db import DatabaseUnusable

    try:
        yield
    except (DatabaseUnusable, SettingsError) as exc:
        _refuse(exc)


@contextmanager
def _exit_on_tencent_error() -> Iterator[None]:
    """A Tencent error: its sentence, exit 2 for what was asked wrong, else 1."""
    try:
        yield
    except TencentError as error:
        code = f" ({error.code_phrase})" if error.code_phrase else ""
        bad_input = isinstance(error, InvalidInput)
        _exit(f"Error{code}: {error.user_message}", EXIT_USAGE if bad_input else EXIT_API_ERROR)


_ELSEWHERE = {"db": "bot.store.cli", "simulator": "bot.simulator.cli"}


class _Commands(click.Group):
    """The commands here, and those that live with what they run (bot/store/cli.py,
    bot/simulator/cli.py), imported only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_ELSEWHERE])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _ELSEWHERE:
            return getattr(importlib.import_module(_ELSEWHERE[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="WARNING", show_default=True, type=_LOG_LEVELS)
@click.version_option(package_name="online-bot")
def main(log_level: str) -> None:
    """Who is online in your Tencent Cloud Chat audio-video groups."""
    logs.configure_logging(log_level.upper())


@main.command()
@click.argument("group_id")
@_MARK
@click.option(
    "--is",
    "accounts",
    default=None,
    metavar="ACCOUNT[,ACCOUNT...]",
    help="Instead: whether these accounts are in the group now (beyond the list's 1,000 cap too).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def online(group_id: str, mark: int | None, accounts: str | None, as_json: bool) -> None:
    """Count and list the online members of GROUP_ID."""
    from bot.commands.grammar import UsageError, split_accounts

    try:
        if accounts is not None and mark is not None:
            raise UsageError("--is checks accounts in the whole group: leave --mark out.", "")
        asked = split_accounts(accounts) if accounts is not None else ()
    except UsageError as error:
        _exit(f"Usage error: {error.problem}")
    settings = _settings()
    from bot.tencent.connect import open_tencent

    with open_tencent(settings) as tencent, _exit_on_tencent_error():
        if tencent.simulator is not None:
            click.echo(simulator_note(tencent.simulator.scenario), err=True)
        if asked:
            check = tencent.client.check_members(group_id, asked)
            click.echo(check_output(check, as_json=as_json))
            return
        result = tencent.client.online_members(group_id, mark)
        count = tencent.client.online_count(group_id)
    click.echo(online_output(result, count, as_json=as_json))


@main.command()
@click.argument("group_id")
@_MARK
@click.option(
    "--range",
    "range_text",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How far back: 1h, 6h, 24h, 7d, or any duration from 5m to 31d.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Where to write the PNG [default: history-GROUP-RANGE.png here].",
)
@click.option(
    "--tz",
    "zone_name",
    default=None,
    metavar="ZONE",
    help="The chart's time zone, e.g. Europe/Paris [default: this machine's].",
)
def history(
    group_id: str, mark: int | None, range_text: str, out: str | None, zone_name: str | None
) -> None:
    """Chart GROUP_ID's stored audience as a PNG, from the bot's database (DATABASE_URL).

    The bot stores a sample at every check of a watched group: this draws them, with
    every watch's thresholds and alert periods. Exit 1 when there is nothing to draw.
    """
    from bot.commands.grammar import UsageError, parse_history_options
    from bot.render.cli_text import no_samples_text
    from bot.zones import local_zone

    try:
        seconds, zone = parse_history_options(group_id, range_text, zone_name)
    except UsageError as error:
        _exit(f"Usage error: {error.problem}")
    zone = zone or local_zone()
    settings = _settings()
    from bot.alerts.history import HistoryUnreadable, read_stored_history
    from bot.render.charts import render_png  # matplotlib: imported when a chart is drawn
    from bot.render.history import render_history_text

    with _exit_on_unusable_setting():
        try:
            view = read_stored_history(settings, group_id, mark, seconds)
        except HistoryUnreadable as error:
            _exit(str(error), EXIT_API_ERROR)
    if not view.points:
        _exit(no_samples_text(view, range_text, zone), EXIT_API_ERROR)
    path = Path(out) if out is not None else Path(view.filename)
    try:
        path.write_bytes(render_png(view.chart(zone)))
    except OSError as error:
        _exit(f"Error: cannot write {path}: {error.strerror or error}")
    click.echo(str(path))
    click.echo(render_history_text(view, zone))


@main.command()
@click.option(
    "--poll-interval",
    type=click.IntRange(5, 86_400),
    default=None,
    help="Seconds between checks of watched groups (default: POLL_INTERVAL; on the "
    "simulator, its pushed callbacks bring changes sooner).",
)
def shell(poll_interval: int | None) -> None:
    """Try the bot in the terminal: the Slack command handlers, without Slack."""
    settings = _settings()
    from bot.shell import ShellTransport
    from bot.wiring import build

    transport = ShellTransport(click.echo, poll_interval)
    with _exit_on_unusable_setting(), build(settings, transport) as bot:
        bot.serve()


@main.command()
def run() -> None:
    """Run the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP mode on PORT."""
    settings = _settings()
    try:  # what the settings alone can tell, before the bot's modules load (about a second)
        settings.check_slack_app()
    except SettingsError as exc:
        _refuse(exc)
    from bot.metrics import Metrics
    from bot.slack.transport import SlackTransport
    from bot.wiring import build, replica_owner

    logs.set_fields(replica=replica_owner())
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # docker stop: a Ctrl-C
    metrics = Metrics()  # the Slack clients and the bot count into one registry
    with _exit_on_unusable_setting():
        # notes for the operator: on stderr, as JSON lines with LOG_FORMAT=json
        transport = SlackTransport.connect(settings, say=logs.note, metrics=metrics)
        with build(settings, transport, metrics=metrics) as bot:
            bot.serve()


@main.command("usersig")
@click.argument("identifier", required=False)
@click.option(
    "--expire",
    type=click.IntRange(1, usersig.MAX_EXPIRE),
    default=usersig.DEFAULT_EXPIRE,
    show_default=True,
    help="Validity in seconds.",
)
def usersig_command(identifier: str | None, expire: int) -> None:
    """Print a UserSig for IDENTIFIER (default: the admin account) of the configured app."""
    settings = _settings()
    from bot.tencent.connect import credentials

    if settings.use_simulator:
        click.echo("No TENCENT_IM_SDKAPPID set: signing for the simulator's demo app.", err=True)
    app = credentials(settings)
    who = identifier or settings.tencent_im_admin
    now = int(time.time())
    click.echo(usersig.generate(app.sdkappid, app.secret_key, who, expire=expire, now=now))
