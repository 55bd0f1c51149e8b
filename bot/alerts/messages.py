"""Outbox messages: what an alert says, composed from the store when its transition is
recorded, into the row the deliverer sends (``text``/``blocks``/``metadata``, and an
``update`` of the incident's first message for the closing kinds)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import rules
from bot.alerts.mapping import rule_of, to_dt, to_ts
from bot.alerts.names import GroupNames
from bot.render import alerts as render
from bot.store import samples
from bot.store.models import OPENING_KINDS, AlertStateRow, Outbox, OutboxKind, Watch

__all__ = ["SPARK_SAMPLES", "alert_view", "chart_row", "outbox_row"]

#: How many recent samples an alert's sparkline shows.
SPARK_SAMPLES = 20


def alert_view(
    session: Session,
    watch: Watch,
    state: AlertStateRow,
    names: GroupNames,
    *,
    incident: str,
    value: int | None,
    now: float,
    since: float | None = None,
) -> render.AlertView:
    """Everything an alert message shows, read from the store."""
    recent = samples.recent(session, watch.group_id, watch.mark, limit=SPARK_SAMPLES)
    if since is None:
        since = to_ts(state.firing_since) or to_ts(state.since)
    return render.AlertView(
        watch_id=watch.id,
        group_id=watch.group_id,
        group_name=names.peek(watch.group_id),
        mark=watch.mark,
        rule_text=rule_of(watch).describe(),
        value=value,
        since=since,
        now=now,
        samples=tuple(reversed(recent)),
        acknowledged_by=state.acknowledged_by,
        acknowledged_at=to_ts(state.acknowledged_at),
        muted_until=to_ts(watch.muted_until),
        error=state.last_error,
        incident_id=incident,
    )


def outbox_row(
    session: Session,
    watch: Watch,
    state: AlertStateRow,
    names: GroupNames,
    *,
    kind: OutboxKind,
    incident: str,
    note: rules.Notification,
    now: float,
) -> Outbox:
    """The outbox row for one notification: its message, its dedup key, and for a reply
    the message that opened its incident (its thread)."""
    opening = None if kind in OPENING_KINDS else _opening(session, incident)
    since = to_ts(opening.created_at) if opening is not None else None
    view = alert_view(
        session, watch, state, names, incident=incident, value=note.value, now=now, since=since
    )
    payload = _payload(kind, view, note, now)
    key = f"{watch.id}:{incident}:{kind}:{int(now)}"
    payload["metadata"] = render.alert_metadata(incident, watch.id, kind.value)
    payload["metadata"]["event_payload"]["key"] = key
    return Outbox(
        watch_id=watch.id,
        incident_id=incident,
        kind=kind.value,
        dedup_key=key,
        channel_id=watch.channel_id,
        parent_id=opening.id if opening is not None else None,
        payload=payload,
        next_attempt_at=to_dt(now),
        created_at=to_dt(now),
    )


def chart_row(session: Session, watch: Watch, message: Outbox, *, now: float) -> Outbox:
    """The row of the chart that follows ``message`` (an alert, flushed: it has its id)
    in its thread: the last hour of an alert, the whole incident of a resolve. It is
    drawn once the message is posted (``bot.alerts.chart_delivery``)."""
    incident_start = None
    if message.kind == OutboxKind.RESOLVED and message.parent_id is not None:
        opening = session.get(Outbox, message.parent_id)
        incident_start = to_ts(opening.created_at) if opening is not None else None
    key = f"{message.dedup_key}:chart"
    return Outbox(
        watch_id=watch.id,
        incident_id=message.incident_id,
        kind=OutboxKind.CHART.value,
        dedup_key=key,
        channel_id=message.channel_id,
        parent_id=message.id,
        payload={
            "chart": {
                "group_id": watch.group_id,
                "mark": watch.mark,
                "of": message.kind,
                "alert_at": now,
                "incident_start": incident_start,
            },
            "key": key,
        },
        next_attempt_at=to_dt(now),
        created_at=to_dt(now),
    )


def _opening(session: Session, incident: str) -> Outbox | None:
    """The message that opened ``incident`` (a reply's thread), stored or added in this
    session (then written now, so that the reply can point at its id)."""
    for row in session.new:
        if isinstance(row, Outbox) and row.incident_id == incident and row.kind in OPENING_KINDS:
            session.flush()
            return row
    return session.scalar(
        select(Outbox)
        .where(Outbox.incident_id == incident, Outbox.kind.in_(sorted(OPENING_KINDS)))
        .order_by(Outbox.id)
        .limit(1)
    )


def _payload(
    kind: OutboxKind, view: render.AlertView, note: rules.Notification, now: float
) -> dict[str, Any]:
    """What to send: ``text``/``blocks`` of the message, and for closing kinds an
    ``update`` for the original message."""
    if kind == OutboxKind.FIRING:
        message = render.render_firing(view, reason=note.detail)
        return {"text": message.text, "blocks": message.blocks}
    if kind in (OutboxKind.REPEAT, OutboxKind.REMINDER):
        message = render.render_firing(view, reason=note.detail)
        return {"text": message.text, "blocks": message.blocks, "broadcast": True}
    if kind == OutboxKind.ERROR:
        message = render.render_error_alert(view)
        return {"text": message.text, "blocks": message.blocks}
    fired_for = max(0.0, now - (view.since or now))
    if kind == OutboxKind.RESOLVED:
        reply = render.render_resolved_reply(view, fired_for=fired_for)
        original = render.render_resolved_original(view, fired_for=fired_for, resolved_at=now)
    else:  # recovered
        reply = render.render_recovered_reply(view)
        original = render.render_error_original_recovered(view, recovered_at=now)
    return {
        "text": reply.text,
        "blocks": reply.blocks,
        "update": {"text": original.text, "blocks": original.blocks},
    }
