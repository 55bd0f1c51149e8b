"""The composition root: one build for any transport, one close in order, and the policies
named once (credentials, the replica's name, leases)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from bot.alerts.delivery import Poster
from bot.drawing import ChartDrawer, draw_here
from bot.handlers import Deferred, Reply
from bot.render.charts import UTC_ZONE, Chart, Panel, Point
from bot.settings import SettingsError, load_settings
from bot.shell import SHELL_CALLER, ShellPoster, ShellTransport
from bot.simulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY, Drop, demo_scenario
from bot.store.db import DatabaseInUse, single_process
from bot.store.leases import LeasePolicy
from bot.tencent.connect import Tencent, credentials
from bot.wiring import Bot, Plan, build, replica_owner


class ConversationTransport:
    """A transport for tests (errbot's test backend): alerts kept, the plan given, and
    ``serve`` runs a conversation."""

    usergroup_members = None

    def __init__(self, plan: Plan, lines: list[str]) -> None:
        self.chosen = plan
        self.lines = lines
        self.alerts = ShellPoster(lines.append)
        self.replica: str | None = None
        self.simulator_url: str | None = None  # the simulator's, while it served

    def poster(self, replica: str) -> Poster:
        self.replica = replica
        return self.alerts

    def user_zone(self, user_id: str) -> None:
        return None  # a conversation has no user zones: digests default to UTC

    def plan(self, settings, tencent: Tencent) -> Plan:
        assert tencent.simulator is not None  # no TENCENT_IM_SDKAPPID in these tests
        self.simulator_url = tencent.simulator.url
        return self.chosen

    def serve(self, bot: Bot) -> None:
        bot.start()
        created = bot.handlers.command("watch @TGS#demo-small below 5", SHELL_CALLER)
        assert isinstance(created, Deferred)
        created.work()
        listed = bot.handlers.command("watches", SHELL_CALLER)
        assert isinstance(listed, Reply)
        self.lines.append(listed.message.text)


def _refused(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_build_for_the_shell_serves_then_close_shuts_everything_down(tmp_path, capsys):
    lines: list[str] = []
    commands = iter(["/online @TGS#demo-small", "quit"])
    transport = ShellTransport(lines.append, files=tmp_path, read=lambda prompt: next(commands))
    bot = build(load_settings({}), transport)
    with bot:
        assert bot.tencent.simulator is not None  # no TENCENT_IM_SDKAPPID: the simulator
        simulator_url = bot.tencent.simulator.url
        assert bot.plan.poll_interval == 60  # as the bot's: push brings the demo drop
        assert bot.plan.push and bot.plan.push_token  # the simulator pushes, signed
        assert bot.scheduler is None  # not before the transport takes input
        bot.serve()
        assert bot.scheduler is not None and bot.scheduler.running
        assert any("Demo watch in this shell" in line for line in lines)
        assert "Office Hours" in capsys.readouterr().out
        demo_db = tmp_path / "demo.db"
        assert demo_db.exists()
        with pytest.raises(DatabaseInUse), single_process(f"sqlite:///{demo_db}"):
            pass  # held while the bot runs
    assert not bot.scheduler.running
    assert _refused(simulator_url)
    with single_process(f"sqlite:///{demo_db}"):  # released
        pass
    bot.close()  # twice is harmless


def test_the_shell_draws_the_history_of_its_demo_watch(tmp_path):
    lines: list[str] = []
    commands = iter(["/online history @TGS#demo-drop 1h", "quit"])
    transport = ShellTransport(lines.append, files=tmp_path, read=lambda prompt: next(commands))
    with build(load_settings({"history_days": 3}), transport) as bot:
        assert bot.handlers.history is not None
        assert bot.handlers.history.kept_days == 3
        bot.serve()
    assert (tmp_path / "history-TGS-demo-drop-1h.png").stat().st_size > 5000


def test_the_owner_named_once_reaches_the_poster_and_the_leases(tmp_path):
    lines: list[str] = []
    transport = ConversationTransport(Plan(f"sqlite:///{tmp_path / 'bot.db'}", 60), lines)
    with build(load_settings({}), transport) as bot:
        bot.serve()
        assert transport.replica == replica_owner() == f"{socket.gethostname()}:{os.getpid()}"
        assert bot.alerting.poller.owner == bot.alerting.deliverer.owner == replica_owner()
        assert bot.digests is not None and bot.digests.owner == replica_owner()
        assert bot.alerting.poller.lease_seconds == LeasePolicy.for_interval(60).targets
        assert bot.alerting.deliverer.lease_seconds == LeasePolicy.for_interval(60).outbox
    assert lines[-1] == "1 watches in this channel (all shown)"


def test_one_way_to_draw_for_every_chart_apart_when_the_transport_asks(tmp_path):
    chart = Chart((Panel("@TGS#x", (Point(0.0, 1), Point(60.0, 2))),), 0.0, 120.0, UTC_ZONE, "")
    here = ConversationTransport(Plan(f"sqlite:///{tmp_path / 'here.db'}", 60), [])
    with build(load_settings({}), here) as bot:
        assert bot.digests is not None and bot.alerting.charts is not None
        assert bot.handlers.draw is bot.digests.draw is bot.alerting.charts.draw is draw_here
    apart = ConversationTransport(
        Plan(f"sqlite:///{tmp_path / 'apart.db'}", 60, draw_apart=True), []
    )
    with build(load_settings({}), apart) as bot:
        assert bot.digests is not None and bot.alerting.charts is not None
        (draw,) = {bot.handlers.draw, bot.digests.draw, bot.alerting.charts.draw}
        assert isinstance(draw.__self__, ChartDrawer)  # type: ignore[attr-defined]
        assert multiprocessing.active_children() == []  # started with the first chart
        assert bot.handlers.chart_png(chart).startswith(b"\x89PNG")
        assert len(multiprocessing.active_children()) == 1
    assert multiprocessing.active_children() == []  # stopped with the bot


def test_an_unwatched_audience_leaves_the_metrics_at_once(tmp_path):
    transport = ConversationTransport(Plan(f"sqlite:///{tmp_path / 'bot.db'}", 60), [])
    series = 'online_bot_watched_online_members{group_id="@TGS#demo-small",mark=""}'
    with build(load_settings({}), transport) as bot:
        created = bot.handlers.command("watch @TGS#demo-small below 5", SHELL_CALLER)
        assert isinstance(created, Deferred)
        created.work()
        bot.alerting.poller.run_cycle()  # its first check: an audience to serve
        assert series in bot.metrics.exposition().decode()  # read, and kept for 5 s
        removed = bot.handlers.command("unwatch 1", SHELL_CALLER)
        assert isinstance(removed, Reply) and "stopped watching" in removed.message.text
        assert series not in bot.metrics.exposition().decode()


def test_a_database_in_use_closes_what_was_opened_before_it(tmp_path):
    database = f"sqlite:///{tmp_path / 'bot.db'}"
    transport = ConversationTransport(Plan(database, 60), [])
    with single_process(database), pytest.raises(DatabaseInUse):
        build(load_settings({}), transport)
    assert transport.simulator_url is not None
    assert _refused(transport.simulator_url)  # the simulator started for it stopped


def test_a_refused_plan_closes_the_simulator(tmp_path):
    class Refusing(ConversationTransport):
        def plan(self, settings, tencent: Tencent) -> Plan:
            super().plan(settings, tencent)
            raise SettingsError("no")

    transport = Refusing(Plan("unused", 60), [])
    with pytest.raises(SettingsError):
        build(load_settings({}), transport)
    assert transport.simulator_url is not None
    assert _refused(transport.simulator_url)


def test_the_shell_refuses_to_poll_a_real_app_faster_than_tencent_caches(tmp_path):
    settings = load_settings(
        {
            "TENCENT_IM_SDKAPPID": "1400000001",
            "TENCENT_IM_SECRET_KEY": "key",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        }
    )
    lines: list[str] = []
    with pytest.raises(SettingsError, match="--poll-interval 10 is below 40 s"):
        build(settings, ShellTransport(lines.append, 10, files=tmp_path))
    assert lines == ["Using Tencent Cloud Chat app 1400000001."]
    assert not (tmp_path / "bot.db").exists()  # refused before the database was opened


@pytest.mark.parametrize(
    ("interval", "poll", "delivery"),
    [(5, 10.0, 30.0), (40, 40.0, 80.0), (60, 60.0, 120.0), (3600, 60.0, 120.0)],
)
def test_lease_policy(interval, poll, delivery):
    policy = LeasePolicy.for_interval(interval)
    assert (policy.targets, policy.outbox) == (poll, delivery)


def test_credentials_are_the_simulators_without_an_app_else_the_apps():
    demo = credentials(load_settings({}))
    assert (demo.sdkappid, demo.secret_key, demo.admin) == (
        DEMO_SDKAPPID,
        DEMO_SECRET_KEY,
        DEMO_ADMIN,
    )
    app = credentials(
        load_settings(
            {
                "TENCENT_IM_SDKAPPID": "1400000001",
                "TENCENT_IM_SECRET_KEY": "key",
                "TENCENT_IM_ADMIN": "ops",
            }
        )
    )
    assert (app.sdkappid, app.secret_key, app.admin) == (1400000001, "key", "ops")


def test_the_shell_demo_drop_alerts_and_resolves_by_push_each_with_its_chart(tmp_path):
    """The shell's demo watch on @TGS#demo-drop, its drop moved to 3 s after start and
    its recovery to 9 s: both come through the simulator's callbacks (polling is every
    60 s), each about a debounce (here 1 s) after the first callback that counts; the
    running shell (its scheduler's jobs) prints the alert, then a line with its chart's
    PNG, the resolve, then the incident's chart."""
    scenario = demo_scenario()
    groups = [
        replace(g, curve=Drop(start=400, end=40, at=3, recover_at=9))
        if g.group_id == "@TGS#demo-drop"
        else g
        for g in scenario.groups
    ]
    lines: list[str] = []
    charted = threading.Event()

    def write(line: str) -> None:
        lines.append(line)
        if sum("Chart written to" in entry for entry in lines) == 2:
            charted.set()

    def read(prompt: str) -> str:
        assert charted.wait(timeout=40), "\n".join(lines)
        return "quit"

    transport = ShellTransport(write, files=tmp_path, read=read)
    settings = load_settings({"PUSH_DEBOUNCE": "1"})
    started = time.monotonic()
    with build(settings, transport, replace(scenario, groups=groups)) as bot:
        bot.serve()
        took = time.monotonic() - started
        pusher_stats = [p.stats for p in bot.tencent.simulator._pushers]
    text = "\n".join(lines)
    assert took < 30  # far from the 60 s poll: the callbacks did it
    assert pusher_stats and pusher_stats[0].callbacks >= 2 * 8  # 360 out, 360 back, 50 a call
    assert pusher_stats[0].failures == 0
    alert = text.index("Audience 40 is below 100")
    first_chart = text.index("--- #CSHELL: chart of alert 1 ---")
    resolve = text.index("Resolved: 400 online")
    second_chart = text.index("--- #CSHELL: chart of alert 1 ---", first_chart + 1)
    assert text.index("Audience alert") < resolve
    assert alert < first_chart < resolve < second_chart
    paths = [
        Path(line[len("Chart written to ") :]) for line in text.splitlines() if "Chart" in line
    ]
    assert [p.parent for p in paths] == [tmp_path, tmp_path]
    assert [p.name.split("-chart-")[0] for p in paths] == ["alert", "incident"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
