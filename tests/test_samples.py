"""The samples table's reads (bot/store/samples.py) and the Unix seconds read from the
database (bot/store/db.py ``unix_seconds``), on SQLite and PostgreSQL: a chart's points
are the samples written, to the microsecond, whichever database holds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, select, text

from bot.store import session_factory
from bot.store.db import unix_seconds
from bot.store.models import SampleRow, Watch
from bot.store.samples import between

GROUP = "@TGS#live"

#: Times a poller may write: fractions of every size, whole seconds, a leap day, another
#: zone given (stored as UTC), the last microsecond of a second (must not round up).
TAKEN = [
    datetime(2026, 11, 30, 5, 17, 35, 123456, tzinfo=UTC),
    datetime(2026, 11, 30, 5, 18, 0, tzinfo=UTC),
    datetime(2026, 11, 30, 5, 19, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 30, 5, 20, 1, 1, tzinfo=UTC),
    datetime(2026, 11, 30, 14, 21, 2, 500000, tzinfo=timezone(timedelta(hours=9))),
    datetime(2028, 2, 29, 23, 59, 59, 654321, tzinfo=UTC),
]


def write(engine: Engine, rows: list[SampleRow]) -> None:
    with session_factory(engine).begin() as session:
        session.add_all(rows)


def test_the_checks_read_are_the_samples_written_to_the_microsecond(db_engine: Engine) -> None:
    write(
        db_engine,
        [
            SampleRow(
                group_id=GROUP,
                mark=None,
                taken_at=at,
                value=None if i == 2 else 100 + i,
                error="the check failed" if i == 2 else None,
            )
            for i, at in enumerate(reversed(TAKEN))  # written out of order
        ],
    )
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC)

    with session_factory(db_engine)() as session:
        checks = between(session, GROUP, None, start, end)
        as_datetimes = session.scalars(
            select(SampleRow.taken_at).where(SampleRow.group_id == GROUP)
        ).all()

    expected = sorted(at.timestamp() for at in TAKEN)
    assert [at for at, _ in checks] == expected  # exactly: no rounding on either database
    assert sorted(at.timestamp() for at in as_datetimes) == expected
    values = {at: value for at, value in checks}
    assert values[TAKEN[3].timestamp()] is None  # the failed check (written third)
    assert values[TAKEN[0].timestamp()] == 105


def test_only_the_target_and_the_span_both_ends_included(db_engine: Engine) -> None:
    t0 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    write(
        db_engine,
        [
            SampleRow(group_id=GROUP, mark=None, taken_at=t0 - timedelta(microseconds=1), value=1),
            SampleRow(group_id=GROUP, mark=None, taken_at=t0, value=2),
            SampleRow(group_id=GROUP, mark=1000, taken_at=t0 + timedelta(seconds=30), value=3),
            SampleRow(group_id="@TGS#other", mark=None, taken_at=t0, value=4),
            SampleRow(group_id=GROUP, mark=None, taken_at=t0 + timedelta(minutes=1), value=5),
            SampleRow(group_id=GROUP, mark=None, taken_at=t0 + timedelta(minutes=2), value=6),
        ],
    )
    end = t0 + timedelta(minutes=1)

    with session_factory(db_engine)() as session:
        unmarked = between(session, GROUP, None, t0, end)
        marked = between(session, GROUP, 1000, t0, end)
        other_mark = between(session, GROUP, 2000, t0, end)

    assert [tuple(row) for row in unmarked] == [(t0.timestamp(), 2), (end.timestamp(), 5)]
    assert [tuple(row) for row in marked] == [(t0.timestamp() + 30, 3)]
    assert list(other_mark) == []


def test_unix_seconds_of_a_time_a_server_default_wrote(db_engine: Engine) -> None:
    """A row written without the ORM gets its time from the database (SQLite: text
    without a fraction); read as Unix seconds it equals the datetime read by the ORM."""
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO watches (channel_id, group_id, rule_kind, created_by) "
                "VALUES ('C1', 'g', 'above', 'U1')"
            )
        )
    with session_factory(db_engine)() as session:
        created = session.scalars(select(Watch.created_at)).one()
        seconds = session.scalars(select(unix_seconds(Watch.created_at))).one()

    assert isinstance(seconds, float)
    assert seconds == created.timestamp()
