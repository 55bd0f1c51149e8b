"""The ``online-bot`` command line (click).

Exit codes: 0 success, 2 usage or configuration error, 1 Tencent API error.
Errors are one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from bot.logs import configure_logging
from bot.settings import MIN_POLL_INTERVAL, Settings, SettingsError, load_settings
from bot.tencent import usersig
from bot.tencent.errors import InvalidInput, TencentError
from bot.tencent.models import MemberCheck, OnlineMembers

EXIT_API_ERROR = 1
EXIT_USAGE = 2


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


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
        click.echo(f"Configuration error: {exc}", err=True)
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
            click.echo(json.dumps(_check_json(check)) if as_json else _check_text(check))
            return
        try:
            result = tencent.client.online_members(group_id, mark)
            count = tencent.client.online_count(group_id)
        except TencentError as error:
            _fail(error)
            return
    if as_json:
        click.echo(json.dumps(_as_json(result, count), ensure_ascii=False))
    else:
        click.echo(_as_text(result, count))


def _as_json(result: OnlineMembers, count: int) -> dict[str, object]:
    return {
        "group_id": result.group_id,
        "mark": result.mark,
        "online_count": count,
        "member_count": len(result.members),
        "capped": result.capped,
        "edition_limited": result.edition_limited,
        "partial": result.partial is not None,
        "partial_reason": result.partial.value if result.partial else None,
        "pages": result.pages,
        "members": [m.as_dict() for m in result.members],
    }


def _check_json(check: MemberCheck) -> dict[str, object]:
    return {
        "group_id": check.group_id,
        "checked_at": int(check.checked_at),
        "present": list(check.present),
        "absent": list(check.absent),
    }


def _check_text(check: MemberCheck) -> str:
    asked = len(check.present) + len(check.absent)
    return "\n".join(
        [
            f"{check.group_id}: {len(check.present)} of {asked} in the group now (check_members: "
            "a snapshot up to 40 s old, beyond the list's 1,000 cap too)",
            "  in:     " + (", ".join(check.present) or "-"),
            "  not in: " + (", ".join(check.absent) or "-"),
        ]
    )


def _as_text(result: OnlineMembers, count: int) -> str:
    mark = f" with mark {result.mark}" if result.mark is not None else ""
    lines = [
        f"{result.group_id}: {count} online (exact count); "
        f"list{mark}: {len(result.members)} members in {result.pages} page(s)",
    ]
    if result.capped:
        lines.append("note: Tencent returns only the 1,000 latest members; the list is partial.")
    if result.partial:
        lines.append(
            f"note: incomplete list: Tencent stopped paging after {result.pages} page(s) "
            f"({result.partial.explanation}); these are the members it sent."
        )
    if result.edition_limited:
        lines.append(
            "note: exactly 30 members: lower editions return at most 30. Enable 'List of online "
            "audio-video group members' (Pro, Pro Plus or Enterprise) in the Chat console."
        )
    for m in result.members:
        joined = datetime.fromtimestamp(m.join_time, UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"  {m.account:<24} {joined} UTC  {m.nickname}")
    return "\n".join(lines)


SHELL_POLL_INTERVAL = 10  # seconds: the shell's demo polls faster than POLL_INTERVAL allows
DEMO_WATCH = "watch @TGS#demo-drop below 100 recover 200"


@main.command()
@click.option(
    "--poll-interval",
    type=click.IntRange(5, 86_400),
    default=None,
    help="Seconds between checks of watched groups (default: 10 on the simulator, "
    "else POLL_INTERVAL).",
)
def shell(poll_interval: int | None) -> None:
    """Try the bot in the terminal: the Slack command handlers, without Slack."""
    import tempfile
    from pathlib import Path

    from bot.handlers import OnlineHandlers
    from bot.scheduler import start_scheduler
    from bot.shell import Shell, ShellPoster
    from bot.wiring import open_alerting, open_tencent

    settings = _settings()
    files = Path(tempfile.mkdtemp(prefix="online-bot-"))
    with open_tencent(settings) as tencent:
        demo = tencent.simulator is not None
        if demo:
            click.echo("No TENCENT_IM_SDKAPPID set: the built-in simulator is serving demo groups:")
            for group in tencent.simulator.scenario.groups:  # type: ignore[union-attr]
                click.echo(f"  {group.group_id:<20} {group.name} ({group.type})")
            database = f"sqlite:///{files / 'demo.db'}"
        else:
            click.echo(f"Using Tencent Cloud Chat app {settings.tencent_im_sdkappid}.")
            database = settings.database
        interval = poll_interval or (SHELL_POLL_INTERVAL if demo else settings.poll_interval)
        if interval < MIN_POLL_INTERVAL and not settings.tencent_is_local:
            click.echo(
                f"Configuration error: --poll-interval {interval} is below {MIN_POLL_INTERVAL} s: "
                "Tencent caches the online list for up to 40 s, so faster polling only repeats "
                "the same answer (shorter intervals are for the simulator).",
                err=True,
            )
            sys.exit(EXIT_USAGE)
        poster = ShellPoster(click.echo)
        with (
            _exit_on_unusable_setting(),
            open_alerting(
                settings, tencent.client, database, poster, poll_interval=interval
            ) as alerting,
        ):
            handlers = OnlineHandlers(tencent.client, alerting.watches)
            console = Shell(handlers, files, alerts=poster)
            if demo:
                click.echo(f"Demo watch in this shell: /online {DEMO_WATCH}")
                created = console.execute(f"/online {DEMO_WATCH}")
                click.echo(created.split("\n", 1)[-1])  # without the "looking up" line
                click.echo(
                    "Its audience drops in about 2 minutes and comes back at 5: "
                    "the alert and its resolve will show here."
                )
            click.echo(
                "Type /online <groupId> [mark] [public], /online <groupId> is <a,b>, "
                "/online watches, /online help, "
                "next / prev to page, press ack|mute|unwatch [N] for an alert's buttons, "
                "quit to leave."
            )
            scheduler = start_scheduler(
                alerting.poller,
                alerting.deliverer,
                interval=interval,
                history_days=settings.history_days,
            )
            try:
                console.loop()
            finally:
                # Claim nothing more and let a running cycle finish what it claimed.
                alerting.poller.stop()
                scheduler.shutdown(wait=False)
                handlers.close()


@main.command()
def run() -> None:
    """Run the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP mode on PORT."""
    from bot.handlers import OnlineHandlers
    from bot.scheduler import start_scheduler
    from bot.slack.poster import SlackPoster, poster_client
    from bot.slack.serve import (
        build_app,
        check_auth,
        http_server,
        run_socket_mode,
        usergroup_members,
        web_client,
    )
    from bot.store.db import safe_url
    from bot.wiring import open_alerting, open_tencent

    settings = _settings()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # docker stop: shut down cleanly
    try:
        client = web_client(settings)
        if settings.slack_app_token is None and settings.slack_signing_secret is None:
            raise SettingsError(
                "Set SLACK_APP_TOKEN (xapp-..., Basic Information > App-Level Tokens) for "
                "Socket Mode, or SLACK_SIGNING_SECRET (Basic Information > App Credentials) "
                "for HTTP mode."
            )
        identity = check_auth(client)
    except SettingsError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"Connected to Slack as {identity.get('user')} in {identity.get('team')}.", err=True)
    assert settings.slack_bot_token is not None
    poster = SlackPoster(
        poster_client(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            replica=f"{socket.gethostname()}:{os.getpid()}",
        )
    )
    with open_tencent(settings) as tencent:
        if tencent.simulator is not None:
            click.echo(
                "No TENCENT_IM_SDKAPPID set: answering from the built-in simulator.", err=True
            )
        click.echo(f"Database: {safe_url(settings.database)}", err=True)
        with (
            _exit_on_unusable_setting(),
            open_alerting(
                settings,
                tencent.client,
                settings.database,
                poster,
                poll_interval=settings.poll_interval,
                usergroup_members=lambda group: usergroup_members(client, group),
            ) as alerting,
        ):
            handlers = OnlineHandlers(tencent.client, alerting.watches)
            app = build_app(handlers, client)
            scheduler = start_scheduler(
                alerting.poller,
                alerting.deliverer,
                interval=settings.poll_interval,
                history_days=settings.history_days,
            )
            try:
                if settings.slack_app_token is not None:
                    click.echo("Socket Mode: connecting to Slack.", err=True)
                    run_socket_mode(
                        app, settings.slack_app_token.get_secret_value(), settings.slack_api_url
                    )
                else:
                    assert settings.slack_signing_secret is not None
                    secret = settings.slack_signing_secret.get_secret_value()
                    server = http_server(app, secret, "0.0.0.0", settings.port)
                    click.echo(
                        f"HTTP mode on port {settings.port}: POST /slack/events, GET /healthz.",
                        err=True,
                    )
                    server.run()
            except KeyboardInterrupt:
                pass
            finally:
                # Claim nothing more and let a running cycle finish what it claimed.
                alerting.poller.stop()
                scheduler.shutdown(wait=False)
                handlers.close()


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
    if settings.use_simulator:
        from bot.simulator import DEMO_SDKAPPID, DEMO_SECRET_KEY

        click.echo("No TENCENT_IM_SDKAPPID set: signing for the simulator's demo app.", err=True)
        sdkappid, key = DEMO_SDKAPPID, DEMO_SECRET_KEY
    else:
        assert settings.tencent_im_sdkappid is not None
        assert settings.tencent_im_secret_key is not None
        sdkappid = settings.tencent_im_sdkappid
        key = settings.tencent_im_secret_key.get_secret_value()
    who = identifier or settings.tencent_im_admin
    click.echo(usersig.generate(sdkappid, key, who, expire=expire, now=int(time.time())))


def _attach_db() -> None:
    from bot.store.cli import db

    main.add_command(db)


_attach_db()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A scenario YAML file (groups, audiences, faults); default: the demo.",
)
def simulator(host: str, port: int, scenario_file: str | None) -> None:
    """Run the local Tencent Cloud Chat simulator."""
    from bot.simulator import ScenarioError, Simulator, demo_scenario, load_scenario

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
    try:
        sim.serve_forever(host, port)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        click.echo(f"Cannot listen on {host}:{port}: {exc.strerror}; try another --port.", err=True)
        sys.exit(EXIT_USAGE)
