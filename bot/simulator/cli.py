"""``online-bot simulator``: the simulator as a process of its own, saying where it listens
and how to point the bot at it, until Ctrl-C.

Exit codes follow bot.cli: 0 success, 2 usage error (a scenario it cannot use, a port it
cannot listen on).
"""

from __future__ import annotations

import sys

import click

from bot.simulator.demo import demo_scenario
from bot.simulator.push import check_callback_url
from bot.simulator.scenario import ScenarioError, load_scenario
from bot.simulator.server import Simulator

__all__ = ["simulator"]

EXIT_USAGE = 2


def _callback_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        check_callback_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.command()
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
