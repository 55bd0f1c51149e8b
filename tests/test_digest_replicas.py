"""A daily digest across two ``online-bot run`` replicas on one PostgreSQL database: both
start with the digest due, race for it, and the channel gets it once (one message, one
chart in its thread), whichever replica wrote and posted it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support.databases import MigratedTemplates, fresh_postgres_database
from support.fakeslack import FakeSlack
from support.replicas import start_replicas, stop_replicas
from support.waiting import wait_until

from bot.alerts import targets
from bot.alerts.mapping import to_dt
from bot.digest.service import digest_key
from bot.simulator import Scenario, Simulator
from bot.store import Outbox, make_engine, session_factory
from bot.store.models import AlertStateRow, DigestRow, SampleRow, Watch

GROUP = "@TGS#digest-live"
CHANNEL = "CDIGEST"
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def postgres_url(migrated_templates: MigratedTemplates) -> Iterator[str]:
    yield from fresh_postgres_database(migrated_templates.postgres_template())


@pytest.fixture
def sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(postgres_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()  # also when the test fails: no connection left to the collector


def test_two_replicas_send_a_due_digest_once(
    postgres_url: str, sessions: sessionmaker[Session], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    now = time.time()
    with sessions.begin() as session:
        watch = Watch(
            channel_id=CHANNEL,
            group_id=GROUP,
            rule_kind="below",
            threshold=10,
            created_by="U1",
            created_at=to_dt(now - 7200),
        )
        session.add(watch)
        session.flush()
        session.add(AlertStateRow(watch_id=watch.id, last_value=300))
        targets.reconsider(session, GROUP, None, now=now)
        for i, value in enumerate((100, 400, 300)):
            session.add(
                SampleRow(group_id=GROUP, taken_at=to_dt(now - 3600 + i * 600), value=value)
            )
        # due a minute ago: both replicas find it due as they start
        session.add(
            DigestRow(
                channel_id=CHANNEL,
                hour=time.gmtime(now - 60).tm_hour,
                minute=time.gmtime(now - 60).tm_min,
                zone="UTC",
                created_by="U1",
                next_due_at=to_dt(now - 60),
            )
        )
    scenario = Scenario(cache_seconds=0)
    with Simulator(scenario).start() as sim:
        sim.add_group(GROUP, "Digest room", "AVChatRoom")
        sim.set_audience(GROUP, 300)
        replicas = start_replicas(
            tmp_path,
            2,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET="x",
            SLACK_API_URL=fake_slack.api_url,
            DATABASE_URL=postgres_url,
            REDIS_URL=REDIS_URL,
            TENCENT_IM_BASE_URL=sim.url,
            TENCENT_IM_SDKAPPID=str(scenario.sdkappid),
            TENCENT_IM_SECRET_KEY=scenario.secret_key,
            POLL_INTERVAL="1",
            LEASE_SECONDS="4",
        )
        try:

            def delivered() -> list[Outbox]:
                with sessions() as session:
                    rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
                return rows if rows and all(r.status == "delivered" for r in rows) else []

            rows = wait_until(delivered, timeout=30, what="the digest and its chart delivered")
            # both replicas go on: each polls twice more (their digest jobs ran at start)
            for replica in replicas:
                wait_until(
                    lambda r=replica: r.stderr().count("poll cycle:") >= 3,
                    timeout=20,
                    what=f"{replica.name} polling",
                )
        finally:
            stop_replicas(replicas)
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 60))
    key = digest_key(CHANNEL, date.fromisoformat(day))
    assert [(r.kind, r.dedup_key) for r in rows] == [
        ("digest", key),
        ("digest_chart", f"{key}:chart"),
    ]
    posted = [m for m in fake_slack.messages(CHANNEL) if "Daily digest" in m.get("text", "")]
    assert len(posted) == 1
    (chart,) = fake_slack.uploaded_files()
    assert chart.thread_ts == posted[0]["ts"] and chart.content.startswith(b"\x89PNG")
    writers = [r.name for r in replicas if f"digest of {CHANNEL}: due" in r.stderr()]
    assert len(writers) == 1, writers
    with sessions() as session:
        row = session.scalars(select(DigestRow)).one()
        assert row.last_sent_for.isoformat() == day
        assert row.next_due_at.timestamp() > now
