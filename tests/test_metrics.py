"""The metrics: what each part counts (over real HTTP to the simulator and the fake Slack),
the database's figures at scrape time (on SQLite and PostgreSQL), and the exposition as
Prometheus reads it (prometheus_client's own parser)."""

from __future__ import annotations

import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert, update
from sqlalchemy.orm import sessionmaker
from support.alerting import GROUP, Env
from support.processes import free_port
from support.serving import served
from support.slackapp import start_app
from support.waiting import wait_until

from bot.httpserver import routes_app
from bot.metrics import METRICS_PATH, Metrics, metrics_app
from bot.simulator import Faults, Scenario, Simulator
from bot.slack.metered import MeteredWebClient
from bot.store.figures import WATCH_STATES, DatabaseFigures
from bot.store.models import Outbox, OutboxStatus, TargetRow, Watch
from bot.tencent import errors
from bot.tencent.client import RetryPolicy, TencentClient
from bot.tencent.ratelimit import RateLimits
from bot.watches import Actor

COUNT_API = "group_open_http_svc/get_online_member_num"
MEMBERS_API = "group_open_avchatroom_http_svc/get_members"
QUICK = RetryPolicy(attempts=3, deadline=5, initial_wait=0.01, max_wait=0.01)


def requests_counted(metrics: Metrics, api: str, outcome: str) -> float:
    labels = {"api": api, "outcome": outcome}
    return metrics.value("online_bot_tencent_requests_total", labels) or 0.0


