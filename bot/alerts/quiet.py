"""Where an alert's next value changes nothing: the quiet range push trusts its estimate within.

After a check, judged by the rule engine (:mod:`bot.alerts.rules`), a value inside the
alert's :class:`Quiet` range would leave it as it is and send nothing. Push
(``bot.alerts.push``) keeps an estimate of each target's audience from Tencent's
callbacks and asks for a real check only when the estimate leaves this range, shrunk by
:func:`push_margin` for the estimate's error. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.alerts.rules import AlertState, Rule, Sample, Status, drop_recover_level

__all__ = ["Quiet", "push_margin", "quiet_range"]


@dataclass(frozen=True, slots=True)
class Quiet:
    """Where the next value of an alert can fall without changing anything.

    After a check, a value from ``low`` to ``high`` (None: unbounded) would leave the
    alert as it is and send nothing; only one outside could change it. ``settled``: nor
    does anything wait on the clock (OK, not a drop rule, no reminder owed), so the
    alert needs a new value only when one may fall outside. Push (``bot.alerts.push``)
    keeps an estimate from Tencent's callbacks and asks for a check when it leaves
    this range, shrunk by :func:`push_margin` for the estimate's error.
    """

    low: int | None
    high: int | None
    settled: bool

    def __and__(self, other: Quiet) -> Quiet:
        """Both alerts quiet: the values quiet for each."""
        return Quiet(
            low=_bound(max, self.low, other.low),
            high=_bound(min, self.high, other.high),
            settled=self.settled and other.settled,
        )


def _bound(pick: Any, a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else pick(a, b)


def push_margin(level: int) -> int:
    """How far inside a rule's line a push estimate must stay to be trusted: 5% of the
    line, at least 2 (Tencent's own count lags its callbacks by about 10 s)."""
    return max(2, -(-abs(level) * 5 // 100))


def quiet_range(
    rule: Rule, state: AlertState, *, value: int | None, history: Sequence[Sample] = ()
) -> Quiet | None:
    """The :class:`Quiet` range of an alert just judged to ``state`` on ``value`` (and,
    for a drop, the earlier ``history`` of its window), shrunk by :func:`push_margin`;
    None when any new value may matter: PENDING (a ``for`` clock runs), ERROR, a
    reminder owed after a mute, or no value to start from."""
    if value is None or state.muted_notice_due:
        return None
    if state.status in (Status.PENDING, Status.ERROR):
        return None
    firing = state.status == Status.FIRING
    if rule.kind == "drop":
        assert rule.percent is not None
        if firing:
            if state.reference is None:
                return None
            back = drop_recover_level(rule, state.reference)
            return Quiet(low=None, high=back - 1 - push_margin(back), settled=False)
        values = [s.value for s in history if not s.failed and s.value is not None]
        reference = max([value, *values])
        # the least value not breached: value * 100 > reference * (100 - P)
        line = reference * (100 - rule.percent) // 100 + 1
        return Quiet(low=line + push_margin(line), high=None, settled=False)
    assert rule.threshold is not None
    if rule.kind == "below":
        if firing:  # resolves at value >= recover
            back = rule.recover_level
            return Quiet(low=None, high=back - 1 - push_margin(back), settled=False)
        line = rule.threshold  # fires at value < threshold
        return Quiet(low=line + push_margin(line), high=None, settled=True)
    if firing:  # above: resolves at value <= recover
        back = rule.recover_level
        return Quiet(low=back + 1 + push_margin(back), high=None, settled=False)
    line = rule.threshold  # fires at value > threshold
    return Quiet(low=None, high=line - push_margin(line), settled=True)
