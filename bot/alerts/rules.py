"""The alert rule engine: one sample in, the next state and a named reason out.

:func:`evaluate` is a pure function of its arguments, ``now`` included, in the
manner of Alertmanager's dedup stage (``needsUpdate`` returning
``ReasonFirstNotification``...): every call returns one :class:`Decision` whose
``reason`` says why it is what it is, and whose ``notifications`` say what to send
(none for the silent reasons). No I/O, no clock, no database.

::

    OK ──breached──▶ PENDING ──breached for `for`──▶ FIRING ──recovered──▶ OK
     ▲                  │                             (for = 0: OK ──▶ FIRING at once)
     └──not breached────┘  (PENDING_INTERRUPTED, silent)

    OK | PENDING | FIRING ──K failed checks in a row──▶ ERROR ──good sample──▶ judged afresh

Rules
    ``below N``  breached when value < N; a firing alert resolves when value >= recover.
    ``above N``  breached when value > N; a firing alert resolves when value <= recover.
        ``recover`` defaults to N. Between N and recover the alert keeps whatever it
        was (hysteresis), so an audience hovering at the line does not flap.
    ``drop P% within W``  breached when the value is P% or more below the *highest*
        good sample taken in the W seconds before ``now`` (``history``, earlier than
        the sample itself); with no such sample, or a highest of 0, it is not breached
        (``NOT_ENOUGH_HISTORY``). It fires at once (no ``for``) and keeps that highest
        value as ``reference``. It resolves once half the drop is made good:
        value >= reference * (1 - P/200). Resolving at the bare line
        (reference * (1 - P/100)) would flap; tracking the moving window would
        resolve by itself as the high samples age out, without the audience coming
        back.

Reminders
    ``repeat``: while firing and not muted, REPEAT_ELAPSED once ``repeat`` seconds
    have passed since the last notification.

Mutes (muted means ``muted_until is not None and now < muted_until``)
    The state is tracked as usual but nothing is sent: the decision's reason is
    MUTED when something was held back, and what was held back is kept in
    ``Decision.suppressed`` (for logs). If the alert is FIRING or in ERROR at a
    muted evaluation, ``muted_notice_due`` is set; at the first unmuted evaluation
    the alert gets one MUTE_ENDED reminder if it is still firing (or still in
    error) and nothing else is being sent. A resolve (or recovery) while muted
    clears the flag: silent, and no reminder afterwards. Repeats are not counted
    while muted; MUTE_ENDED stands in for them. The reminder says "Mute over" when
    the mute ran out (``muted_until`` in the past), "Alerts back on" when there is
    none any more: someone unmuted the watch, or resumed one that Slack's refusal
    had paused (the store sets ``muted_notice_due`` then, so that a channel that
    never saw the alert gets it).

Failed checks (a sample whose ``value`` is None or whose ``error`` is set)
    Each one adds to ``errors_in_row`` and leaves the last good status as it was
    (ERROR_COUNTING), until ``error_after`` (default :data:`ERROR_AFTER`) in a row:
    then status ERROR and one ERROR notification carrying the error text. Further
    failures are silent (STILL_ERROR). The next good sample sends
    RECOVERED_FROM_ERROR and judges that sample afresh, as if from OK, so one
    decision may carry two notifications: RECOVERED_FROM_ERROR then FIRST_FIRING
    (a breach with ``for`` 0). A good sample resets the count of failures.

``last_notified_at`` is set to ``now`` whenever a decision carries notifications:
store the decision's state once they are delivered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from bot.commands.durations import format_duration
from bot.commands.values import DEFAULT_WITHIN_SECONDS, WatchDrop, WatchThreshold

__all__ = [
    "ERROR_AFTER",
    "NOTIFY_REASONS",
    "AlertState",
    "Decision",
    "Notification",
    "Reason",
    "Rule",
    "Sample",
    "Status",
    "drop_recover_level",
    "evaluate",
    "is_muted",
]

#: Failed checks in a row before an alert goes to ERROR and says so.
ERROR_AFTER = 3

#: What a failed check says when the sample carries no error text.
_UNKNOWN_ERROR = "the check failed"


class Reason(StrEnum):
    """Why a decision is what it is. The first six notify; the rest are silent."""

    FIRST_FIRING = "first_firing"
    REPEAT_ELAPSED = "repeat_elapsed"
    RESOLVED = "resolved"
    ERROR = "error"
    RECOVERED_FROM_ERROR = "recovered_from_error"
    MUTE_ENDED = "mute_ended"

    STILL_OK = "still_ok"
    NOT_ENOUGH_HISTORY = "not_enough_history"
    PENDING_STARTED = "pending_started"
    PENDING_WAITING = "pending_waiting"
    PENDING_INTERRUPTED = "pending_interrupted"
    STILL_FIRING = "still_firing"
    MUTED = "muted"
    ERROR_COUNTING = "error_counting"
    STILL_ERROR = "still_error"

    @property
    def notifies(self) -> bool:
        return self in NOTIFY_REASONS


#: The reasons that come with a notification.
NOTIFY_REASONS = frozenset(
    {
        Reason.FIRST_FIRING,
        Reason.REPEAT_ELAPSED,
        Reason.RESOLVED,
        Reason.ERROR,
        Reason.RECOVERED_FROM_ERROR,
        Reason.MUTE_ENDED,
    }
)


class Status(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    ERROR = "error"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Rule:
    """When to alert. Build it from a watch command with :meth:`from_command`.

    ``within_seconds`` None means :data:`~bot.commands.values.DEFAULT_WITHIN_SECONDS`.
    An impossible rule (a drop with a threshold, recover on the wrong side...)
    raises ValueError.
    """

    kind: Literal["below", "above", "drop"]
    threshold: int | None = None
    recover: int | None = None
    for_seconds: int = 0
    percent: int | None = None
    within_seconds: int | None = None
    repeat_seconds: int | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(f"Impossible alert rule {self!r}: {problem}.")

    def _problem(self) -> str | None:
        if self.repeat_seconds is not None and self.repeat_seconds <= 0:
            return "repeat_seconds must be positive or None"
        if self.kind == "drop":
            if self.percent is None or not 1 <= self.percent <= 100:
                return "a drop needs a percent from 1 to 100"
            if self.within_seconds is not None and self.within_seconds <= 0:
                return "within_seconds must be positive"
            if self.threshold is not None or self.recover is not None or self.for_seconds:
                return "threshold, recover and for_seconds go with below/above, not drop"
            return None
        if self.kind not in ("below", "above"):
            return "kind must be below, above or drop"
        if self.threshold is None:
            return f"{self.kind} needs a threshold"
        if self.percent is not None or self.within_seconds is not None:
            return f"percent and within_seconds go with drop, not {self.kind}"
        if self.for_seconds < 0:
            return "for_seconds must not be negative"
        if self.recover is not None:
            if self.kind == "below" and self.recover < self.threshold:
                return "recover must be at least the threshold of a below rule"
            if self.kind == "above" and self.recover > self.threshold:
                return "recover must be at most the threshold of an above rule"
        return None

    @classmethod
    def from_command(cls, command: WatchThreshold | WatchDrop) -> Rule:
        """The rule of a parsed ``/online watch`` command (its group and mark aside)."""
        if isinstance(command, WatchThreshold):
            return cls(
                kind=command.direction,
                threshold=command.threshold,
                recover=command.recover,
                for_seconds=command.for_seconds,
                repeat_seconds=command.repeat_seconds,
            )
        if isinstance(command, WatchDrop):
            return cls(
                kind="drop",
                percent=command.percent,
                within_seconds=command.within_seconds,
                repeat_seconds=command.repeat_seconds,
            )
        raise TypeError(f"Not a watch command: {command!r}")

    @property
    def recover_level(self) -> int:
        """below/above: the value that clears a firing alert."""
        assert self.threshold is not None, "drop rules have no recover level"
        return self.threshold if self.recover is None else self.recover

    @property
    def window_seconds(self) -> int:
        """drop: the window the fall is measured over."""
        return DEFAULT_WITHIN_SECONDS if self.within_seconds is None else self.within_seconds

    def describe(self) -> str:
        """The rule in plain words.

        ``fewer than 100 online for 5m (resolves at 120 or more)``,
        ``more than 5,000 online, reminding every 1h``,
        ``audience falls by 30% or more within 5m``.
        """
        if self.kind == "drop":
            text = (
                f"audience falls by {self.percent}% or more within "
                f"{format_duration(self.window_seconds)}"
            )
        else:
            comparison, back = ("fewer", "more") if self.kind == "below" else ("more", "fewer")
            text = f"{comparison} than {self.threshold:,} online"
            if self.for_seconds:
                text += f" for {format_duration(self.for_seconds)}"
            if self.recover is not None and self.recover != self.threshold:
                text += f" (resolves at {self.recover:,} or {back})"
        if self.repeat_seconds:
            text += f", reminding every {format_duration(self.repeat_seconds)}"
        return text


@dataclass(frozen=True, slots=True)
class AlertState:
    """What an alert remembers between checks. The default is a new watch: OK."""

    status: Status = Status.OK
    since: float | None = None  # when the current status began
    pending_since: float | None = None  # while PENDING: when the breach began
    firing_since: float | None = None  # while FIRING
    last_notified_at: float | None = None
    reference: int | None = None  # drop, while FIRING: the level it fell from
    errors_in_row: int = 0
    last_error: str | None = None
    muted_notice_due: bool = False  # firing/error seen while muted: remind when it ends
    last_value: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One check of the group: a count, or the error that stopped it."""

    at: float
    value: int | None  # None when the check failed
    error: str | None = None  # user-readable error text when it failed

    @property
    def failed(self) -> bool:
        return self.value is None or self.error is not None


