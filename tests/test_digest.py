"""The daily digest over the store (SQLite and PostgreSQL), the simulator and the fake
Slack: /online digest set, off and shown, listed in /online watches; written to the
outbox once per channel and local date, missed ones sent late once; the figures of known
samples; the chart uploaded in the digest's thread, or a note when Slack refuses it."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from support.alerting import GROUP, Clock, Env

from bot.alerts.history import HistoryReader
from bot.alerts.mapping import to_dt
from bot.commands.grammar import DigestOff, SetDigest, ShowDigest
from bot.digest.schedule import MAX_LATE_SECONDS
from bot.digest.service import Digests, digest_key
from bot.drawing import DrawingFailed
from bot.render.charts import Chart
from bot.render.text import blocks_to_text
from bot.store.models import DigestRow, Outbox, SampleRow
from bot.watches import Actor, WatchError

PARIS = ZoneInfo("Europe/Paris")
OTHER = "@TGS#other"


class Drawn:
    """The digests' draw function: records each chart and returns a small PNG-like body."""

    def __init__(self) -> None:
        self.charts: list[Chart] = []

    def __call__(self, chart: Chart) -> bytes:
        self.charts.append(chart)
        return b"\x89PNG fake " + str(len(chart.panels)).encode()


def digests_of(env, owner="replica-1", drawn=None, user_zone=None):
    reader = HistoryReader(env.sessions, env.names, clock=env.clock)
    return Digests(
        env.sessions,
        reader,
        env.watches,
        owner=owner,
        clock=env.clock,
        draw=drawn or Drawn(),
        user_zone=user_zone,
    )


def digest_row(env, channel="C1"):
    with env.sessions() as session:
        return session.scalar(select(DigestRow).where(DigestRow.channel_id == channel))


def make_due(env, channel="C1", at: float | None = None):
    """Move the clock to the digest's next due time (plus 5 s)."""
    row = digest_row(env, channel)
    env.clock.now = (at or row.next_due_at.timestamp()) + 5


def a_digest_written(env, zone: str = "UTC") -> Digests:
    """A watch in C1 and C1's digest at 09:00 ``zone``, made due and written to the outbox."""
    env.watch(f"watch {GROUP} below 10")
    digests = digests_of(env)
    digests.command(SetDigest(9, 0, zone), Actor("U1", "C1"))
    make_due(env)
    assert digests.send_due() == 1
    return digests


def text_of(message) -> str:
    return blocks_to_text(message.blocks)


# -- the command ----------------------------------------------------------------------------


def test_set_replace_show_and_off(env) -> None:
    digests = digests_of(env)
    actor = Actor("U1", "C1")
    set_reply = text_of(digests.command(SetDigest(9, 0, "Europe/Paris"), actor))
    assert "*09:00* `Europe/Paris`" in set_reply and "the zone you gave" in set_reply
    row = digest_row(env)
    local = row.next_due_at.astimezone(PARIS)
    assert (local.hour, local.minute) == (9, 0)
    assert 0 < row.next_due_at.timestamp() - env.clock() <= 86400

    replaced = text_of(digests.command(SetDigest(18, 30, "Europe/Paris"), actor))
    assert "now goes out at *18:30*" in replaced
    with env.sessions() as session:
        assert len(session.scalars(select(DigestRow)).all()) == 1  # one per channel

    shown = text_of(digests.command(ShowDigest(), actor))
    assert "Daily digest at *18:30* `Europe/Paris`" in shown and "Usage:" in shown
    assert "Daily digest at *18:30*" in text_of(env.watches.list(actor))

    assert "stopped this channel's daily digest" in text_of(digests.command(DigestOff(), actor))
    assert digest_row(env) is None
    assert "no daily digest" in text_of(digests.command(ShowDigest(), actor))
    assert "nothing to stop" in text_of(digests.command(DigestOff(), actor))


