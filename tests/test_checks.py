"""Checks (bot/alerts/checks.py): one call per target however many channels watch it,
the right endpoint for each group type, and a value Tencent did not give is a failed
check, never a count."""

from __future__ import annotations

import json

from sqlalchemy import select
from support.alerting import GROUP, Clock, Env, alert_state, posts

from bot.simulator import Faults, Scenario, Simulator
from bot.store.models import AlertStateRow


def test_three_channels_one_group_one_call_per_cycle(env, sim, fake_slack):
    for channel in ("C1", "C2", "C3"):
        env.watch(f"watch {GROUP} below 100", channel=channel)
    before = sim.stats().get_online_member_num.calls
    sim.set_audience(GROUP, 10)
    report, _ = env.cycle()
    assert report.targets == 1 and report.watches == 3
    assert sim.stats().get_online_member_num.calls - before == 1
    assert sorted(p["channel"] for p in posts(fake_slack)) == ["C1", "C2", "C3"]


def test_marked_rule_counts_the_marked_list(env, sim, fake_slack):
    sim.set_audience(GROUP, 20)
    env.watch(f"watch {GROUP} above 5 mark 1000")
    members_before = sim.stats().get_members.calls
    env.cycle()
    assert sim.stats().get_members.calls > members_before
    assert posts(fake_slack) == []  # no member carries mark 1000 yet: 0 is not above 5


def test_a_count_answer_without_its_count_is_an_error_not_zero(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    sim.set_faults(Faults(missing_fields_rate=1.0))
    for _ in range(2):
        report, _ = env.cycle()
        assert report.failed_checks == 1
    assert posts(fake_slack) == []  # never "0 online, below 100"
    state = alert_state(env)
    assert (state.status, state.errors_in_row) == ("ok", 2)
    assert "OnlineMemberNum" in state.last_error
    env.cycle()
    (alert,) = posts(fake_slack)
    assert "OnlineMemberNum" in json.dumps(alert["blocks"])
    assert alert_state(env).status == "error"
    sim.set_faults(Faults())
    env.cycle()
    ts = fake_slack.messages("C1")[0]["ts"]
    assert len(posts(fake_slack, thread_ts=ts)) == 1  # the recovery notice
    assert (alert_state(env).status, alert_state(env).last_value) == ("ok", 500)


def test_a_marked_list_cut_short_is_a_failed_check_not_a_count(env, sim, fake_slack):
    sim.set_audience(GROUP, 20)
    env.watch(f"watch {GROUP} below 10 mark 1000")
    sim.inject_cursor_loop(GROUP)
    report, _ = env.cycle()
    assert report.failed_checks == 1
    state = alert_state(env)
    assert state.errors_in_row == 1 and "incomplete" in state.last_error
    assert posts(fake_slack) == []


def test_a_public_group_is_watched_by_its_exact_count(env, sim, fake_slack):
    sim.add_group("@TGS#team", "Team chat", "Public")
    sim.set_audience("@TGS#team", 8)
    message = env.watch("watch @TGS#team below 5")
    assert "8" in json.dumps(message.blocks)
    sim.set_audience("@TGS#team", 3)
    env.cycle()
    (alert,) = posts(fake_slack)
    assert "Team chat" in alert["text"]


def test_a_community_is_polled_on_its_own_count_endpoint(migrated_database_url, fake_slack):
    """Without "Group Member Online Status" the ordinary count refuses a Community:
    the poller must ask the million_group endpoint, told by the @TGS#_ prefix."""
    scenario = Scenario(
        cache_seconds=0, community_refresh_seconds=0, online_status=False, faults=Faults()
    )
    with Simulator(scenario).start() as sim:
        sim.add_group("@TGS#_fans", "Fan club", "Community")
        sim.set_audience("@TGS#_fans", 300)
        env = Env(migrated_database_url, sim, fake_slack, Clock())
        try:
            env.watch("watch @TGS#_fans below 100")
            sim.set_audience("@TGS#_fans", 40)
            before = sim.stats().million_group_get_online_member_num.ok
            report, _ = env.cycle()
            assert report.failed_checks == 0
            assert sim.stats().million_group_get_online_member_num.ok == before + 1
            assert sim.stats().get_online_member_num.calls == 0
            with env.sessions() as session:
                (state,) = session.scalars(select(AlertStateRow)).all()
            assert state.last_value == 40 and state.last_error is None
        finally:
            env.close()