@dataclass(frozen=True, slots=True)
class Notification:
    reason: Reason
    value: int | None
    detail: str  # one sentence for humans: "Audience 42 is below 100 (for 5m)"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one evaluation.

    ``notifications`` are to be sent, in order. ``suppressed`` holds what a mute
    held back (never sent; for logs).
    """

    state: AlertState
    reason: Reason  # the main reason (silent or notify)
    notifications: tuple[Notification, ...] = ()
    suppressed: tuple[Notification, ...] = ()


def is_muted(muted_until: float | None, now: float) -> bool:
    """Mutes always expire: muted until, not including, ``muted_until``."""
    return muted_until is not None and now < muted_until


# --------------------------------------------------------------------------- evaluation


def evaluate(
    rule: Rule,
    state: AlertState,
    sample: Sample,
    *,
    now: float,
    history: Sequence[Sample] = (),
    muted_until: float | None = None,
    error_after: int = ERROR_AFTER,
) -> Decision:
    """The next state of an alert after ``sample``, and why; see the module docstring.

    ``history`` holds earlier samples in any order; only ``drop`` rules read it.
    """
    if error_after < 1:
        raise ValueError(f"error_after must be at least 1, not {error_after}")
    if sample.failed:
        decision = _failed(state, sample, now, error_after)
    elif state.status == Status.ERROR:
        decision = _recovered(rule, state, sample, now, history)
    else:
        good = dataclasses.replace(state, errors_in_row=0, last_error=None)
        decision = _judge(rule, good, sample, now, history)
    return _mute_stage(rule, decision, state.muted_notice_due, now, muted_until)


def _failed(state: AlertState, sample: Sample, now: float, error_after: int) -> Decision:
    errors = state.errors_in_row + 1
    text = sample.error or _UNKNOWN_ERROR
    counted = dataclasses.replace(state, errors_in_row=errors, last_error=text)
    if state.status == Status.ERROR:
        return Decision(counted, Reason.STILL_ERROR)
    if errors < error_after:
        return Decision(counted, Reason.ERROR_COUNTING)
    broken = _moved(counted, Status.ERROR, now, firing_since=None, reference=None)
    times = "once" if errors == 1 else f"{errors} times in a row"
    note = Notification(Reason.ERROR, None, f"Could not check the group {times}: {text}")
    return Decision(broken, Reason.ERROR, (note,))


def _recovered(
    rule: Rule, state: AlertState, sample: Sample, now: float, history: Sequence[Sample]
) -> Decision:
    assert sample.value is not None
    fresh = _judge(rule, AlertState(status=Status.OK, since=now), sample, now, history)
    after = f" after {_for(state.since, now)} of errors" if state.since is not None else ""
    note = Notification(
        Reason.RECOVERED_FROM_ERROR,
        sample.value,
        f"The group can be checked again{after}: audience {sample.value:,}",
    )
    return Decision(fresh.state, Reason.RECOVERED_FROM_ERROR, (note, *fresh.notifications))


def _judge(
    rule: Rule, state: AlertState, sample: Sample, now: float, history: Sequence[Sample]
) -> Decision:
    """A good sample against an OK, PENDING or FIRING state."""
    value = sample.value
    assert value is not None
    seen = dataclasses.replace(state, last_value=value)
    if state.status == Status.FIRING:
        return _while_firing(rule, seen, value, now)

    reference = _drop_reference(rule, sample, history, now) if rule.kind == "drop" else None
    if not _breached(rule, value, reference):
        ok = _moved(seen, Status.OK, now)
        if state.status == Status.PENDING:
            return Decision(ok, Reason.PENDING_INTERRUPTED)
        if rule.kind == "drop" and reference is None:
            return Decision(ok, Reason.NOT_ENOUGH_HISTORY)
        return Decision(ok, Reason.STILL_OK)

    pending_since = state.pending_since if state.status == Status.PENDING else None
    started = now if pending_since is None else pending_since
    if now - started >= rule.for_seconds:
        firing = _moved(seen, Status.FIRING, now, firing_since=now, reference=reference)
        detail = _condition(rule, value, reference, capital=True)
        if rule.for_seconds:
            detail += f" (for {_for(started, now)})"
        note = Notification(Reason.FIRST_FIRING, value, detail)
        return Decision(firing, Reason.FIRST_FIRING, (note,))
    if pending_since is not None:
        return Decision(seen, Reason.PENDING_WAITING)
    return Decision(_moved(seen, Status.PENDING, now, pending_since=now), Reason.PENDING_STARTED)


def _while_firing(rule: Rule, state: AlertState, value: int, now: float) -> Decision:
    firing_for = _for(state.firing_since, now)
    if _cleared(rule, value, state.reference):
        back = _back_to(rule, state.reference)
        note = Notification(
            Reason.RESOLVED,
            value,
            f"Resolved after {firing_for}: audience {value:,} is back to {back}",
        )
        return Decision(_moved(state, Status.OK, now), Reason.RESOLVED, (note,))
    if rule.repeat_seconds:
        last = state.last_notified_at if state.last_notified_at is not None else state.firing_since
        if last is None or now - last >= rule.repeat_seconds:
            detail = f"Still firing after {firing_for}: " + _condition(rule, value, state.reference)
            note = Notification(Reason.REPEAT_ELAPSED, value, detail)
            return Decision(state, Reason.REPEAT_ELAPSED, (note,))
    return Decision(state, Reason.STILL_FIRING)


def _mute_stage(
    rule: Rule, decision: Decision, notice_due: bool, now: float, muted_until: float | None
) -> Decision:
    """Hold notifications back while muted; one reminder when a mute ends."""
    state = decision.state
    if is_muted(muted_until, now):
        held = tuple(n for n in decision.notifications if n.reason != Reason.REPEAT_ELAPSED)
        due = state.status in (Status.FIRING, Status.ERROR)
        state = dataclasses.replace(state, muted_notice_due=due)
        if decision.reason == Reason.REPEAT_ELAPSED:
            return Decision(state, Reason.STILL_FIRING)
        return Decision(state, Reason.MUTED if held else decision.reason, (), held)
    if notice_due:
        state = dataclasses.replace(state, muted_notice_due=False)
        only_repeat = all(n.reason == Reason.REPEAT_ELAPSED for n in decision.notifications)
        if only_repeat and state.status in (Status.FIRING, Status.ERROR):
            ran_out = muted_until is not None
            note = _mute_ended(rule, state, now, ran_out=ran_out)
            decision = Decision(state, Reason.MUTE_ENDED, (note,))
        else:
            decision = dataclasses.replace(decision, state=state)
    if decision.notifications:
        state = dataclasses.replace(decision.state, last_notified_at=now)
        decision = dataclasses.replace(decision, state=state)
    return decision


def _mute_ended(rule: Rule, state: AlertState, now: float, *, ran_out: bool) -> Notification:
    why = "Mute over" if ran_out else "Alerts back on"
    if state.status == Status.ERROR:
        error = state.last_error or _UNKNOWN_ERROR
        return Notification(
            Reason.MUTE_ENDED, None, f"{why}; the group still cannot be checked: {error}"
        )
    value = state.last_value
    what = rule.describe() if value is None else _condition(rule, value, state.reference)
    return Notification(
        Reason.MUTE_ENDED,
        value,
        f"{why}; still firing after {_for(state.firing_since, now)}: {what}",
    )


# --------------------------------------------------------------------------- the rules


def _drop_reference(
    rule: Rule, sample: Sample, history: Sequence[Sample], now: float
) -> int | None:
    """The highest good value sampled in the window, before ``sample``; None if none."""
    start = now - rule.window_seconds
    values = [
        s.value
        for s in history
        if not s.failed and s.value is not None and start <= s.at < sample.at
    ]
    return max(values, default=None)


def _breached(rule: Rule, value: int, reference: int | None) -> bool:
    if rule.kind == "below":
        assert rule.threshold is not None
        return value < rule.threshold
    if rule.kind == "above":
        assert rule.threshold is not None
        return value > rule.threshold
    assert rule.percent is not None
    # value <= reference * (1 - P/100), in whole numbers; a fall needs somewhere to fall from.
    return (
        reference is not None and reference > 0 and value * 100 <= reference * (100 - rule.percent)
    )


def _cleared(rule: Rule, value: int, reference: int | None) -> bool:
    if rule.kind == "below":
        return value >= rule.recover_level
    if rule.kind == "above":
        return value <= rule.recover_level
    if reference is None:  # a state stored without its reference: nothing to hold it to
        return True
    return value >= drop_recover_level(rule, reference)


def drop_recover_level(rule: Rule, reference: int) -> int:
    """Half the drop made good: the least whole value >= reference * (1 - P/200)."""
    assert rule.percent is not None
    return -(-reference * (200 - rule.percent) // 200)


def _condition(rule: Rule, value: int, reference: int | None, *, capital: bool = False) -> str:
    """``audience 42 is below 100``, ``audience 50 is 50% below 100 (within 5m)``."""
    word = "Audience" if capital else "audience"
    if rule.kind == "below":
        return f"{word} {value:,} is below {rule.threshold:,}"
    if rule.kind == "above":
        return f"{word} {value:,} is above {rule.threshold:,}"
    if not reference:
        return f"{word} {value:,} has fallen {rule.percent}% or more"
    fall = (reference - value) * 100 // reference
    return (
        f"{word} {value:,} is {fall}% below {reference:,} "
        f"(within {format_duration(rule.window_seconds)})"
    )


def _back_to(rule: Rule, reference: int | None) -> str:
    if rule.kind == "below":
        return f"{rule.recover_level:,} or more"
    if rule.kind == "above":
        return f"{rule.recover_level:,} or fewer"
    if reference is None:
        return "its level"
    return f"{drop_recover_level(rule, reference):,} or more (it fell from {reference:,})"


def _moved(state: AlertState, status: Status, now: float, **changes: object) -> AlertState:
    """``state`` in ``status``; ``since`` restarts when the status changes."""
    since = state.since if status == state.status and state.since is not None else now
    cleared: dict[str, object] = {}
    if status != Status.PENDING:
        cleared["pending_since"] = None
    if status != Status.FIRING:
        cleared.update(firing_since=None, reference=None)
    return dataclasses.replace(state, status=status, since=since, **{**cleared, **changes})


def _for(start: float | None, now: float) -> str:
    """How long since ``start``, in whole seconds: ``5m``, ``1h 30m``."""
    return format_duration(max(0, int(now - start))) if start is not None else "a while"
