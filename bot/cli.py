"""The ``online-bot`` command line (click).

Exit codes: 0 success, 2 usage or configuration error, 1 Tencent API error.
Errors are one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import logs
from bot.logs import configure_logging
from bot.render.cli_text import check_json, check_text, online_json, online_text
from bot.settings import Settings, SettingsError, load_settings
from bot.tencent import usersig
from bot.tencent.errors import InvalidInput, TencentError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.render.history import HistoryView

EXIT_API_ERROR = 1
EXIT_USAGE = 2


def _settings() -> Settings:
    """The settings; the log then takes LOG_FORMAT, and scrubs every secret they hold (what
    was logged while reading them comes out in that format too)."""
    level = str(click.get_current_context().find_root().params.get("log_level") or "WARNING")
    try:
        with logs.holding():
            settings = load_settings()
            configure_logging(level.upper(), settings.log_format, secrets=settings.secret_values)
    except SettingsError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    return settings


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def _exit_on_unusable_setting() -> Iterator[None]:
    """A setting found wrong only when used (the database cannot be opened or is held by
    another process, the port is taken): one clear sentence, exit 2."""
    from bot.store.db import DatabaseUnusable

    try:
        yield
    except (DatabaseUnusable, SettingsError) as exc:
        logs.note(f"Configuration error: {exc}", logging.ERROR)
        sys.exit(EXIT_USAGE)


def _fail(error: TencentError) -> None:
    code = f" ({error.code_phrase})" if error.code_phrase else ""
    click.echo(f"Error{code}: {error.user_message}", err=True)
    sys.exit(EXIT_USAGE if isinstance(error, InvalidInput) else EXIT_API_ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.version_option(package_name="online-bot")
def main(log_level: str) -> None:
    """Who is online in your Tencent Cloud Chat audio-video groups."""
    configure_logging(log_level.upper())


@main.command()
@click.argument("group_id")
@click.option(
    "--mark",
    type=click.IntRange(0, 2**32 - 1),
    default=None,
    help="Only members carrying this mark (e.g. 1000).",
)
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
    from bot.wiring import open_tencent

    asked: tuple[str, ...] = ()
    if accounts is not None:
        try:
            if mark is not None:
                raise UsageError("--is checks accounts in the whole group: leave --mark out.", "")
            asked = split_accounts(accounts)
        except UsageError as error:
            click.echo(f"Usage error: {error.problem}", err=True)
            sys.exit(EXIT_USAGE)
    settings = _settings()
    with open_tencent(settings) as tencent:
        if tencent.simulator is not None:
            names = ", ".join(g.group_id for g in tencent.simulator.scenario.groups)
            click.echo(
                f"No TENCENT_IM_SDKAPPID set: using the built-in simulator ({names}).", err=True
            )
        if asked:
            try:
                check = tencent.client.check_members(group_id, asked)
            except TencentError as error:
                _fail(error)
                return
            click.echo(json.dumps(check_json(check)) if as_json else check_text(check))
            return
        try:
            result = tencent.client.online_members(group_id, mark)
            count = tencent.client.online_count(group_id)
        except TencentError as error:
            _fail(error)
            return
    if as_json:
        click.echo(json.dumps(online_json(result, count), ensure_ascii=False))
    else:
        click.echo(online_text(result, count))


@main.command()
@click.argument("group_id")
@click.option(
    "--mark",
    type=click.IntRange(0, 2**32 - 1),
    default=None,
    help="The samples of watches on this mark (e.g. 1000).",
)
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
    from bot.commands.grammar import UsageError, parse_duration
    from bot.commands.history import check_range
    from bot.tencent.validation import validate_group_id
    from bot.zones import local_zone, parse_zone

    try:
        validate_group_id(group_id)
        seconds = check_range(parse_duration(range_text))
    except InvalidInput as error:
        click.echo(f"Usage error: {error.user_message}", err=True)
        sys.exit(EXIT_USAGE)
    except UsageError as error:
        click.echo(f"Usage error: --range {range_text}: {error.problem}", err=True)
        sys.exit(EXIT_USAGE)
    zone = local_zone() if zone_name is None else parse_zone(zone_name)
    if zone is None:
        click.echo(
            f"Usage error: --tz {zone_name} is not a time zone: give an IANA name such as "
            "Europe/Paris, America/New_York or UTC.",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    settings = _settings()
    with _exit_on_unusable_setting():
        view = _read_history(settings.database, group_id, mark, seconds, settings.history_days)
    if not view.points:
        what = group_id if mark is None else f"{group_id} mark {mark}"
        if view.latest_before is None:
            click.echo(
                f"No samples of {what} in the database: the bot records an audience only "
                f"while a channel watches it (/online watch {group_id} below <N>).",
                err=True,
            )
        else:
            click.echo(
                f"No samples of {what} in the last {range_text}; the latest is from "
                f"{_local_time(view.latest_before, zone)}: try a longer --range.",
                err=True,
            )
        sys.exit(EXIT_API_ERROR)
    from bot.render.charts import render_png
    from bot.render.history import render_history_text

    path = Path(out) if out is not None else Path(view.filename)
    try:
        path.write_bytes(render_png(view.chart(zone)))
    except OSError as error:
        click.echo(f"Error: cannot write {path}: {error.strerror or error}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(str(path))
    click.echo(render_history_text(view, zone))


def _read_history(
    url: str, group_id: str, mark: int | None, seconds: int, kept_days: int
) -> HistoryView:
    """The history in the database at ``url``, every watch's; read only (no migration,
    and a SQLite file that is not there is not created)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.alerts.history import HistoryReader
    from bot.store.db import make_engine, safe_url, session_factory

    parsed = make_url(url)
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file and not Path(sqlite_file).is_file():
        click.echo(
            f"No database at {sqlite_file} yet: the bot has recorded nothing there (it "
            "records samples of watched groups while it runs). Set DATABASE_URL to the "
            "bot's database.",
            err=True,
        )
        sys.exit(EXIT_API_ERROR)
    engine = make_engine(url)
    try:
        reader = HistoryReader(session_factory(engine), kept_days=kept_days)
        return reader.read(group_id, mark, seconds, channel_id=None)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        click.echo(
            f"Error: cannot read the samples in {safe_url(url)} ({reason}): is it the bot's "
            "database, migrated (online-bot db upgrade)?",
            err=True,
        )
        sys.exit(EXIT_API_ERROR)
    finally:
        engine.dispose()


