"""History (bot/alerts/history.py): a target's samples, its watches' thresholds and when
their alerts fired, read from a real store (SQLite and PostgreSQL) after real poll
cycles, judging and delivery; and the firing periods' rules as a table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.alerting import GROUP

from bot.alerts.history import HistoryReader, firing_spans
from bot.render.charts import Span, Threshold
from bot.render.history import WatchedRule
from bot.store.models import SampleRow
from bot.watches import Actor


def reader(env, **kwargs):
    return HistoryReader(env.sessions, env.names, clock=env.clock, **kwargs)


def add_samples(env, rows):
    """Samples as the poller stores them: (unix time, value or None for a failure)."""
    with env.sessions.begin() as session:
        session.add_all(
            SampleRow(
                group_id=GROUP,
                mark=None,
                taken_at=datetime.fromtimestamp(at, UTC),
                value=value,
                error=None if value is not None else "the check failed",
            )
            for at, value in rows
        )


def test_samples_thresholds_and_firing_periods_of_the_channel(env, sim):
    env.watch(f"watch {GROUP} below 100 recover 150")  # #1 in C1, checks at once: 500
    env.watch(f"watch {GROUP} above 1000", channel="C2")  # #2, another channel's
    env.watch(f"watch {GROUP} drop 95% within 10m")  # #3 in C1: no fixed line, never fires
    audience = [500, 50, 60, 200, 300, 40, 30]  # fires, resolves, fires again (still)
    for count in audience:
        sim.set_audience(GROUP, count)
        env.cycle()

    history = reader(env).read(GROUP, None, 3600, "C1")

    values = [p.value for p in history.points]
    assert values[-len(audience) :] == audience
    assert history.thresholds == (
        Threshold("#1 below 100", 100, "below"),
        Threshold("#1 recover 150", 150, "recover"),
    )
    assert [r.watch_id for r in history.rules] == [1, 3]
    assert history.rules[1].text == "audience falls by 95% or more within 10m"
    first, second = history.spans
    assert first.end is not None and first.end - first.start == pytest.approx(120)
    assert second.end is None  # firing now: drawn to the chart's end
    assert history.group_name == "Evening <Stream>"
    assert history.end == env.clock() and history.end - history.start == 3600

    everyone = reader(env).read(GROUP, None, 3600, None)
    assert Threshold("#2 above 1,000", 1000, "above") in everyone.thresholds

    elsewhere = reader(env).read(GROUP, None, 3600, "C9")
    assert elsewhere.points == history.points  # the group's samples, whoever watches it
    assert elsewhere.thresholds == () and elsewhere.spans == () and elsewhere.rules == ()


def test_failed_checks_are_points_without_a_value(env):
    now = env.clock()
    add_samples(env, [(now - 300, 10), (now - 240, None), (now - 180, 12)])

    history = reader(env).read(GROUP, None, 600, None)

    assert [p.value for p in history.points] == [10, None, 12]
    assert [p.at for p in history.points] == pytest.approx([now - 300, now - 240, now - 180])
    assert history.stats.failed == 1


def test_only_the_range_and_the_mark_asked_for(env):
    now = env.clock()
    add_samples(env, [(now - 7200, 1), (now - 30, 2)])
    with env.sessions.begin() as session:
        session.add(
            SampleRow(
                group_id=GROUP, mark=1000, taken_at=datetime.fromtimestamp(now - 20, UTC), value=3
            )
        )

    unmarked = reader(env).read(GROUP, None, 3600, None)
    marked = reader(env).read(GROUP, 1000, 3600, None)

    assert [p.value for p in unmarked.points] == [2]
    assert [p.value for p in marked.points] == [3]


def test_nothing_in_range_says_when_the_latest_was(env):
    now = env.clock()
    add_samples(env, [(now - 5 * 3600, 7)])

    history = reader(env).read(GROUP, None, 3600, None)
    never = reader(env).read("@TGS#never", None, 3600, None)

    assert history.points == ()
    assert history.latest_before == pytest.approx(now - 5 * 3600)
    assert never.points == () and never.latest_before is None


def test_an_unwatched_watch_draws_no_line_but_its_alerts_stay_shaded(env, sim):
    env.watch(f"watch {GROUP} below 100")
    for count in (50, 300):
        sim.set_audience(GROUP, count)
        env.cycle()
    env.watches.unwatch(1, Actor("U1", "C1"))

    history = reader(env, kept_days=3).read(GROUP, None, 3600, "C1")

    assert history.thresholds == () and history.rules == ()
    (span,) = history.spans
    assert span.end is not None
    assert history.kept_days == 3


def test_a_paused_watch_is_listed_as_paused(env, sim, fake_slack):
    fake_slack.fail_next("chat.postMessage", "channel_not_found")
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 50)
    env.cycle()

    history = reader(env).read(GROUP, None, 3600, "C1")

    assert history.rules == (WatchedRule(1, "fewer than 100 online", paused=True),)
    assert history.thresholds == (Threshold("#1 below 100", 100, "below"),)


def test_an_alert_firing_while_muted_is_shaded_from_its_state(env, sim):
    env.watch(f"watch {GROUP} below 100")
    env.watches.mute(1, 3600, "maintenance", Actor("U1", "C1"))
    sim.set_audience(GROUP, 10)
    env.cycle()  # fires, silently: no outbox row

    (span,) = reader(env).read(GROUP, None, 3600, "C1").spans

    assert span.end is None
    assert span.start == pytest.approx(env.clock() - 60)


FIRING_CASES = [
    # (events, firing_since, settled_at) -> spans
    ([], None, None, []),
    ([("a", "firing", 10), ("a", "resolved", 20)], None, 20, [Span(10, 20)]),
    # a resolve of another incident does not close this one
    ([("a", "firing", 10), ("b", "resolved", 15)], None, 30, [Span(10, 30)]),
    # an error ends the firing
    ([("a", "firing", 10), ("b", "error", 25)], None, 25, [Span(10, 25)]),
    # a new firing ends the one before (its resolve was never recorded)
    ([("a", "firing", 10), ("b", "firing", 40)], 40, 40, [Span(10, 40), Span(40)]),
    # still firing now: open-ended
    ([("a", "firing", 10)], 10, 10, [Span(10)]),
    # resolved while muted (no message), the state moved on at 50
    ([("a", "firing", 10)], None, 50, [Span(10, 50)]),
    # fired again while muted: the state's firing_since, open-ended
    ([("a", "firing", 10), ("a", "resolved", 20)], 70, 70, [Span(10, 20), Span(70)]),
    # a repeat or a reminder changes nothing
    ([("a", "firing", 10), ("a", "repeat", 15), ("a", "resolved", 30)], None, 30, [Span(10, 30)]),
]


@pytest.mark.parametrize(("events", "firing_since", "settled_at", "expected"), FIRING_CASES)
def test_firing_spans(events, firing_since, settled_at, expected):
    assert firing_spans(events, firing_since=firing_since, settled_at=settled_at) == expected