def test_the_zone_defaults_to_the_requesters_then_utc(env) -> None:
    asked: list[str] = []

    def user_zone(user_id: str) -> ZoneInfo | None:
        asked.append(user_id)
        return ZoneInfo("Asia/Tokyo") if user_id == "UTOKYO" else None

    digests = digests_of(env, user_zone=user_zone)
    tokyo = text_of(digests.command(SetDigest(8, 0), Actor("UTOKYO", "C1")))
    assert "`Asia/Tokyo`" in tokyo and "your Slack time zone" in tokyo
    assert digest_row(env, "C1").zone == "Asia/Tokyo"
    utc = text_of(digests.command(SetDigest(8, 0), Actor("UNONE", "C2")))
    assert "`UTC`" in utc and "could not be read" in utc
    assert asked == ["UTOKYO", "UNONE"]


def test_only_watch_admins_change_the_digest(env, sim, fake_slack) -> None:
    admins = Env(
        env.engine.url.render_as_string(hide_password=False),
        sim,
        fake_slack,
        Clock(),
        admins=frozenset({"UADMIN"}),
    )
    try:
        digests = digests_of(admins)
        with pytest.raises(WatchError) as refused:
            digests.command(SetDigest(9, 0, "UTC"), Actor("U2", "C1"))
        assert "watch admins" in str(refused.value)
        assert digest_row(admins) is None
        digests.command(SetDigest(9, 0, "UTC"), Actor("UADMIN", "C1"))
        assert digest_row(admins) is not None
        # anyone may look
        assert "09:00" in text_of(digests.command(ShowDigest(), Actor("U2", "C1")))
    finally:
        admins.close()


# -- exactly once ---------------------------------------------------------------------------


def test_due_digest_written_once_per_day_whoever_claims(env) -> None:
    env.watch(f"watch {GROUP} below 10")
    first, second = digests_of(env, "replica-1"), digests_of(env, "replica-2")
    first.command(SetDigest(9, 0, "Europe/Paris"), Actor("U1", "C1"))
    assert first.send_due() == 0  # not due yet
    make_due(env)
    due_day = digest_row(env).next_due_at.astimezone(PARIS).date()
    assert first.send_due() == 1
    assert second.send_due() == 0  # its next time is tomorrow now
    env.clock.advance(600)
    assert first.send_due() == second.send_due() == 0
    rows = env.outbox()
    assert [(r.kind, r.dedup_key) for r in rows] == [
        ("digest", digest_key("C1", due_day)),
        ("digest_chart", f"{digest_key('C1', due_day)}:chart"),
    ]
    assert rows[1].parent_id == rows[0].id
    row = digest_row(env)
    assert row.last_sent_for == due_day and row.lease_owner is None
    assert row.next_due_at.astimezone(PARIS).date() == due_day + timedelta(days=1)

    # a replica that claimed it and lost its lease (changed meanwhile) writes nothing
    make_due(env)
    with env.sessions.begin() as session:
        session.get(DigestRow, row.id).lease_owner = "replica-9"
        session.get(DigestRow, row.id).lease_until = to_dt(env.clock() - 1)
    assert second._write(row.id) == 0
    assert second.send_due() == 1  # the lease ran out: claimed again, written once
    third = env.outbox()[2:]  # no chart: nothing was checked in that day
    assert [(r.kind, r.dedup_key) for r in third] == [
        ("digest", digest_key("C1", due_day + timedelta(days=1)))
    ]


def test_a_missed_digest_is_sent_late_once_and_not_when_too_late(env) -> None:
    env.watch(f"watch {GROUP} below 10")
    digests = digests_of(env)
    digests.command(SetDigest(9, 0, "Europe/Paris"), Actor("U1", "C1"))
    due = digest_row(env).next_due_at.timestamp()
    env.clock.now = due + 2 * 3600  # the bot was down at 09:00, back at 11:00
    assert digests.send_due() == 1
    assert digests.send_due() == 0
    env.clock.advance(3600)
    assert digests.send_due() == 0
    assert len([r for r in env.outbox() if r.kind == "digest"]) == 1

    # down for three days, back well past the next day's time: nothing stale is sent
    env.clock.now = due + 3 * 86400 + MAX_LATE_SECONDS + 600
    assert digests.send_due() == 0
    assert len([r for r in env.outbox() if r.kind == "digest"]) == 1
    upcoming = digest_row(env).next_due_at.timestamp()
    assert upcoming == pytest.approx(due + 4 * 86400, abs=3600)
    assert upcoming > env.clock()


