"""Alert charts (bot/alerts/chart_delivery.py) delivered to the fake Slack Web API over
loopback, from a real store (SQLite and PostgreSQL): each alert's chart uploaded once into
its thread after the alert, the resolve's spanning the incident, refusals recorded and not
retried for long, and no message ever waiting for a chart."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from support.alerting import GROUP, posts

from bot.alerts.alert_charts import ChartRequest, draw_alert_chart
from bot.alerts.chart_delivery import LEASE_EXTRA, MAX_CHART_ATTEMPTS
from bot.alerts.mapping import to_dt
from bot.render.charts import Span, Threshold
from bot.store import SampleRow, Watch
from bot.store.leases import LeasePolicy
from bot.watches import Actor

PNG = b"\x89PNG\r\n\x1a\n"
OTHER = "@TGS#other"


def fire(env, sim, checks_before=3):
    """A watch below 100 on GROUP in C1, a few checks of 500, then 10: it fires."""
    env.watch(f"watch {GROUP} below 100")
    for _ in range(checks_before):
        env.cycle()
    sim.set_audience(GROUP, 10)
    env.poller.run_cycle()


def request_of(row):
    return ChartRequest.of_payload(row.id, row.watch_id, row.channel_id, row.payload)


def test_the_alert_goes_first_then_its_chart_into_its_thread(env, sim, fake_slack):
    fire(env, sim)
    (alert_row,) = env.outbox()
    (chart_row,) = env.charts()
    assert (chart_row.parent_id, chart_row.status) == (alert_row.id, "pending")

    assert env.charts_deliverer.deliver_due().uploaded == 0  # its alert is not posted yet
    assert fake_slack.calls("files.getUploadURLExternal") == []
    assert env.deliverer.deliver_due().delivered == 1  # the text deliverer draws no chart
    assert fake_slack.calls("files.getUploadURLExternal") == []
    env.clock.advance(2)  # the chart job's next tick
    report = env.charts_deliverer.deliver_due()
    assert (report.uploaded, report.found_already_uploaded) == (1, 0)

    (alert,) = posts(fake_slack)
    (ask,) = fake_slack.calls("files.getUploadURLExternal")
    (complete,) = fake_slack.calls("files.completeUploadExternal")
    (posted,) = fake_slack.calls("chat.postMessage")
    assert posted.time < ask.time < complete.time  # the alert, then the upload
    (alert_message, shared) = fake_slack.messages("C1")
    assert complete.params["channel_id"] == "C1"
    assert complete.params["thread_ts"] == alert_message["ts"] == shared["thread_ts"]
    assert alert_message["text"] == alert["text"]
    (uploaded,) = fake_slack.uploaded_files()
    assert uploaded.content.startswith(PNG)
    assert uploaded.title.startswith("Alert of watch #1: audience of Evening <Stream>")
    assert uploaded.filename == f"alert-chart-{chart_row.id}-TGS-live.png"
    alt = ask.params["alt_txt"]
    assert "online count of Evening <Stream> (@TGS#live)" in alt and "UTC" in alt
    assert "lines at #1 below 100" in alt and "1 alert period shaded" in alt

    (chart_row,) = env.charts()
    assert chart_row.status == "delivered" and chart_row.message_ts == uploaded.file_id
    assert chart_row.attempts == 1 and chart_row.last_error is None
    assert env.charts_deliverer.deliver_due().uploaded == 0  # once
    assert len(fake_slack.uploaded_files()) == 1


def test_the_alert_chart_is_the_last_hour_with_its_line_and_firing_shaded(env, sim):
    # 70 minutes of checks of 500, the chart shows the last 60: the first 67 stored as the
    # poller stores them (a sample a minute: 67 cycles of it would only repeat these rows),
    # then 3 made by it, and the drop
    with env.sessions.begin() as session:
        session.add_all(
            SampleRow(group_id=GROUP, taken_at=to_dt(env.clock.now + 60 * i), value=500)
            for i in range(67)
        )
    env.clock.advance(67 * 60)
    fire(env, sim, checks_before=3)
    env.deliverer.deliver_due()
    fired_at = env.clock.now
    (row,) = env.charts()
    chart = draw_alert_chart(env.reader, env.draw, request_of(row), fired_at + 2)
    assert (chart.start, chart.end) == (fired_at + 2 - 3600, fired_at + 2)
    assert chart.view.points[-1] == (pytest.approx(fired_at), 10)
    assert all(chart.start - 1e-3 <= p.at <= chart.end for p in chart.view.points)
    assert len(chart.view.points) in (60, 61)
    assert chart.view.thresholds == (Threshold("#1 below 100", 100, "below"),)
    (span,) = chart.view.spans
    assert span.end is None and span.start == pytest.approx(fired_at)  # to the end
    late = draw_alert_chart(env.reader, env.draw, request_of(row), fired_at + 3600)  # retried late
    assert late.end == fired_at + 300  # still the alert's hour


def test_the_resolve_carries_the_chart_of_the_whole_incident(env, sim, fake_slack):
    env.watch("watch @TGS#live below 100", channel="C1")
    env.watch("watch @TGS#live above 10000", channel="C1")  # another watch: not drawn
    env.cycle()
    sim.set_audience(GROUP, 10)
    fired_at = env.clock.now
    for _ in range(30):  # fires, then 30 minutes below
        env.cycle()
        env.charts_deliverer.deliver_due()
    sim.set_audience(GROUP, 400)
    resolved_at = env.clock.now
    env.cycle()
    report = env.charts_deliverer.deliver_due()
    assert report.uploaded == 1

    _, resolve = posts(fake_slack)
    firing_chart, incident_chart = fake_slack.uploaded_files()
    thread = fake_slack.messages("C1")[0]["ts"]
    assert resolve["thread_ts"] == thread
    assert firing_chart.thread_ts == incident_chart.thread_ts == thread  # all in the thread
    assert incident_chart.filename.startswith("incident-chart-")
    assert incident_chart.title.startswith("Incident of watch #1: audience of Evening <Stream>")
    assert "fired 30m from" in incident_chart.title
    complete = fake_slack.calls("files.completeUploadExternal")[1]
    assert complete.time > fake_slack.calls("chat.postMessage")[1].time  # after the resolve

    row = env.charts()[1]
    chart = draw_alert_chart(env.reader, env.draw, request_of(row), resolved_at + 2)
    assert chart.start == pytest.approx(fired_at - 300)  # a little margin before
    assert chart.end == pytest.approx(resolved_at + 2)
    (span,) = chart.view.spans
    assert span == Span(pytest.approx(fired_at), pytest.approx(resolved_at))
    assert [t.label for t in chart.view.thresholds] == ["#1 below 100"]
    assert [p.value for p in chart.view.points][-1] == 400


def test_a_crash_between_the_upload_and_its_record_uploads_once(env, sim, fake_slack):
    fire(env, sim)
    env.deliverer.deliver_due()
    # Replica 1 claims the chart, draws and uploads it, then dies before recording it.
    (row_id,) = env.charts_deliverer._claim(10)
    (row,) = env.charts()
    chart = draw_alert_chart(env.reader, env.draw, request_of(row), env.clock.now)
    thread = fake_slack.messages("C1")[0]["ts"]
    env.poster.upload(
        "C1",
        thread_ts=thread,
        filename=chart.filename,
        title=chart.title,
        alt_text=chart.alt_text,
        content=chart.content,
    )
    assert env.new_chart_deliverer("replica-2").deliver_due().uploaded == 0  # still leased
    env.clock.advance(LeasePolicy().outbox + LEASE_EXTRA + 1)  # its lease runs out

    report = env.new_chart_deliverer("replica-2").deliver_due()

    assert (report.uploaded, report.found_already_uploaded) == (1, 1)
    (uploaded,) = fake_slack.uploaded_files()
    assert len(fake_slack.calls("files.getUploadURLExternal")) == 1
    (lookup,) = fake_slack.calls("conversations.replies")
    assert lookup.params["ts"] == thread
    (row,) = env.charts()
    assert (row.id, row.status, row.message_ts, row.attempts) == (
        row_id,
        "delivered",
        uploaded.file_id,
        2,
    )


def test_a_failed_lookup_after_a_crash_never_uploads_blindly(env, sim, fake_slack):
    fire(env, sim)
    env.deliverer.deliver_due()
    fake_slack.fail_next("files.completeUploadExternal", status=500)
    assert env.charts_deliverer.deliver_due().retried == 1
    env.clock.advance(5)
    fake_slack.fail_next("conversations.replies", "missing_scope")  # was it shared? unknown
    report = env.charts_deliverer.deliver_due()
    assert (report.retried, report.uploaded) == (1, 0)
    (row,) = env.charts()
    assert row.status == "pending" and "missing_scope" in row.last_error
    assert len(fake_slack.calls("files.getUploadURLExternal")) == 1
    env.clock.advance(10)
    assert env.charts_deliverer.deliver_due().uploaded == 1
    assert len(fake_slack.uploaded_files()) == 1


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("files.getUploadURLExternal", "missing_scope"),  # an app without files:write
        ("files.getUploadURLExternal", "file_too_large"),
        ("files.completeUploadExternal", "not_in_channel"),
    ],
)
def test_an_upload_refused_is_recorded_and_never_retried(env, sim, fake_slack, method, error):
    fire(env, sim)
    env.deliverer.deliver_due()
    fake_slack.fail_next(method, error)
    report = env.charts_deliverer.deliver_due()
    assert (report.failed, report.retried, report.uploaded) == (1, 0, 0)
    (row,) = env.charts()
    assert (row.status, row.last_error, row.attempts) == ("failed", error, 1)
    calls = len(fake_slack.calls())
    for _ in range(3):
        env.clock.advance(3600)
        assert env.charts_deliverer.deliver_due().uploaded == 0
    assert len(fake_slack.calls()) == calls  # never tried again
    with env.sessions() as session:
        assert session.scalars(select(Watch)).one().paused_reason is None  # not paused
    (alert,) = env.outbox()
    assert alert.status == "delivered"
    assert fake_slack.calls("chat.update") == []  # the alert is left as it is
    env.cycle()  # and the watch goes on: still firing, checked
    assert env.poller.run_cycle().watches == 1


def test_slack_trouble_is_retried_with_backoff_then_given_up(env, sim, fake_slack):
    fire(env, sim)
    env.deliverer.deliver_due()
    fake_slack.fail_next("files.getUploadURLExternal", status=500, times=MAX_CHART_ATTEMPTS + 5)
    waits = []
    for attempt in range(1, MAX_CHART_ATTEMPTS + 1):
        report = env.charts_deliverer.deliver_due()
        (row,) = env.charts()
        assert row.attempts == attempt
        if attempt < MAX_CHART_ATTEMPTS:
            assert report.retried == 1 and row.status == "pending"
            waits.append(row.next_attempt_at.timestamp() - env.clock.now)
            assert env.charts_deliverer.deliver_due().retried == 0  # not before its time
            env.clock.advance(waits[-1])
        else:
            assert report.failed == 1 and row.status == "failed"
    assert waits == pytest.approx([2, 4, 8], abs=0.01)
    env.clock.advance(3600)
    env.charts_deliverer.deliver_due()
    assert len(fake_slack.calls("files.getUploadURLExternal")) == MAX_CHART_ATTEMPTS


def test_an_alert_that_failed_for_good_takes_its_chart_with_it(env, sim, fake_slack):
    fire(env, sim)
    fake_slack.fail_next("chat.postMessage", "channel_not_found")
    assert env.deliverer.deliver_due().failed == 1
    report = env.charts_deliverer.deliver_due()
    assert report.failed == 1
    (row,) = env.charts()
    assert (row.status, row.last_error) == ("failed", "its alert was not posted")
    assert fake_slack.calls("files.getUploadURLExternal") == []


def test_a_muted_watch_sends_no_chart(env, sim, fake_slack):
    env.watch(f"watch {GROUP} below 100")
    env.watches.mute(1, 3600, "maintenance", Actor("U1", "C1"))
    sim.set_audience(GROUP, 10)
    env.cycle()
    env.charts_deliverer.deliver_due()
    assert env.outbox() == [] and env.charts() == []
    assert fake_slack.calls("files.getUploadURLExternal") == []


def test_a_chart_being_uploaded_delays_no_other_alert(env, sim, fake_slack):
    sim.add_group(OTHER, "Other room", "AVChatRoom")
    sim.set_audience(OTHER, 500)
    env.watch(f"watch {OTHER} below 100", channel="C2")
    fire(env, sim)
    env.deliverer.deliver_due()
    fake_slack.hold("files.completeUploadExternal")
    uploading = threading.Thread(target=env.charts_deliverer.deliver_due)
    uploading.start()
    try:
        fake_slack.wait_for_held("files.completeUploadExternal", timeout=30)
        # While C1's chart is drawn and uploaded, C2's audience drops: its alert goes out.
        sim.set_audience(OTHER, 5)
        env.clock.advance(60)
        env.poller.run_cycle()
        assert env.deliverer.deliver_due().delivered == 1
        (other,) = fake_slack.messages("C2")
        assert "Other room" in other["text"]
        assert fake_slack.uploaded_files()[0].channel_id == "C1"  # shared, answer held
    finally:
        fake_slack.release()
        uploading.join(timeout=30)
    assert not uploading.is_alive()
    assert [c.status for c in env.charts()] == ["delivered", "pending"]  # C2's, not yet
    assert env.charts_deliverer.deliver_due().uploaded == 1
    assert [f.channel_id for f in fake_slack.uploaded_files()] == ["C1", "C2"]


def test_a_chart_whose_lease_ran_out_while_it_was_drawn_is_not_uploaded(env, sim, fake_slack):
    fire(env, sim)
    env.deliverer.deliver_due()
    slow = env.new_chart_deliverer("replica-1", lease_seconds=10)
    clock = env.clock

    class SlowReader:  # the store is read, then drawing takes longer than the lease
        def read_window(self, *args, **kwargs):
            view = env.reader.read_window(*args, **kwargs)
            clock.advance(11)
            return view

    slow.reader = SlowReader()
    report = slow.deliver_due()
    assert (report.uploaded, report.failed, report.retried) == (0, 0, 0)
    assert fake_slack.calls("files.getUploadURLExternal") == []  # left to another replica
    report = env.new_chart_deliverer("replica-2").deliver_due()
    assert report.uploaded == 1 and len(fake_slack.uploaded_files()) == 1
