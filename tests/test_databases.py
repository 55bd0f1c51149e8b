"""The test databases themselves (support/databases.py): the PostgreSQL database at head
that one test process reuses must come to each test as a new copy of the template would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from support.databases import MigratedTemplates

from bot.store.models import SampleRow


def _sample(url: str) -> int:
    """Insert one sample; its id."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            row = SampleRow(group_id="@TGS#g", mark=None, taken_at=datetime.now(UTC), value=1)
            session.add(row)
            session.flush()
            return row.id
    finally:
        engine.dispose()


def _count(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(SampleRow)).scalar_one()
    finally:
        engine.dispose()


def test_the_reused_database_comes_back_empty_with_its_sequences_restarted(
    migrated_templates: MigratedTemplates,
) -> None:
    url = migrated_templates.postgres()
    assert (_sample(url), _sample(url)) == (1, 2)
    left_open = create_engine(url, poolclass=NullPool).connect()  # a test that forgot one
    left_open.execute(text("SELECT 1"))

    again = migrated_templates.postgres()
    assert again == url  # the same database, emptied
    assert _count(again) == 0
    assert _sample(again) == 1
    with pytest.raises(OperationalError):  # ended, as dropping the database ended them
        left_open.execute(text("SELECT 1"))
    left_open.close()


def test_a_changed_schema_or_revision_gets_a_new_copy(
    migrated_templates: MigratedTemplates,
) -> None:
    for change in (
        "DROP INDEX ix_samples_taken_at",
        "UPDATE alembic_version SET version_num = 'x'",
    ):
        url = migrated_templates.postgres()
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                connection.execute(text(change))
        finally:
            engine.dispose()
        again = migrated_templates.postgres()
        assert again != url  # copied anew
        engine = create_engine(again, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                indexes = connection.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'samples'")
                ).scalars()
                assert "ix_samples_taken_at" in set(indexes)
                revision = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert revision.scalar_one() != "x"
        finally:
            engine.dispose()