# -- what it says -------------------------------------------------------------------------


def add_samples(env, group, values, *, mark=None, start=None, step=3600):
    start = start if start is not None else env.clock() - len(values) * step
    with env.sessions.begin() as session:
        for i, value in enumerate(values):
            session.add(
                SampleRow(
                    group_id=group,
                    mark=mark,
                    taken_at=to_dt(start + i * step),
                    value=value,
                    error="timeout" if value is None else None,
                )
            )
    return start


def test_the_figures_of_known_samples(env, sim) -> None:
    sim.add_group(OTHER, "Quiet room", "AVChatRoom")
    sim.set_audience(OTHER, 0)
    env.watch(f"watch {GROUP} below 10")
    env.watch(f"watch {OTHER} above 1000")
    # a day at noon UTC: samples at 13:00, 14:00, 15:00, 16:00 UTC, one failed
    env.clock.now = datetime(2026, 6, 1, 17, 30, tzinfo=UTC).timestamp()
    with env.sessions.begin() as session:
        session.query(SampleRow).delete()
    add_samples(env, GROUP, [100, 900, None, 500, 300], start=env.clock() - 4.5 * 3600)
    drawn = Drawn()
    digests = digests_of(env, drawn=drawn)
    view = digests.view("C1", PARIS, date(2026, 6, 1), env.clock())
    message, chart = digests.compose(view)
    text = text_of(message)
    assert "Daily digest: 2 watched groups" in text
    # 13:00 UTC is 15:00 in Paris (CEST); the peak 900 at 14:00 UTC = 16:00 local
    assert "Peak *900* at 16:00 · low 100 · average 450 · now 300 (19:00)" in text
    assert "1 failed check" in text
    assert "*Quiet room* (`@TGS#other`)\nNo counts in the last 24 h; no alerts." in text
    assert "times in Europe/Paris" in text
    assert chart is not None and chart[0] == "digest-2026-06-01.png"
    assert len(drawn.charts) == 1 and len(drawn.charts[0].panels) == 1  # only groups with counts
    assert drawn.charts[0].zone == PARIS


def test_a_chart_that_cannot_be_drawn_leaves_the_digest_with_a_note(env) -> None:
    def stopped(_: Chart) -> bytes:
        raise DrawingFailed("the drawing process stopped before drawing it")

    env.watch(f"watch {GROUP} below 10")
    add_samples(env, GROUP, [100, 300], start=env.clock() - 3600)
    digests = digests_of(env, drawn=stopped)
    message, chart = digests.compose(digests.view("C1", PARIS, date.today(), env.clock()))
    assert chart is None
    assert (
        "No chart today: it could not be drawn (the drawing process stopped before drawing it)."
        in text_of(message)
    )


def test_alerts_fired_in_the_last_day_are_counted(env, sim) -> None:
    env.watch(f"watch {GROUP} below 100")
    sim.set_audience(GROUP, 50)
    env.cycle()  # fires
    sim.set_audience(GROUP, 500)
    env.cycle()  # resolves
    sim.set_audience(GROUP, 40)
    env.cycle()  # fires again
    digests = digests_of(env)
    view = digests.view("C1", PARIS, date.today(), env.clock())
    assert "2 alerts fired" in text_of(digests.compose(view)[0])


