"""The alerting services over one database, the simulator and the fake Slack: the Env the
alerting tests (test_targets, test_checks, test_judging, test_poller, test_delivery,
test_watches) share, with its ``sim`` and ``env`` fixtures (a plugin that conftest.py
registers; ``env`` starts from a database already at head, ``migrated_database_url``)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bot.alerts.chart_delivery import ChartDeliverer
from bot.alerts.delivery import Deliverer
from bot.alerts.history import HistoryReader
from bot.alerts.names import GroupNames
from bot.alerts.poller import Poller
from bot.commands.grammar import parse
from bot.drawing import draw_here
from bot.simulator import Faults, Scenario, Simulator
from bot.slack.poster import SlackPoster, poster_client
from bot.store import Outbox, make_engine, session_factory
from bot.store.models import AlertStateRow, OutboxKind
from bot.tencent.client import RetryPolicy, TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Actor, Watches

GROUP = "@TGS#live"


class Clock:
    """The bot's clock, set an hour back so Slack's real-time ts are "after" its events."""

    def __init__(self) -> None:
        self.now = time.time() - 3600

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Env:
    """The alerting services over one database already at head (``migrated_database_url``),
    the simulator and the fake Slack."""

    def __init__(self, database_url, sim, fake, clock, admins=frozenset()):
        self.engine = make_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.sim, self.fake, self.clock = sim, fake, clock
        self.tencent = TencentClient(
            sdkappid=sim.scenario.sdkappid,
            secret_key=sim.scenario.secret_key,
            base_url=sim.url,
            rate_limits=RateLimits(200),
            retry=RetryPolicy(attempts=2, deadline=5, initial_wait=0.01, max_wait=0.01),
        )
        self.names = GroupNames(self.tencent, clock=clock)
        self.watches = Watches(
            self.sessions,
            self.tencent,
            self.names,
            admins=admins,
            clock=clock,
            usergroup_members=lambda g: frozenset(fake.usergroups.get(g, [])),
        )
        self.poller = Poller(self.sessions, self.tencent, names=self.names, clock=clock)
        self.poster = SlackPoster(poster_client("xoxb-test", fake.api_url))
        self.deliverer = self.new_deliverer("replica-1")
        self.reader = HistoryReader(self.sessions, self.names, clock=clock)
        self.draw = draw_here
        self.charts_deliverer = self.new_chart_deliverer("replica-1")

    def new_deliverer(self, owner):
        return Deliverer(self.sessions, self.poster, owner=owner, clock=self.clock)

    def new_chart_deliverer(self, owner, **options):
        return ChartDeliverer(
            self.sessions,
            self.poster,
            self.reader,
            draw=self.draw,
            owner=owner,
            clock=self.clock,
            **options,
        )

    def watch(self, text, channel="C1", user="U1"):
        return self.watches.create(parse(text), Actor(user, channel))

    def cycle(self):
        report = self.poller.run_cycle()
        delivered = self.deliverer.deliver_due()
        self.clock.advance(60)
        return report, delivered

    def outbox(self):
        """The messages' rows (the charts that follow them: ``charts()``)."""
        with self.sessions() as session:
            query = select(Outbox).where(Outbox.kind != OutboxKind.CHART).order_by(Outbox.id)
            return session.scalars(query).all()

    def charts(self):
        """The rows of the charts that follow the alerts."""
        with self.sessions() as session:
            query = select(Outbox).where(Outbox.kind == OutboxKind.CHART).order_by(Outbox.id)
            return session.scalars(query).all()

    def close(self):
        self.poller.close()
        self.tencent.close()
        self.engine.dispose()


@pytest.fixture
def sim():
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group(GROUP, "Evening <Stream>", "AVChatRoom")
        running.set_audience(GROUP, 500)
        yield running


@pytest.fixture
def env(migrated_database_url, sim, fake_slack):
    environment = Env(migrated_database_url, sim, fake_slack, Clock())
    yield environment
    environment.close()


def posts(fake, **match):
    return [
        c.params
        for c in fake.calls("chat.postMessage")
        if all(c.params.get(k) == v for k, v in match.items())
    ]


def alert_state(env, watch_id=1):
    with env.sessions() as session:
        return session.get(AlertStateRow, watch_id)
