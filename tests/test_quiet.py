"""Where a value changes nothing (quiet.quiet_range): what push trusts its estimate within."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.quiet import Quiet, push_margin, quiet_range
from bot.alerts.rules import AlertState, Rule, Sample, Status, evaluate


def test_margin_is_five_percent_and_at_least_two():
    assert push_margin(0) == 2
    assert push_margin(10) == 2
    assert push_margin(100) == 5
    assert push_margin(101) == 6  # rounded up
    assert push_margin(10_000) == 500


def test_below_ok_is_quiet_above_the_line_plus_margin_and_settled():
    quiet = quiet_range(Rule("below", 100), AlertState(), value=500)
    assert quiet == Quiet(low=105, high=None, settled=True)


def test_above_ok_is_quiet_under_the_line_minus_margin():
    quiet = quiet_range(Rule("above", 1000), AlertState(), value=10)
    assert quiet == Quiet(low=None, high=950, settled=True)


def test_firing_is_quiet_short_of_the_recover_level_and_never_settled():
    firing = AlertState(status=Status.FIRING, since=0, firing_since=0)
    assert quiet_range(Rule("below", 100, recover=200), firing, value=40) == Quiet(
        low=None, high=189, settled=False
    )
    assert quiet_range(Rule("above", 100, recover=50), firing, value=400) == Quiet(
        low=54, high=None, settled=False
    )


def test_clock_driven_states_have_no_quiet_range():
    rule = Rule("below", 100, for_seconds=300)
    assert quiet_range(rule, AlertState(status=Status.PENDING, pending_since=0), value=50) is None
    assert quiet_range(rule, AlertState(status=Status.ERROR, errors_in_row=3), value=50) is None
    assert quiet_range(rule, AlertState(muted_notice_due=True), value=500) is None
    assert quiet_range(rule, AlertState(), value=None) is None


def test_drop_is_quiet_above_its_line_from_the_window_high_and_not_settled():
    rule = Rule("drop", percent=50, within_seconds=300)
    history = [Sample(at=0, value=1000), Sample(at=10, value=None, error="x")]
    quiet = quiet_range(rule, AlertState(), value=800, history=history)
    assert quiet is not None and not quiet.settled
    assert quiet.low == 501 + push_margin(501) and quiet.high is None


def test_both_watches_quiet_is_the_overlap():
    a = Quiet(low=105, high=None, settled=True)
    b = Quiet(low=None, high=950, settled=False)
    assert a & b == Quiet(low=105, high=950, settled=False)
    assert a & Quiet(low=200, high=None, settled=True) == Quiet(200, None, True)


rules = st.one_of(
    st.builds(
        lambda kind, threshold, gap, for_s: Rule(
            kind,
            threshold,
            recover=threshold + gap if kind == "below" else max(0, threshold - gap),
            for_seconds=for_s,
        ),
        st.sampled_from(["below", "above"]),
        st.integers(0, 5000),
        st.integers(0, 500),
        st.sampled_from([0, 0, 120]),
    ),
    st.builds(
        lambda p: Rule("drop", percent=p, within_seconds=600),
        st.integers(1, 100),
    ),
)


@settings(max_examples=400, deadline=None)
@given(rule=rules, values=st.lists(st.integers(0, 10_000), min_size=1, max_size=6), data=st.data())
def test_any_value_in_the_quiet_range_changes_nothing(rule, values, data):
    """Judge a run of samples; then every value inside the quiet range, judged next, is
    silent and leaves the status as it is (the promise push relies on)."""
    state, history, now = AlertState(), [], 1000.0
    for value in values:
        sample = Sample(at=now, value=value)
        state = evaluate(rule, state, sample, now=now, history=history).state
        history.append(sample)
        now += 30
    quiet = quiet_range(rule, state, value=values[-1], history=history[:-1])
    if quiet is None:
        return
    low = quiet.low if quiet.low is not None else -1000
    high = quiet.high if quiet.high is not None else 20_000
    if low > high:
        return  # the margins leave nothing quiet: every move asks for a check
    probe = data.draw(st.integers(low, high))
    decision = evaluate(rule, state, Sample(at=now, value=probe), now=now, history=history)
    assert decision.state.status == state.status
    assert not decision.notifications