def _local_time(unix: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(unix, zone).strftime("%Y-%m-%d %H:%M %Z")


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
    from bot.shell import ShellTransport
    from bot.wiring import build

    settings = _settings()
    transport = ShellTransport(click.echo, poll_interval)
    with _exit_on_unusable_setting(), build(settings, transport) as bot:
        bot.serve()


@main.command()
def run() -> None:
    """Run the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP mode on PORT."""
    from bot.metrics import Metrics
    from bot.slack.transport import SlackTransport
    from bot.wiring import build, replica_owner

    settings = _settings()
    logs.set_fields(replica=replica_owner())
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # docker stop: shut down cleanly
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
    from bot.wiring import credentials

    settings = _settings()
    if settings.use_simulator:
        click.echo("No TENCENT_IM_SDKAPPID set: signing for the simulator's demo app.", err=True)
    app = credentials(settings)
    who = identifier or settings.tencent_im_admin
    signature = usersig.generate(
        app.sdkappid, app.secret_key, who, expire=expire, now=int(time.time())
    )
    click.echo(signature)


def _attach_db() -> None:
    from bot.store.cli import db

    main.add_command(db)


_attach_db()


def _callback_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from bot.simulator.push import check_callback_url

    try:
        check_callback_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A scenario YAML file (groups, audiences, faults); default: the demo.",
)
@click.option(
    "--callback-url",
    metavar="URL",
    callback=_callback_url,
    help="POST Tencent's member-state callbacks (Group.CallbackOnMemberStateChange) "
    "for the AVChatRoom groups to this http(s) URL, every second.",
)
@click.option(
    "--callback-token",
    metavar="TOKEN",
    help="Sign the callbacks with this webhook token (the bot's TENCENT_IM_CALLBACK_TOKEN); "
    "without it they are unsigned.",
)
def simulator(
    host: str,
    port: int,
    scenario_file: str | None,
    callback_url: str | None,
    callback_token: str | None,
) -> None:
    """Run the local Tencent Cloud Chat simulator."""
    from bot.simulator import ScenarioError, Simulator, demo_scenario, load_scenario

    if callback_token is not None and callback_url is None:
        raise click.UsageError("--callback-token signs callbacks: give --callback-url too.")
    try:
        scenario = load_scenario(scenario_file) if scenario_file else demo_scenario()
    except ScenarioError as exc:
        click.echo(f"Scenario error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sim = Simulator(scenario)
    click.echo(
        f"Simulator on http://{host}:{port}  SDKAppID {scenario.sdkappid}  "
        f"secret key {scenario.secret_key}  admin {scenario.admin}\n"
        f"Point the bot at it: TENCENT_IM_BASE_URL=http://{host}:{port} "
        f"TENCENT_IM_SDKAPPID={scenario.sdkappid} TENCENT_IM_SECRET_KEY={scenario.secret_key}\n"
        "Groups: " + ", ".join(f"{g.group_id} ({g.type})" for g in scenario.groups)
    )
    if callback_url is not None:
        pusher = sim.push_callbacks(callback_url, callback_token)
        signing = (
            "signed with the token (Sign = sha256(token + RequestTime))"
            if callback_token
            else "unsigned (no --callback-token)"
        )
        click.echo(
            f"Pushing member-state callbacks of the AVChatRoom groups to {pusher.where} "
            f"every {pusher.interval:g} s, at most 50 members each, {signing}"
        )
    try:
        sim.serve_forever(host, port)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        click.echo(f"Cannot listen on {host}:{port}: {exc.strerror}; try another --port.", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        sim.stop()