def scrape(metrics: Metrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """GET /metrics over HTTP, parsed as Prometheus does: sample name -> labels -> value."""
    with served(routes_app({METRICS_PATH: metrics_app(metrics)})) as url:
        response = requests.get(url + METRICS_PATH, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


# -- the Tencent client ---------------------------------------------------------------------


@pytest.fixture
def sim():
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group("@TGS#g", "Group G", "AVChatRoom")
        running.set_audience("@TGS#g", 7)
        yield running


def client_for(sim, metrics, **overrides):
    args = {
        "sdkappid": sim.scenario.sdkappid,
        "secret_key": sim.scenario.secret_key,
        "admin": sim.scenario.admin,
        "base_url": sim.url,
        "rate_limits": RateLimits(sim.scenario.rate_limit),
        "retry": QUICK,
        "metrics": metrics,
    }
    args.update(overrides)
    return TencentClient(**args)


def test_tencent_requests_are_counted_by_api_and_outcome_each_attempt(sim):
    metrics = Metrics()
    with client_for(sim, metrics) as client:
        assert client.online_count("@TGS#g") == 7
        sim.inject_error("get_online_member_num", 60007, times=1)  # busy, then retried
        sim.inject_http("get_online_member_num", status=502, times=1)
        assert client.online_count("@TGS#g") == 7
        with pytest.raises(errors.GroupNotFound):
            client.online_members("@TGS#nope")
        sim.set_faults(Faults(malformed_rate=1.0))
        with pytest.raises(errors.TransportError):
            client.online_count("@TGS#g")
    assert requests_counted(metrics, COUNT_API, "ok") == 2
    assert requests_counted(metrics, COUNT_API, "busy") == 1
    assert requests_counted(metrics, COUNT_API, "http_error") == 1
    assert requests_counted(metrics, COUNT_API, "malformed") == 3  # every attempt
    assert requests_counted(metrics, MEMBERS_API, "api_error") == 1
    latency = metrics.value("online_bot_tencent_request_duration_seconds_count", {"api": COUNT_API})
    assert latency == 2 + 1 + 1 + 3


def test_an_unreachable_tencent_counts_no_answer(sim):
    metrics = Metrics()
    with (
        client_for(sim, metrics, base_url="http://127.0.0.1:9") as client,
        pytest.raises(errors.TransportError),
    ):
        client.online_count("@TGS#g")
    assert requests_counted(metrics, COUNT_API, "no_answer") == QUICK.attempts


def test_rate_limit_waits_are_measured_by_priority_and_a_call_without_a_place_counted(sim):
    metrics = Metrics()
    # 3 calls per 1.02 s: one sustained (the rest is the burst); a 0.2 s deadline
    with client_for(
        sim,
        metrics,
        rate_limits=RateLimits(3),
        retry=RetryPolicy(attempts=1, deadline=0.2, initial_wait=0.01, max_wait=0.01),
    ) as client:
        background = client.for_background()
        background.online_count("@TGS#g")
        with pytest.raises(errors.Throttled):
            for _ in range(5):
                client.online_count("@TGS#g")
    waits = "online_bot_tencent_rate_limit_wait_seconds_count"
    assert metrics.value(waits, {"api": COUNT_API, "priority": "background"}) == 1
    assert metrics.value(waits, {"api": COUNT_API, "priority": "interactive"}) == 2
    assert requests_counted(metrics, COUNT_API, "throttled") == 1  # sent: the other two
    assert requests_counted(metrics, COUNT_API, "ok") == 2


# -- the Slack Web API client ---------------------------------------------------------------


def slack_calls(metrics: Metrics, method: str, outcome: str) -> float:
    labels = {"method": method, "outcome": outcome}
    return metrics.value("online_bot_slack_calls_total", labels) or 0.0


def test_slack_calls_are_counted_by_method_and_outcome(fake_slack):
    from slack_sdk.errors import SlackApiError

    metrics = Metrics()
    client = MeteredWebClient(token="xoxb-test", base_url=fake_slack.api_url, metrics=metrics)
    client.chat_postMessage(channel="C1", text="hi")
    fake_slack.fail_next("chat.postMessage", "channel_not_found")
    fake_slack.fail_next("chat.postMessage")  # 429
    fake_slack.fail_next("chat.postMessage", status=503)
    fake_slack.reply_next("chat.postMessage", "{not json")
    for _ in range(4):
        with pytest.raises((SlackApiError, ValueError)):  # malformed JSON: a ValueError
            client.chat_postMessage(channel="C1", text="hi")
    client.auth_test()
    gone = MeteredWebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", metrics=metrics)
    with pytest.raises(OSError):
        gone.auth_test()
    counted = {
        outcome: slack_calls(metrics, "chat.postMessage", outcome)
        for outcome in ("ok", "error", "ratelimited", "server_error", "unreadable")
    }
    assert counted == {"ok": 1, "error": 1, "ratelimited": 1, "server_error": 1, "unreadable": 1}
    assert slack_calls(metrics, "auth.test", "ok") == 1
    assert slack_calls(metrics, "auth.test", "no_answer") == 1


def test_answers_on_response_url_are_counted_with_the_same_outcomes(sim, fake_slack):
    metrics = Metrics()
    running, stop = start_app(sim, fake_slack.api_url, metrics=metrics)
    try:
        fake_slack.fail_next("response_url:gone", "expired_url", status=404)
        fake_slack.fail_next("response_url:busy", status=500, times=3)  # its 2 retries too
        fake_slack.fail_next("response_url:slow", retry_after=0, times=3)  # 429
        closed = f"http://127.0.0.1:{free_port()}/response/nobody"  # nothing listens there
        for name in ("ok", "gone", "busy", "slow"):
            assert running.command("@TGS#g", fake_slack.response_url(name)).status_code == 200
        assert running.command("@TGS#g", closed).status_code == 200

        def counted() -> dict[str, float] | None:
            samples = scrape(metrics)["online_bot_slack_calls_total"]
            by_outcome = {
                labels[1][1]: value
                for labels, value in samples.items()
                if labels[0] == ("method", "response_url")
            }
            return by_outcome if sum(by_outcome.values()) == 5 else None

        by_outcome = wait_until(counted, timeout=20, what="five answers counted")
    finally:
        stop()
    assert by_outcome == {
        "ok": 1,
        "error": 1,
        "server_error": 1,
        "ratelimited": 1,
        "no_answer": 1,
    }
    assert len(fake_slack.calls("response_url:busy")) == 3  # counted once, after retries


# -- the poller and the database's figures --------------------------------------------------


@pytest.fixture
def counted(migrated_database_url, sim_alerting, fake_slack):
    """The alerting Env, its poller counting into a Metrics that also serves the database's
    figures (on its clock)."""
    from support.alerting import Clock

    environment = Env(migrated_database_url, sim_alerting, fake_slack, Clock())
    metrics = Metrics()
    environment.poller.metrics = metrics
    # every: 0, each scrape reads the database (the bot reads every 5 s while scraped)
    figures = DatabaseFigures(environment.sessions, clock=environment.clock, every=0)
    metrics.watch_database(figures)
    yield environment, metrics
    environment.close()


@pytest.fixture
def sim_alerting():
    scenario = Scenario(cache_seconds=0, groups=[], faults=Faults())
    with Simulator(scenario).start() as running:
        running.add_group(GROUP, "Evening <Stream>", "AVChatRoom")
        running.set_audience(GROUP, 500)
        running.add_group("@TGS#other", "Other", "AVChatRoom")
        running.set_audience("@TGS#other", 40)
        yield running


def audience(samples, group, mark=""):
    return samples.get("online_bot_watched_online_members", {}).get(
        (("group_id", group), ("mark", mark))
    )


def test_a_poll_cycle_is_counted_and_each_watched_audience_served(counted):
    env, metrics = counted
    before = scrape(metrics)
    assert before["online_bot_database_up"][()] == 1
    assert "online_bot_watched_online_members" not in before  # nothing watched yet
    assert before["online_bot_poll_targets_checked_total"][(("outcome", "ok"),)] == 0

    env.watch(f"watch {GROUP} below 100")
    env.watch("watch @TGS#other below 100", channel="C2")
    env.watch("watch @TGS#other below 100 mark 7", channel="C3")
    env.sim.inject_error("get_members", 10010, times=3)  # the marked check fails
    report, _ = env.cycle()
    assert report.targets == 3

    after = scrape(metrics)
    assert audience(after, GROUP) == 500
    assert audience(after, "@TGS#other") == 40
    assert audience(after, "@TGS#other", "7") is None  # its check got no count
    assert after["online_bot_poll_targets_checked_total"] == {
        (("outcome", "ok"),): 2,
        (("outcome", "failed"),): 1,
    }
    assert after["online_bot_poll_cycle_duration_seconds_count"][()] == 1
    completed = after["online_bot_poll_cycle_last_completed_timestamp_seconds"][()]
    assert completed == pytest.approx(env.clock() - 60)  # cycle() moves the clock on after
    states = {labels[0][1]: value for labels, value in after["online_bot_watches"].items()}
    assert states == {"ok": 2, "pending": 0, "firing": 1, "error": 0, "paused": 0, "muted": 0}
    assert set(states) == set(WATCH_STATES)
    # the firing alert was delivered in the cycle: nothing waits
    assert after["online_bot_outbox_messages"][(("status", "pending"),)] == 0


def test_an_unwatched_or_paused_target_leaves_the_metrics_with_its_target(counted):
    env, metrics = counted
    env.watch(f"watch {GROUP} below 100")  # watch 1
    env.watch(f"watch {GROUP} below 50", channel="C3")  # watch 2: the same target
    env.watch("watch @TGS#other below 10", channel="C2")  # watch 3
    env.cycle()
    assert audience(scrape(metrics), GROUP) == 500

    env.watches.unwatch(1, Actor("U1", "C1"))
    env.poller.sync_targets()  # as every poll tick does
    assert audience(scrape(metrics), GROUP) == 500  # still watched from C3

    env.watches.unwatch(2, Actor("U1", "C3"))  # its last watch: the target goes with it
    gone = scrape(metrics)
    assert audience(gone, GROUP) is None
    assert audience(gone, "@TGS#other") == 40
    env.poller.sync_targets()  # the tick has nothing more to drop
    assert audience(scrape(metrics), GROUP) is None
    assert audience(scrape(metrics), "@TGS#other") == 40

    with env.sessions.begin() as session:
        session.execute(update(Watch).where(Watch.id == 3).values(paused_reason="x"))
    assert audience(scrape(metrics), "@TGS#other") == 40  # paused: until the tick syncs
    env.poller.sync_targets()
    paused = scrape(metrics)
    assert "online_bot_watched_online_members" not in paused
    states = {labels[0][1]: value for labels, value in paused["online_bot_watches"].items()}
    assert states["paused"] == 1 and sum(states.values()) == 1  # unwatched ones not counted


def test_an_unwatched_audience_leaves_at_once_here_and_at_the_next_reading_elsewhere(counted):
    env, metrics = counted
    here = DatabaseFigures(env.sessions, every=60)  # readings kept, as while scraped
    there = DatabaseFigures(env.sessions, every=60)  # another replica's
    env.watches.on_unwatch = here.forget  # as bot.wiring has it
    metrics.watch_database(here)
    try:
        env.watch(f"watch {GROUP} below 100")  # watch 1
        env.watch("watch @TGS#other below 10", channel="C2")
        env.cycle()
        assert audience(scrape(metrics), GROUP) == 500
        assert f'group_id="{GROUP}"' in there()

        env.watches.unwatch(1, Actor("U1", "C1"))
        gone = scrape(metrics)  # at once: no poll tick, no new reading by the thread
        assert audience(gone, GROUP) is None
        assert audience(gone, "@TGS#other") == 40
        assert f'group_id="{GROUP}"' in there()  # its last reading, until its next one
        there.read()  # as its thread does every 5 s while scraped
        assert f'group_id="{GROUP}"' not in there()
        assert 'group_id="@TGS#other"' in there()
    finally:
        here.close()
        there.close()


def test_a_target_still_watched_elsewhere_stays_when_one_watch_goes(counted):
    env, metrics = counted
    env.watch(f"watch {GROUP} below 100 mark 7")  # watch 1: (GROUP, 7)
    env.watch(f"watch {GROUP} below 100", channel="C2")  # watch 2: (GROUP, no mark)
    env.watch(f"watch {GROUP} below 50 mark 7", channel="C3")  # watch 3: (GROUP, 7)
    env.cycle()
    before = scrape(metrics)
    assert audience(before, GROUP) == 500 and audience(before, GROUP, "7") is not None

    env.watches.unwatch(2, Actor("U1", "C2"))  # (GROUP, 7) is not its target
    after = scrape(metrics)
    assert audience(after, GROUP) is None
    assert audience(after, GROUP, "7") == audience(before, GROUP, "7")
    env.watches.unwatch(1, Actor("U1", "C1"))  # watch 3 still watches (GROUP, 7)
    assert audience(scrape(metrics), GROUP, "7") == audience(before, GROUP, "7")
    env.watches.unwatch(3, Actor("U1", "C3"))
    assert "online_bot_watched_online_members" not in scrape(metrics)


def test_label_values_are_escaped_as_the_text_format_says(counted):
    env, metrics = counted
    odd = '@TGS#a"b\\c'  # printable ASCII, as Tencent allows: a quote and a backslash
    with env.sessions.begin() as session:
        session.execute(
            insert(Watch).values(
                channel_id="C1", group_id=odd, rule_kind="below", threshold=1, created_by="U1"
            )
        )
        session.execute(insert(TargetRow).values(group_id=odd, mark_key=7, last_value=3))
    assert audience(scrape(metrics), odd, "7") == 3


def test_muted_watches_and_the_outbox_backlog(counted):
    env, metrics = counted
    env.watch(f"watch {GROUP} below 1000")  # 500 online: fires
    env.watch("watch @TGS#other below 10", channel="C2")
    env.watches.mute(2, 3600, "quiet", Actor("U1", "C2"))
    env.fake.fail_next("chat.postMessage", "fatal_error", status=500, times=20)
    env.poller.run_cycle()
    env.deliverer.deliver_due()  # fails: the alert waits
    env.clock.advance(90)
    figures = scrape(metrics)
    states = {labels[0][1]: value for labels, value in figures["online_bot_watches"].items()}
    assert (states["firing"], states["muted"]) == (1, 1)
    assert figures["online_bot_outbox_messages"][(("status", "pending"),)] == 1
    assert figures["online_bot_outbox_oldest_pending_age_seconds"][()] == pytest.approx(90, abs=5)

    with env.sessions.begin() as session:
        session.execute(update(Outbox).values(status=OutboxStatus.FAILED.value))
    given_up = scrape(metrics)
    assert given_up["online_bot_outbox_messages"] == {
        (("status", "pending"),): 0,
        (("status", "failed"),): 1,
    }
    assert given_up["online_bot_outbox_oldest_pending_age_seconds"][()] == 0


def test_a_scrape_gets_the_last_reading_while_a_thread_reads_every_few_seconds(counted):
    env, metrics = counted
    figures = DatabaseFigures(env.sessions, every=60, idle_after=0.2)
    metrics.watch_database(figures)
    try:
        assert "online_bot_watched_online_members" not in scrape(metrics)  # read at once
        assert figures.reading
        env.watch(f"watch {GROUP} below 100")
        env.cycle()
        assert "online_bot_watched_online_members" not in scrape(metrics)  # the last reading
        figures.read()  # as the thread does every 60 s here
        assert audience(scrape(metrics), GROUP) == 500
    finally:
        figures.close()

    idle = DatabaseFigures(env.sessions, every=0.05, idle_after=0.2)
    idle()
    assert idle.reading
    wait_until(lambda: not idle.reading, timeout=10, what="the reader stopped: nobody scrapes")
    idle.close()


def test_a_database_that_cannot_be_read_leaves_its_figures_out(tmp_path, caplog):
    metrics = Metrics()
    broken = sessionmaker(create_engine(f"sqlite:///{tmp_path}/no-tables.db"))
    metrics.watch_database(DatabaseFigures(broken, every=0))
    samples = scrape(metrics)
    assert samples["online_bot_database_up"][()] == 0
    assert "online_bot_watches" not in samples
    assert "online_bot_poll_targets_checked_total" in samples  # the rest is still served
    scrape(metrics)
    warnings = [r for r in caplog.records if "database could not be read" in r.getMessage()]
    assert len(warnings) == 1  # once, not on every scrape


def test_a_failed_cycle_is_counted(counted):
    env, metrics = counted
    env.watch(f"watch {GROUP} below 100")
    env.engine.dispose()
    env.sessions.configure(bind=create_engine("sqlite:////nonexistent/dir/x.db"))
    with pytest.raises(Exception):  # noqa: B017 -- whatever the database raises
        env.poller.run_cycle()
    assert metrics.value("online_bot_poll_cycle_failures_total") == 1
    assert metrics.value("online_bot_poll_cycle_last_completed_timestamp_seconds") == 0


# -- the exposition -------------------------------------------------------------------------


def test_names_follow_prometheus_conventions_and_registries_are_apart():
    one, two = Metrics(), Metrics()
    one.tencent_callbacks.labels("accepted", "200").inc()
    accepted = {"outcome": "accepted", "status": "200"}
    assert one.value("online_bot_tencent_callbacks_total", accepted) == 1
    assert two.value("online_bot_tencent_callbacks_total", accepted) is None
    text = generate_latest(one.registry).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert "process_resident_memory_bytes" in families  # the process's own, in the registry
    ours = [family for name, family in families.items() if name.startswith("online_bot_")]
    assert len(ours) == 10  # the database's figures are served once the bot has one
    for family in ours:
        names = {sample.name for sample in family.samples}
        assert not any(name.endswith("_created") for name in names), family.name
        if family.type == "counter":
            assert all(name.endswith("_total") for name in names), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
