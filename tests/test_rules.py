"""The alert rule engine: tables of single decisions, scenarios of many, and properties."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.rules import (
    ERROR_AFTER,
    NOTIFY_REASONS,
    AlertState,
    Decision,
    Reason,
    Rule,
    Sample,
    Status,
    evaluate,
    is_muted,
)
from bot.commands.grammar import WatchDrop, WatchThreshold, parse

R = Reason
S = Status

BELOW = Rule("below", threshold=100)
BELOW_FOR = Rule("below", threshold=100, for_seconds=300)
BELOW_HYST = Rule("below", threshold=100, recover=110)
ABOVE = Rule("above", threshold=5000, recover=4000)
REPEAT = Rule("below", threshold=100, repeat_seconds=600)
DROP = Rule("drop", percent=50, within_seconds=300)

T = 2000.0  # "now" in the tables
GONE = "Group @TGS#gone does not exist (10010)"

OK = AlertState(S.OK, since=0)
PENDING = AlertState(S.PENDING, since=1800, pending_since=1800, last_value=90)
FIRING = AlertState(S.FIRING, since=1000, firing_since=1000, last_notified_at=1000, last_value=90)
ERRORED = AlertState(S.ERROR, since=1000, errors_in_row=3, last_error=GONE)


def good(value: int, at: float = T) -> Sample:
    return Sample(at, value)


def bad(error: str | None = GONE, at: float = T) -> Sample:
    return Sample(at, None, error)


def with_(state: AlertState, **changes: object) -> AlertState:
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- one decision

TABLE = [
    # (id, rule, state, sample, now, muted_until) -> (status, reason, notified reasons)
    # below / above, no for
    ("below-ok", BELOW, OK, good(150), T, None, (S.OK, R.STILL_OK, ())),
    ("below-at-line-ok", BELOW, OK, good(100), T, None, (S.OK, R.STILL_OK, ())),
    ("below-fires", BELOW, OK, good(99), T, None, (S.FIRING, R.FIRST_FIRING, (R.FIRST_FIRING,))),
    ("below-zero", BELOW, OK, good(0), T, None, (S.FIRING, R.FIRST_FIRING, (R.FIRST_FIRING,))),
    ("above-at-line-ok", ABOVE, OK, good(5000), T, None, (S.OK, R.STILL_OK, ())),
    ("above-fires", ABOVE, OK, good(5001), T, None, (S.FIRING, R.FIRST_FIRING, (R.FIRST_FIRING,))),
    # for
    ("for-starts", BELOW_FOR, OK, good(99), T, None, (S.PENDING, R.PENDING_STARTED, ())),
    ("for-waits", BELOW_FOR, PENDING, good(99), 2099, None, (S.PENDING, R.PENDING_WAITING, ())),
    (
        "for-held-exactly",
        BELOW_FOR,
        PENDING,
        good(99, 2100),
        2100,
        None,
        (S.FIRING, R.FIRST_FIRING, (R.FIRST_FIRING,)),
    ),
    (
        "for-interrupted",
        BELOW_FOR,
        PENDING,
        good(100),
        T,
        None,
        (S.OK, R.PENDING_INTERRUPTED, ()),
    ),
    # hysteresis
    ("hyst-between-stays", BELOW_HYST, FIRING, good(105), T, None, (S.FIRING, R.STILL_FIRING, ())),
    ("hyst-resolves", BELOW_HYST, FIRING, good(110), T, None, (S.OK, R.RESOLVED, (R.RESOLVED,))),
    ("hyst-between-ok", BELOW_HYST, OK, good(105), T, None, (S.OK, R.STILL_OK, ())),
    ("above-between-stays", ABOVE, FIRING, good(4001), T, None, (S.FIRING, R.STILL_FIRING, ())),
    ("above-resolves", ABOVE, FIRING, good(4000), T, None, (S.OK, R.RESOLVED, (R.RESOLVED,))),
    ("no-hyst-resolves", BELOW, FIRING, good(100), T, None, (S.OK, R.RESOLVED, (R.RESOLVED,))),
    # repeat
    ("repeat-not-yet", REPEAT, FIRING, good(90), 1599, None, (S.FIRING, R.STILL_FIRING, ())),
    (
        "repeat-elapsed",
        REPEAT,
        FIRING,
        good(90),
        1600,
        None,
        (S.FIRING, R.REPEAT_ELAPSED, (R.REPEAT_ELAPSED,)),
    ),
    ("repeat-off", BELOW, FIRING, good(90), 99_999, None, (S.FIRING, R.STILL_FIRING, ())),
    # mutes
    ("muted-fires", BELOW, OK, good(99), T, T + 1, (S.FIRING, R.MUTED, ())),
    ("muted-resolves", BELOW, FIRING, good(150), T, T + 1, (S.OK, R.MUTED, ())),
    ("muted-still-ok", BELOW, OK, good(150), T, T + 1, (S.OK, R.STILL_OK, ())),
    ("muted-repeat", REPEAT, FIRING, good(90), T, T + 1, (S.FIRING, R.STILL_FIRING, ())),
    ("muted-errors", BELOW, with_(OK, errors_in_row=2), bad(), T, T + 1, (S.ERROR, R.MUTED, ())),
    ("muted-recovers", BELOW, ERRORED, good(150), T, T + 1, (S.OK, R.MUTED, ())),
    (
        "mute-expires-at-until",
        BELOW,
        OK,
        good(99),
        T,
        T,
        (S.FIRING, R.FIRST_FIRING, (R.FIRST_FIRING,)),
    ),
    (
        "mute-ended-reminds",
        BELOW,
        with_(FIRING, muted_notice_due=True),
        good(90),
        T,
        T - 1,
        (S.FIRING, R.MUTE_ENDED, (R.MUTE_ENDED,)),
    ),
    (
        "mute-ended-instead-of-repeat",
        REPEAT,
        with_(FIRING, muted_notice_due=True),
        good(90),
        T,
        None,
        (S.FIRING, R.MUTE_ENDED, (R.MUTE_ENDED,)),
    ),
    (
        "mute-ended-but-resolved",
        BELOW,
        with_(FIRING, muted_notice_due=True),
        good(150),
        T,
        T - 1,
        (S.OK, R.RESOLVED, (R.RESOLVED,)),
    ),
    (
        "mute-ended-while-counting-errors",
        BELOW,
        with_(FIRING, muted_notice_due=True),
        bad(),
        T,
        T - 1,
        (S.FIRING, R.MUTE_ENDED, (R.MUTE_ENDED,)),
    ),
    (
        "mute-ended-still-error",
        BELOW,
        with_(ERRORED, muted_notice_due=True),
        bad(),
        T,
        T - 1,
        (S.ERROR, R.MUTE_ENDED, (R.MUTE_ENDED,)),
    ),
    # failed checks
    ("error-1", BELOW, OK, bad(), T, None, (S.OK, R.ERROR_COUNTING, ())),
    ("error-no-text", BELOW, OK, bad(None), T, None, (S.OK, R.ERROR_COUNTING, ())),
    ("error-with-value", BELOW, OK, Sample(T, 5, GONE), T, None, (S.OK, R.ERROR_COUNTING, ())),
    ("error-keeps-pending", BELOW_FOR, PENDING, bad(), T, None, (S.PENDING, R.ERROR_COUNTING, ())),
    (
        "error-keeps-firing",
        BELOW,
        with_(FIRING, errors_in_row=1),
        bad(),
        T,
        None,
        (S.FIRING, R.ERROR_COUNTING, ()),
    ),
    (
        "error-k",
        BELOW,
        with_(FIRING, errors_in_row=2),
        bad(),
        T,
        None,
        (S.ERROR, R.ERROR, (R.ERROR,)),
    ),
    ("error-more", BELOW, ERRORED, bad(), T, None, (S.ERROR, R.STILL_ERROR, ())),
    (
        "error-recovers-ok",
        BELOW,
        ERRORED,
        good(150),
        T,
        None,
        (S.OK, R.RECOVERED_FROM_ERROR, (R.RECOVERED_FROM_ERROR,)),
    ),
    (
        "error-recovers-firing",
        BELOW,
        ERRORED,
        good(99),
        T,
        None,
        (S.FIRING, R.RECOVERED_FROM_ERROR, (R.RECOVERED_FROM_ERROR, R.FIRST_FIRING)),
    ),
    (
        "error-recovers-pending",
        BELOW_FOR,
        ERRORED,
        good(99),
        T,
        None,
        (S.PENDING, R.RECOVERED_FROM_ERROR, (R.RECOVERED_FROM_ERROR,)),
    ),
    # drop, without history in the table
    ("drop-no-history", DROP, OK, good(10), T, None, (S.OK, R.NOT_ENOUGH_HISTORY, ())),
    (
        "drop-firing-resolves",
        DROP,
        with_(FIRING, reference=100),
        good(75),
        T,
        None,
        (S.OK, R.RESOLVED, (R.RESOLVED,)),
    ),
    (
        "drop-firing-stays",
        DROP,
        with_(FIRING, reference=100),
        good(74),
        T,
        None,
        (S.FIRING, R.STILL_FIRING, ()),
    ),
]


@pytest.mark.parametrize(
    ("rule", "state", "sample", "now", "muted_until", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in TABLE],
)
def test_decision(
    rule: Rule,
    state: AlertState,
    sample: Sample,
    now: float,
    muted_until: float | None,
    expected: tuple[Status, Reason, tuple[Reason, ...]],
) -> None:
    decision = evaluate(rule, state, sample, now=now, muted_until=muted_until)
    got = (
        decision.state.status,
        decision.reason,
        tuple(n.reason for n in decision.notifications),
    )
    assert got == expected
    if decision.notifications:
        assert decision.state.last_notified_at == now
        assert decision.reason.notifies
    else:
        assert not decision.reason.notifies
        assert decision.state.last_notified_at == state.last_notified_at


def test_reasons_are_strings_and_split_into_notify_and_silent() -> None:
    assert R.FIRST_FIRING == "first_firing"
    assert {r for r in R if r.notifies} == NOTIFY_REASONS
    assert {
        R.FIRST_FIRING,
        R.REPEAT_ELAPSED,
        R.RESOLVED,
        R.ERROR,
        R.RECOVERED_FROM_ERROR,
        R.MUTE_ENDED,
    } == NOTIFY_REASONS
    assert S("firing") is S.FIRING


def test_is_muted() -> None:
    assert not is_muted(None, 10)
    assert is_muted(11, 10)
    assert not is_muted(10, 10)
    assert not is_muted(9, 10)


# --------------------------------------------------------------------------- state details


def test_firing_records_when_and_resets_pending() -> None:
    pending = evaluate(BELOW_FOR, OK, good(99, 100), now=100).state
    assert (pending.status, pending.since, pending.pending_since) == (S.PENDING, 100, 100)
    firing = evaluate(BELOW_FOR, pending, good(98, 400), now=400).state
    assert (firing.since, firing.firing_since, firing.pending_since) == (400, 400, None)
    assert (firing.last_notified_at, firing.last_value) == (400, 98)


def test_resolve_clears_firing_fields() -> None:
    state = evaluate(DROP, with_(FIRING, reference=100), good(80), now=T).state
    assert state == AlertState(S.OK, since=T, last_notified_at=T, last_value=80)


def test_good_sample_resets_error_count() -> None:
    state = evaluate(BELOW, with_(OK, errors_in_row=2, last_error=GONE), good(150), now=T).state
    assert (state.errors_in_row, state.last_error) == (0, None)


def test_failed_check_keeps_last_value_and_counts() -> None:
    state = evaluate(BELOW, with_(FIRING, errors_in_row=1), bad(), now=T).state
    assert (state.errors_in_row, state.last_error, state.last_value) == (2, GONE, 90)
    assert state.firing_since == FIRING.firing_since


def test_error_after_is_a_parameter() -> None:
    decision = evaluate(BELOW, OK, bad(), now=T, error_after=1)
    assert (decision.state.status, decision.reason) == (S.ERROR, R.ERROR)
    assert decision.notifications[0].detail == f"Could not check the group once: {GONE}"
    decision = evaluate(BELOW, with_(OK, errors_in_row=3), bad(), now=T, error_after=5)
    assert decision.reason == R.ERROR_COUNTING
    with pytest.raises(ValueError, match="error_after"):
        evaluate(BELOW, OK, bad(), now=T, error_after=0)


def test_muted_decision_keeps_what_it_held_back() -> None:
    decision = evaluate(BELOW, OK, good(99), now=T, muted_until=T + 60)
    assert decision.notifications == ()
    assert [n.reason for n in decision.suppressed] == [R.FIRST_FIRING]
    assert decision.state.muted_notice_due
    assert decision.state.last_notified_at is None


# --------------------------------------------------------------------------- wording


@pytest.mark.parametrize(
    ("rule", "state", "sample", "detail"),
    [
        (BELOW, OK, good(42), "Audience 42 is below 100"),
        (
            BELOW_FOR,
            with_(PENDING, pending_since=1700),
            good(42),
            "Audience 42 is below 100 (for 5m)",
        ),
        (ABOVE, OK, good(6000), "Audience 6,000 is above 5,000"),
        (
            BELOW_HYST,
            FIRING,
            good(120),
            "Resolved after 16m 40s: audience 120 is back to 110 or more",
        ),
        (
            ABOVE,
            FIRING,
            good(3000),
            "Resolved after 16m 40s: audience 3,000 is back to 4,000 or fewer",
        ),
        (
            DROP,
            with_(FIRING, reference=101),
            good(90),
            "Resolved after 16m 40s: audience 90 is back to 76 or more (it fell from 101)",
        ),
        (
            REPEAT,
            with_(FIRING, last_notified_at=1),
            good(42),
            "Still firing after 16m 40s: audience 42 is below 100",
        ),
        (
            BELOW,
            with_(OK, errors_in_row=2),
            bad(),
            f"Could not check the group 3 times in a row: {GONE}",
        ),
        (
            BELOW,
            with_(OK, errors_in_row=2),
            bad(None),
            "Could not check the group 3 times in a row: the check failed",
        ),
        (
            BELOW,
            ERRORED,
            good(150),
            "The group can be checked again after 16m 40s of errors: audience 150",
        ),
        (
            BELOW,
            with_(FIRING, muted_notice_due=True),
            good(42),
            "Alerts back on; still firing after 16m 40s: audience 42 is below 100",
        ),
        (
            BELOW,
            with_(ERRORED, muted_notice_due=True),
            bad("Credentials were refused (70009)"),
            "Alerts back on; the group still cannot be checked: Credentials were refused (70009)",
        ),
    ],
)
def test_notification_detail(rule: Rule, state: AlertState, sample: Sample, detail: str) -> None:
    (note,) = evaluate(rule, state, sample, now=T).notifications
    assert note.detail == detail
    assert note.value == sample.value


@pytest.mark.parametrize(
    ("state", "muted_until", "detail"),
    [
        (FIRING, T - 1, "Mute over; still firing after 16m 40s: audience 42 is below 100"),
        (FIRING, None, "Alerts back on; still firing after 16m 40s: audience 42 is below 100"),
        (ERRORED, T, "Mute over; the group still cannot be checked: the check failed"),
        (ERRORED, None, "Alerts back on; the group still cannot be checked: the check failed"),
    ],
)
def test_the_reminder_says_why_alerts_are_back(
    state: AlertState, muted_until: float | None, detail: str
) -> None:
    # None: unmuted by hand, or a watch paused by Slack's refusal resumed (see Watches.unmute)
    sample = good(42) if state.status == S.FIRING else bad(None)
    due = dataclasses.replace(state, muted_notice_due=True)
    decision = evaluate(BELOW, due, sample, now=T, muted_until=muted_until)
    assert decision.reason == R.MUTE_ENDED
    (note,) = decision.notifications
    assert note.detail == detail


def test_drop_detail_names_the_fall() -> None:
    history = [good(120, T - 200), good(100, T - 100)]
    (note,) = evaluate(DROP, OK, good(48), now=T, history=history).notifications
    assert note.detail == "Audience 48 is 60% below 120 (within 5m)"


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (BELOW, "fewer than 100 online"),
        (Rule("below", threshold=100, recover=100), "fewer than 100 online"),
        (BELOW_FOR, "fewer than 100 online for 5m"),
        (
            Rule("below", threshold=100, recover=120, for_seconds=300),
            "fewer than 100 online for 5m (resolves at 120 or more)",
        ),
        (ABOVE, "more than 5,000 online (resolves at 4,000 or fewer)"),
        (
            Rule("above", threshold=5000, repeat_seconds=3600),
            "more than 5,000 online, reminding every 1h",
        ),
        (Rule("drop", percent=30, within_seconds=300), "audience falls by 30% or more within 5m"),
        (Rule("drop", percent=30), "audience falls by 30% or more within 5m"),
        (
            Rule("drop", percent=100, within_seconds=5400, repeat_seconds=1800),
            "audience falls by 100% or more within 1h 30m, reminding every 30m",
        ),
    ],
)
def test_describe(rule: Rule, text: str) -> None:
    assert rule.describe() == text


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        ("watch @TGS#a below 10", Rule("below", threshold=10)),
        (
            "watch @TGS#a below 10 for 5m recover 12 mark 1000 repeat 1h",
            Rule("below", threshold=10, recover=12, for_seconds=300, repeat_seconds=3600),
        ),
        ("watch @TGS#a above 5000 recover 4000", Rule("above", threshold=5000, recover=4000)),
        ("watch @TGS#a drop 30%", Rule("drop", percent=30, within_seconds=300)),
        (
            "watch @TGS#a drop 50% within 10m repeat 2h",
            Rule("drop", percent=50, within_seconds=600, repeat_seconds=7200),
        ),
    ],
)
def test_from_command(command: str, rule: Rule) -> None:
    parsed = parse(command)
    assert isinstance(parsed, WatchThreshold | WatchDrop)
    assert Rule.from_command(parsed) == rule


def test_from_command_refuses_other_commands() -> None:
    with pytest.raises(TypeError):
        Rule.from_command(parse("watches"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "below"},
        {"kind": "sideways", "threshold": 1},
        {"kind": "below", "threshold": 100, "recover": 99},
        {"kind": "above", "threshold": 100, "recover": 101},
        {"kind": "below", "threshold": 100, "for_seconds": -1},
        {"kind": "below", "threshold": 100, "percent": 10},
        {"kind": "below", "threshold": 100, "repeat_seconds": 0},
        {"kind": "drop"},
        {"kind": "drop", "percent": 0},
        {"kind": "drop", "percent": 101},
        {"kind": "drop", "percent": 10, "within_seconds": 0},
        {"kind": "drop", "percent": 10, "threshold": 5},
        {"kind": "drop", "percent": 10, "for_seconds": 60},
    ],
)
def test_impossible_rules(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Impossible alert rule"):
        Rule(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- scenarios

Step = tuple[float, "int | str | None"]  # (at, value); a str is a failed check's error


def run(
    rule: Rule,
    steps: Sequence[Step],
    *,
    mute: tuple[float, float] | None = None,
    history: Sequence[Sample] = (),
    error_after: int = ERROR_AFTER,
) -> list[Decision]:
    """Feed the steps through evaluate, one after another, each with all earlier samples.

    ``mute`` is (when the mute was set, muted_until): ``muted_until`` is passed from then on.
    """
    state = AlertState()
    seen = list(history)
    decisions = []
    for at, value in steps:
        sample = Sample(at, value, None) if not isinstance(value, str) else Sample(at, None, value)
        muted_until = mute[1] if mute is not None and at >= mute[0] else None
        decision = evaluate(
            rule,
            state,
            sample,
            now=at,
            history=tuple(seen),
            muted_until=muted_until,
            error_after=error_after,
        )
        decisions.append(decision)
        state = decision.state
        seen.append(sample)
    return decisions


def trace(decisions: Sequence[Decision]) -> list[tuple[str, tuple[str, ...]]]:
    """(status, notified reasons) per decision, as plain strings."""
    return [(str(d.state.status), tuple(str(n.reason) for n in d.notifications)) for d in decisions]


def every(seconds: float, *values: int | str | None, start: float = 0) -> list[Step]:
    return [(start + i * seconds, value) for i, value in enumerate(values)]


FF = "first_firing"
RES = "resolved"


def test_hysteresis_fires_once_and_holds_until_recover() -> None:
    got = trace(run(BELOW_HYST, every(60, 99, 101, 99, 101, 109, 110, 105, 99)))
    assert got == [
        ("firing", (FF,)),
        ("firing", ()),
        ("firing", ()),
        ("firing", ()),
        ("firing", ()),
        ("ok", (RES,)),
        ("ok", ()),
        ("firing", (FF,)),
    ]


def test_without_recover_the_line_is_both_ways() -> None:
    got = trace(run(BELOW, every(60, 99, 101, 99)))
    assert got == [("firing", (FF,)), ("ok", (RES,)), ("firing", (FF,))]


def test_for_interrupted_starts_again() -> None:
    decisions = run(BELOW_FOR, every(60, 99, 99, 100, 99, 99, 99, 99, 99, 99))
    assert [d.reason for d in decisions] == [
        R.PENDING_STARTED,
        R.PENDING_WAITING,
        R.PENDING_INTERRUPTED,
        R.PENDING_STARTED,  # at 180
        R.PENDING_WAITING,
        R.PENDING_WAITING,
        R.PENDING_WAITING,
        R.PENDING_WAITING,  # at 420: held 240s
        R.FIRST_FIRING,  # at 480: held 300s
    ]


def test_for_satisfied_exactly_at_the_boundary() -> None:
    got = trace(run(BELOW_FOR, [(0, 99), (299, 99), (300, 99)]))
    assert got == [("pending", ()), ("pending", ()), ("firing", (FF,))]
    got = trace(run(BELOW_FOR, [(0, 99), (300, 99)]))
    assert got == [("pending", ()), ("firing", (FF,))]


def test_repeat_elapsed_and_not_before() -> None:
    decisions = run(REPEAT, [(0, 99), (300, 99), (599, 99), (600, 99), (900, 99), (1200, 98)])
    assert [d.reason for d in decisions] == [
        R.FIRST_FIRING,
        R.STILL_FIRING,
        R.STILL_FIRING,
        R.REPEAT_ELAPSED,
        R.STILL_FIRING,
        R.REPEAT_ELAPSED,
    ]


def test_mute_across_firing_reminds_once_when_it_ends() -> None:
    steps = every(60, 150, 99, 99, 99, 99, 99, 99)  # 0..360; muted from 100 until 240
    got = trace(run(REPEAT, steps, mute=(100, 240)))
    assert got == [
        ("ok", ()),
        ("firing", (FF,)),
        ("firing", ()),  # 120 muted
        ("firing", ()),  # 180 muted
        ("firing", ("mute_ended",)),  # 240: the mute is over
        ("firing", ()),
        ("firing", ()),  # 360: repeat counts from the reminder
    ]


def test_firing_begins_while_muted() -> None:
    got = trace(run(BELOW, every(60, 150, 150, 99, 99, 99, 99), mute=(100, 240)))
    assert got == [
        ("ok", ()),
        ("ok", ()),
        ("firing", ()),
        ("firing", ()),
        ("firing", ("mute_ended",)),
        ("firing", ()),
    ]


def test_resolved_while_muted_is_silent_with_no_reminder() -> None:
    got = trace(run(BELOW, every(60, 99, 99, 150, 150, 150, 99), mute=(100, 240)))
    assert got == [
        ("firing", (FF,)),
        ("firing", ()),
        ("ok", ()),  # 120 resolved, muted
        ("ok", ()),
        ("ok", ()),  # 240 mute over: nothing to remind of
        ("firing", (FF,)),
    ]


def test_fired_and_resolved_inside_a_mute_says_nothing() -> None:
    decisions = run(BELOW, every(60, 150, 150, 99, 150, 150), mute=(100, 240))
    assert all(not d.notifications for d in decisions)
    held = [n.reason for d in decisions for n in d.suppressed]
    assert held == [R.FIRST_FIRING, R.RESOLVED]


def test_errors_alert_once_then_recover() -> None:
    steps = every(60, 99, GONE, GONE, GONE, GONE, GONE, 99, 150)
    decisions = run(BELOW, steps)
    assert trace(decisions) == [
        ("firing", (FF,)),
        ("firing", ()),
        ("firing", ()),
        ("error", ("error",)),
        ("error", ()),
        ("error", ()),
        ("firing", ("recovered_from_error", FF)),
        ("ok", (RES,)),
    ]
    assert decisions[3].notifications[0].detail.endswith(GONE)
    assert [d.reason for d in decisions[4:6]] == [R.STILL_ERROR, R.STILL_ERROR]


def test_fewer_than_k_errors_keep_the_state() -> None:
    decisions = run(BELOW_FOR, [(0, 99), (60, "x"), (120, "x"), (300, 99)])
    assert trace(decisions) == [
        ("pending", ()),
        ("pending", ()),
        ("pending", ()),
        ("firing", (FF,)),
    ]
    steps = every(60, "x", "x", 150, "x", "x", 150, "x", "x")
    assert all(d.state.status == S.OK and not d.notifications for d in run(BELOW, steps))


def test_errors_while_muted_and_after() -> None:
    steps = every(60, 150, "x", "x", "x", "x", "x", 150)  # muted from 60 until 270
    got = trace(run(BELOW, steps, mute=(60, 270)))
    assert got == [
        ("ok", ()),
        ("ok", ()),
        ("ok", ()),
        ("error", ()),  # 180 muted
        ("error", ()),  # 240 muted
        ("error", ("mute_ended",)),  # 300: still broken, said once
        ("ok", ("recovered_from_error",)),
    ]


def test_drop_needs_history_in_the_window() -> None:
    decisions = run(DROP, [(0, 200), (400, 10)])  # 200 is older than 5m when 10 arrives
    assert [d.reason for d in decisions] == [R.NOT_ENOUGH_HISTORY, R.NOT_ENOUGH_HISTORY]
    decisions = run(DROP, [(400, 10)], history=[Sample(99, 200), Sample(350, None, "x")])
    assert decisions[0].reason == R.NOT_ENOUGH_HISTORY  # one too old, one failed
    decisions = run(DROP, [(400, 10)], history=[Sample(100, 200)])
    assert decisions[0].reason == R.FIRST_FIRING  # the window includes its start


def test_drop_fires_on_half_gone_within_5m() -> None:
    decisions = run(DROP, [(0, 100), (60, 80), (120, 51), (180, 50)])
    assert [d.reason for d in decisions] == [
        R.NOT_ENOUGH_HISTORY,
        R.STILL_OK,
        R.STILL_OK,
        R.FIRST_FIRING,
    ]
    assert decisions[-1].state.reference == 100


def test_drop_compares_with_the_highest_in_the_window_not_the_oldest() -> None:
    rule = Rule("drop", percent=30, within_seconds=300)
    decisions = run(rule, [(0, 80), (100, 100), (200, 70)])
    assert decisions[-1].reason == R.FIRST_FIRING
    assert decisions[-1].state.reference == 100


def test_drop_ignores_samples_outside_the_window() -> None:
    decisions = run(DROP, [(0, 1000), (200, 900), (400, 500)])  # at 400 the window is 100..400
    assert [d.reason for d in decisions] == [R.NOT_ENOUGH_HISTORY, R.STILL_OK, R.STILL_OK]
    decisions = run(DROP, [(0, 1000), (200, 900), (300, 500)])  # at 300 the window is 0..300
    assert decisions[-1].reason == R.FIRST_FIRING
    assert decisions[-1].state.reference == 1000


def test_drop_ignores_the_sample_itself_and_later_ones_in_history() -> None:
    now = Sample(T, 40)
    history = [now, Sample(T + 10, 1000)]
    assert evaluate(DROP, OK, now, now=T, history=history).reason == R.NOT_ENOUGH_HISTORY


def test_drop_from_zero_is_not_a_drop() -> None:
    assert [d.reason for d in run(DROP, every(60, 0, 0, 0))][1:] == [R.STILL_OK, R.STILL_OK]


def test_drop_resolves_with_hysteresis() -> None:
    steps = every(60, 100, 50, 55, 70, 74, 75, 70)
    decisions = run(DROP, steps)
    assert trace(decisions) == [
        ("ok", ()),
        ("firing", (FF,)),
        ("firing", ()),  # 55: no longer 50% below, but not half back
        ("firing", ()),
        ("firing", ()),
        ("ok", (RES,)),  # 75 = 100 * (1 - 50/200)
        ("ok", ()),  # 70 is 30% below the 100 still in the window: not a 50% drop
    ]


def test_drop_reference_holds_after_the_window_moves_on() -> None:
    steps = [(0, 100), (60, 40), (600, 60), (1200, 74), (1260, 75)]
    assert [d.reason for d in run(DROP, steps)] == [
        R.NOT_ENOUGH_HISTORY,
        R.FIRST_FIRING,
        R.STILL_FIRING,
        R.STILL_FIRING,
        R.RESOLVED,
    ]


# --------------------------------------------------------------------------- properties

_thresholds = st.integers(min_value=0, max_value=200)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    kind = draw(st.sampled_from(["below", "above", "drop"]))
    repeat = draw(st.sampled_from([None, 60, 300]))
    if kind == "drop":
        return Rule(
            "drop",
            percent=draw(st.integers(1, 100)),
            within_seconds=draw(st.sampled_from([60, 300, 900])),
            repeat_seconds=repeat,
        )
    threshold = draw(_thresholds)
    band = draw(st.integers(0, 30))
    recover = draw(
        st.sampled_from([None, threshold + band if kind == "below" else threshold - band])
    )
    return Rule(
        kind,  # type: ignore[arg-type]
        threshold=threshold,
        recover=recover,
        for_seconds=draw(st.sampled_from([0, 30, 120, 300])),
        repeat_seconds=repeat,
    )


_values = st.one_of(
    st.integers(0, 260),
    st.integers(0, 260),
    st.integers(0, 260),
    st.sampled_from(["Group not found (10010)", "Bad credentials (70009)"]),
)


@settings(deadline=None, max_examples=300)
@given(
    rule=rules(),
    gaps_and_values=st.lists(st.tuples(st.integers(1, 200), _values), max_size=60),
    mutes=st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 1500)), max_size=3),
    error_after=st.integers(1, 4),
)
def test_transitions_alternate_and_mutes_are_silent(
    rule: Rule,
    gaps_and_values: list[tuple[int, int | str]],
    mutes: list[tuple[int, int]],
    error_after: int,
) -> None:
    mutes = sorted(mutes)
    state = AlertState()
    history: list[Sample] = []
    now = 0.0
    firing = False  # FIRST_FIRING seen (sent or held back) and not yet ended
    broken = False  # ERROR seen and not yet recovered
    sent_firing = False  # a FIRST_FIRING was sent and nothing ended it since
    for gap, value in gaps_and_values:
        now += gap
        set_so_far = [at + length for at, length in mutes if at <= now]
        muted_until = set_so_far[-1] if set_so_far else None
        sample = Sample(now, None, value) if isinstance(value, str) else Sample(now, value)
        decision = evaluate(
            rule,
            state,
            sample,
            now=now,
            history=history,
            muted_until=muted_until,
            error_after=error_after,
        )
        sent = [n.reason for n in decision.notifications]
        held = [n.reason for n in decision.suppressed]

        if is_muted(muted_until, now):
            assert sent == []
        else:
            assert held == []
        if sent:
            assert decision.reason == sent[0]
        assert decision.reason.notifies == bool(sent)
        assert R.REPEAT_ELAPSED not in held

        for reason in [*sent, *held]:
            if reason == R.FIRST_FIRING:
                assert not firing, "two FIRST_FIRING without a RESOLVED or ERROR between"
                firing = True
            elif reason == R.RESOLVED:
                assert firing, "RESOLVED without a FIRST_FIRING"
                firing = False
            elif reason == R.ERROR:
                assert not broken
                broken, firing = True, False
            elif reason == R.RECOVERED_FROM_ERROR:
                assert broken
                broken = False
            if reason in (R.RESOLVED, R.ERROR):
                sent_firing = False
        if R.FIRST_FIRING in sent:
            assert not sent_firing, "two FIRST_FIRING sent with nothing ending the first"
            sent_firing = True

        state = decision.state
        assert firing == (state.status == S.FIRING)
        assert broken == (state.status == S.ERROR)
        if R.MUTE_ENDED in sent or R.REPEAT_ELAPSED in sent:
            assert state.status in (S.FIRING, S.ERROR)
        if not is_muted(muted_until, now):
            assert not state.muted_notice_due
        history.append(sample)