def test_many_groups_stay_within_slacks_limits(env, sim) -> None:
    for i in range(60):
        sim.add_group(f"@TGS#g{i}", f"Room {i}", "AVChatRoom")
        sim.set_audience(f"@TGS#g{i}", i)
        env.watch(f"watch @TGS#g{i} below 1")
    drawn = Drawn()
    digests = digests_of(env, drawn=drawn)
    message, _ = digests.compose(digests.view("C1", PARIS, date.today(), env.clock()))
    assert len(message.blocks) <= 50
    assert "15 more groups not listed here" in text_of(message)
    assert "first 12 of the 60 groups" in text_of(message)
    assert len(drawn.charts[0].panels) == 12


# -- delivered to Slack -----------------------------------------------------------------------


def test_the_digest_and_its_chart_reach_slack(env, fake_slack) -> None:
    a_digest_written(env, "Europe/Paris")
    report = env.deliverer.deliver_due()
    assert report.delivered == 2
    (posted,) = [m for m in fake_slack.messages("C1") if "Daily digest" in m.get("text", "")]
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.channel_id == "C1" and uploaded.thread_ts == posted["ts"]
    assert uploaded.content.startswith(b"\x89PNG")
    assert uploaded.filename.startswith("digest-")
    digest, chart = env.outbox()
    assert digest.status == chart.status == "delivered"
    assert "png" not in chart.payload["file"]  # not kept once uploaded
    assert posted["metadata"]["event_payload"]["key"] == digest.dedup_key


def test_a_chart_uploaded_before_a_crash_is_found_not_uploaded_again(env, fake_slack) -> None:
    a_digest_written(env)
    assert env.deliverer.deliver_due(limit=1).delivered == 1  # the message
    assert len(env.deliverer._claim(10)) == 1  # replica 1 uploads the chart, then dies
    digest, chart = env.outbox()
    file = chart.payload["file"]
    env.poster.upload(
        "C1",
        thread_ts=digest.message_ts,
        filename=file["filename"],
        title=file["title"],
        alt_text=file["alt_text"],
        content=base64.b64decode(file["png"]),
    )
    env.clock.advance(env.deliverer.lease_seconds + 1)
    report = env.new_deliverer("replica-2").deliver_due()
    assert report.delivered == 1 and report.found_already_posted == 1
    assert len(fake_slack.uploaded_files()) == 1
    assert env.outbox()[1].status == "delivered"


def test_an_upload_refused_leaves_the_digest_and_a_note(env, fake_slack) -> None:
    a_digest_written(env)
    fake_slack.fail_next("files.getUploadURLExternal", "missing_scope")
    env.deliverer.deliver_due()
    messages = fake_slack.messages("C1")
    digest = next(m for m in messages if "Daily digest" in m.get("text", ""))
    (note,) = [m for m in messages if m.get("thread_ts") == digest["ts"] and m is not digest]
    assert "No chart with today's digest" in note["text"] and "missing_scope" in note["text"]
    assert fake_slack.uploaded_files() == []
    chart = env.outbox()[1]
    assert chart.status == "delivered" and chart.last_error == "missing_scope"


def test_a_digest_payload_carries_the_png_until_delivered(env) -> None:
    a_digest_written(env)
    with env.sessions() as session:
        chart = session.scalars(select(Outbox).where(Outbox.kind == "digest_chart")).one()
    assert base64.b64decode(chart.payload["file"]["png"]) == b"\x89PNG fake 1"


def test_a_digest_slack_refuses_says_why_with_its_setting(env, fake_slack) -> None:
    digests = a_digest_written(env)
    fake_slack.fail_next("chat.postMessage", "not_in_channel")
    env.deliverer.deliver_due()
    digest = env.outbox()[0]
    assert digest.status == "failed" and digest.last_error == "not_in_channel"
    shown = text_of(digests.command(ShowDigest(), Actor("U1", "C1")))
    assert "Slack refused the last digest (not_in_channel): invite the bot" in shown
    assert "Slack refused the last digest" in text_of(env.watches.list(Actor("U1", "C1")))
    # set again (the bot invited): the note goes; the next digest is delivered
    digests.command(SetDigest(9, 0, "UTC"), Actor("U1", "C1"))
    assert "refused" not in text_of(digests.command(ShowDigest(), Actor("U1", "C1")))
