"""Open App Homes published again when a watch changes state (bot/slack/home_refresh.py):
which Homes, how often (on a test clock), and, over signed requests into the running app
with alerts delivered to the fake Slack, that the Home follows an alert and its resolve
without holding up or failing a delivery, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from support.alerting import GROUP
from support.slackapp import start_app
from support.waiting import wait_until

from bot.metrics import Metrics
from bot.slack.home_refresh import GAP, RECENT, HomeRefresh
from bot.store import OutboxStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def refresh():
    """A HomeRefresh on a test clock, run pass by pass (no thread): ``views`` the pages
    made, ``sent`` the (user, page) published."""
    clock = Clock()
    homes = HomeRefresh(clock=clock)
    homes.views, homes.sent = [], []  # type: ignore[attr-defined]

    def view(page: int) -> dict:
        homes.views.append(page)  # type: ignore[attr-defined]
        return {"type": "home", "page": page}

    def send(user_id: str, made: dict) -> None:
        homes.sent.append((user_id, made["page"]))  # type: ignore[attr-defined]

    homes.publish_with(view, send)
    return homes, clock


def test_a_burst_of_changes_is_one_publish_per_open_home_and_one_view_per_page(refresh):
    homes, _ = refresh
    homes.seen("U1", 0)
    homes.seen("U2", 0)
    homes.seen("U3", 2)
    assert homes.publish_due() is None and homes.sent == []  # nothing changed yet
    for _ in range(10):
        homes.changed()
    assert homes.publish_due() is None
    assert sorted(homes.sent) == [("U1", 0), ("U2", 0), ("U3", 2)]
    assert sorted(homes.views) == [0, 2]  # each page made once, for all its users
    assert homes.publish_due() is None and len(homes.sent) == 3  # nothing more due


def test_a_change_within_the_gap_is_published_at_its_end(refresh):
    homes, clock = refresh
    homes.seen("U1", 0)
    homes.changed()
    homes.publish_due()
    clock.advance(1)
    homes.changed()
    homes.changed()
    assert homes.publish_due() == pytest.approx(GAP - 1)  # waits, and says how long
    assert homes.sent == [("U1", 0)]
    clock.advance(GAP - 1)
    assert homes.publish_due() is None
    assert homes.sent == [("U1", 0), ("U1", 0)]


def test_only_homes_used_in_the_last_30_minutes_at_their_page(refresh):
    homes, clock = refresh
    homes.seen("U1", 0)
    homes.seen("U2", 1)
    clock.advance(RECENT - 60)
    homes.seen("U2", 3)  # U2 pressed Next meanwhile
    clock.advance(61)
    homes.changed()
    homes.publish_due()
    assert homes.sent == [("U2", 3)]  # U1 opened it 30 minutes and a second ago
    homes.seen("U1", 0)  # back on the Home
    homes.changed()
    clock.advance(GAP)
    homes.publish_due()
    assert sorted(homes.sent[1:]) == [("U1", 0), ("U2", 3)]


def test_a_failure_making_one_page_is_logged_and_the_others_published(refresh, caplog):
    homes, _ = refresh
    sent: list[tuple[str, int]] = []

    def view(page: int) -> dict:
        if page == 1:
            raise RuntimeError("a bug")
        return {"page": page}

    homes.publish_with(view, lambda user, made: sent.append((user, made["page"])))
    homes.seen("U1", 1)
    homes.seen("U2", 0)
    homes.changed()
    with caplog.at_level(logging.ERROR, logger="bot.slack.home_refresh"):
        homes.publish_due()
    assert sent == [("U2", 0)]
    assert "refreshing the App Home of U1" in caplog.text


# -- over the running app, with alerts delivered -------------------------------------------


@pytest.fixture
def running(env, sim, fake_slack):
    """The app with its Homes refreshed (a short gap) as the deliverer tells of changes,
    counting its Slack calls."""
    metrics = Metrics()
    homes = HomeRefresh(gap=0.2)
    app, stop = start_app(sim, fake_slack.api_url, env.watches, metrics=metrics, home_refresh=homes)
    env.deliverer.on_state_posted(homes.changed)  # as the Slack transport has it
    yield app, metrics
    stop()


def section(fake_slack, watch_id: int) -> str:
    """The text of watch ``watch_id``'s section in U1's Home, as Slack last got it."""
    view = fake_slack.home_view("U1")
    assert view is not None
    (text,) = [
        block["text"]["text"]
        for block in view["blocks"]
        if block["type"] == "section"
        and block.get("text", {}).get("text", "").startswith(f"*#{watch_id}* ")
    ]
    return text


def test_an_open_home_follows_an_alert_and_its_resolve(env, sim, running, fake_slack):
    app, _ = running
    env.watch(f"watch {GROUP} below 100")
    env.cycle()
    app.open_home()
    fake_slack.wait_for("views.publish")
    assert "🟢 ok · 500 online" in section(fake_slack, 1)

    sim.set_audience(GROUP, 10)
    env.cycle()  # fires: the alert is posted, then the Home published again
    calls = fake_slack.wait_for("views.publish", 2)
    assert calls[-1].params["user_id"] == "U1"
    assert "🔴 firing · 10 online" in section(fake_slack, 1)
    assert len(fake_slack.calls("chat.postMessage")) == 1

    sim.set_audience(GROUP, 500)
    env.cycle()  # resolves
    fake_slack.wait_for("views.publish", 3)
    assert "🟢 ok · 500 online" in section(fake_slack, 1)


def test_a_home_slack_refuses_fails_no_delivery_and_is_counted(
    env, sim, running, fake_slack, caplog
):
    app, metrics = running
    env.watch(f"watch {GROUP} below 100")
    app.open_home()
    fake_slack.wait_for("views.publish")
    fake_slack.fail_next("views.publish", "internal_error")
    sim.set_audience(GROUP, 10)
    labels = {"method": "views.publish", "outcome": "error"}
    with caplog.at_level(logging.WARNING, logger="bot.slack.home"):
        _, delivered = env.cycle()
        wait_until(
            lambda: metrics.value("online_bot_slack_calls_total", labels) == 1,
            timeout=10,
            what="the refused publish counted",
        )
    assert delivered.delivered == 1 and delivered.failed == 0
    (row,) = env.outbox()
    assert row.status == OutboxStatus.DELIVERED
    assert "could not publish the App Home of U1: internal_error" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_publish_slack_holds_up_delays_no_alert(env, sim, running, fake_slack):
    app, _ = running
    sim.add_group("@TGS#other", "Other", "AVChatRoom")
    sim.set_audience("@TGS#other", 500)
    env.watch(f"watch {GROUP} below 100")
    env.watch("watch @TGS#other below 100", channel="C2")
    app.open_home()
    fake_slack.wait_for("views.publish")
    fake_slack.hold("views.publish")  # Slack takes its time over the next Home
    sim.set_audience(GROUP, 10)
    _, first = env.cycle()
    fake_slack.wait_for_held("views.publish")
    sim.set_audience("@TGS#other", 10)
    try:
        _, second = env.cycle()  # while the Home's publish hangs
        assert (first.delivered, second.delivered) == (1, 1)
        assert len(fake_slack.calls("chat.postMessage")) == 2
    finally:
        fake_slack.release("views.publish")
    fake_slack.wait_for("views.publish", 3)  # the second change, published after the first
