"""Between the store's rows (aware datetimes) and the rule engine's values (unix floats)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.alerts import rules
from bot.store.models import AlertStateRow, Watch

__all__ = [
    "apply_state",
    "rule_columns",
    "rule_of",
    "state_columns",
    "state_of",
    "to_dt",
    "to_ts",
]


def to_ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def to_dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def rule_of(watch: Watch) -> rules.Rule:
    return rules.Rule(
        kind=watch.rule_kind,  # type: ignore[arg-type]
        threshold=watch.threshold,
        recover=watch.recover,
        for_seconds=watch.for_seconds,
        percent=watch.percent,
        within_seconds=watch.within_seconds,
        repeat_seconds=watch.repeat_seconds,
    )


def rule_columns(rule: rules.Rule) -> dict[str, object]:
    """The ``Watch`` columns that hold ``rule`` (the inverse of ``rule_of``)."""
    return {
        "rule_kind": rule.kind,
        "threshold": rule.threshold,
        "recover": rule.recover,
        "for_seconds": rule.for_seconds,
        "percent": rule.percent,
        "within_seconds": rule.within_seconds,
        "repeat_seconds": rule.repeat_seconds,
    }


def state_of(row: AlertStateRow | None) -> rules.AlertState:
    if row is None:
        return rules.AlertState()
    return rules.AlertState(
        status=rules.Status(row.status),
        since=to_ts(row.since),
        pending_since=to_ts(row.pending_since),
        firing_since=to_ts(row.firing_since),
        last_notified_at=to_ts(row.last_notified_at),
        reference=row.reference,
        errors_in_row=row.errors_in_row,
        last_error=row.last_error,
        muted_notice_due=row.muted_notice_due,
        last_value=row.last_value,
    )


def state_columns(state: rules.AlertState) -> dict[str, Any]:
    """The ``alert_states`` columns that hold ``state``: the inverse of ``state_of``."""
    return {
        "status": state.status.value,
        "since": to_dt(state.since),
        "pending_since": to_dt(state.pending_since),
        "firing_since": to_dt(state.firing_since),
        "last_notified_at": to_dt(state.last_notified_at),
        "reference": state.reference,
        "errors_in_row": state.errors_in_row,
        "last_error": state.last_error[:500] if state.last_error else None,
        "muted_notice_due": state.muted_notice_due,
        "last_value": state.last_value,
    }


def apply_state(row: AlertStateRow, state: rules.AlertState) -> None:
    for name, value in state_columns(state).items():
        setattr(row, name, value)
