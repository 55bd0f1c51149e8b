"""The store on SQLite and PostgreSQL: migrations agree with the models, and round trips."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, inspect, make_url, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from support.databases import DEFAULT_TEST_POSTGRES_URL, fresh_postgres_database

from bot.store import (
    AlertStateRow,
    Outbox,
    SampleRow,
    Watch,
    WatchChange,
    check,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    safe_url,
    session_factory,
    upgrade,
)
from bot.store.cli import db as db_cli
from bot.store.db import (
    HEAD_REVISION,
    DatabaseInUse,
    DatabaseUnusable,
    alembic_config,
    single_process,
)

REPO = Path(__file__).resolve().parents[1]
TABLES = {"watches", "alert_states", "samples", "outbox", "watch_changes", "targets", "digests"}
#: The newest migration: bump it with each new revision (a conscious change).
HEAD = "0005"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _watch(**overrides: object) -> Watch:
    fields: dict[str, object] = {
        "channel_id": "C0123456",
        "group_id": "@TGS#live",
        "mark": 1000,
        "rule_kind": "below",
        "threshold": 10,
        "recover": 12,
        "created_by": "U0123456",
        "created_at": T0,
    }
    fields.update(overrides)
    return Watch(**fields)


def _outbox(watch_id: int | None, key: str, **overrides: object) -> Outbox:
    fields: dict[str, object] = {
        "watch_id": watch_id,
        "incident_id": "6f1c7c9e-0000-4000-8000-000000000001",
        "kind": "firing",
        "dedup_key": key,
        "channel_id": "C0123456",
        "payload": {"text": "hello"},
        "next_attempt_at": T0,
        "created_at": T0,
    }
    fields.update(overrides)
    return Outbox(**fields)


# --- migrations ----------------------------------------------------------------------


def test_upgrade_from_empty_then_models_and_database_agree(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision() == HEAD_REVISION == HEAD
    assert _tables(database_url) == TABLES
    assert check(database_url) == []


def test_a_database_at_head_is_not_migrated_and_alembic_not_loaded(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    code = (
        "import sys\nfrom bot.store.db import upgrade\n"
        f"upgrade({url!r})\nprint('alembic' in sys.modules)"
    )

    def upgrade_in_a_new_process() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout.strip()

    assert upgrade_in_a_new_process() == "True"  # empty: migrated, by Alembic
    assert current_revision(url) == HEAD
    assert upgrade_in_a_new_process() == "False"  # at head: left as it is


def test_downgrade_to_base_drops_everything_and_upgrade_works_again(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # already at head: nothing to do
    downgrade(database_url, "base")
    assert _tables(database_url) == set()
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert _tables(database_url) == TABLES
    assert check(database_url) == []


def test_check_reports_a_database_that_drifted_from_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE watches ADD COLUMN extra INTEGER")
            connection.exec_driver_sql("DROP INDEX ix_samples_taken_at")
    finally:
        engine.dispose()
    kinds = {diff[0] for diff in check(database_url)}
    assert {"remove_column", "add_index"} <= kinds


def _alembic(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alembic_cli_at_repo_root_migrates_database_url(database_url: str, tmp_path: Path) -> None:
    done = _alembic(["upgrade", "head"], {"DATABASE_URL": database_url, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "Running upgrade  -> 0001" in done.stderr
    assert "Running upgrade 0001 -> 0002" in done.stderr
    assert "Running upgrade 0002 -> 0003" in done.stderr
    assert "Running upgrade 0003 -> 0004" in done.stderr
    assert f"Running upgrade 0004 -> {HEAD}" in done.stderr
    assert current_revision(database_url) == HEAD
    assert check(database_url) == []


def test_alembic_cli_without_database_url_uses_the_default_sqlite_file(tmp_path: Path) -> None:
    data = tmp_path / "xdg"
    env = {"DATABASE_URL": "", "XDG_DATA_HOME": str(data), "HOME": str(tmp_path)}
    done = _alembic(["upgrade", "head"], env)
    assert done.returncode == 0, done.stderr
    default = data / "online-bot" / "online-bot.db"
    assert default.is_file()
    assert current_revision(f"sqlite:///{default}") == HEAD


def test_alembic_cli_takes_a_url_from_x_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x' / 'other.db'}"
    done = _alembic(["-x", f"url={url}", "upgrade", "head"], {"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert current_revision(url) == HEAD


def test_urls_are_shown_without_password() -> None:
    url = "postgresql+psycopg://bot:p%40ss%25word@db.example:5432/online"
    assert safe_url(url) == "postgresql+psycopg://bot:***@db.example:5432/online"
    config = alembic_config(url)
    assert config.attributes["url"] == url
    assert config.get_main_option("sqlalchemy.url") == url  # the % survive configparser


# --- the db command ------------------------------------------------------------------


def test_db_command_upgrades_reports_and_downgrades(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()

    result = runner.invoke(db_cli, ["current"])
    assert result.exit_code == 0, result.output
    assert "empty" in result.output

    result = runner.invoke(db_cli, ["upgrade"])
    assert result.exit_code == 0, result.output
    assert f"is at {HEAD} (head)" in result.output

    result = runner.invoke(db_cli, ["downgrade", "nonesuch"])
    assert result.exit_code == 2
    assert "cannot downgrade" in result.output

    result = runner.invoke(db_cli, ["downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert "empty" in result.output
    assert _tables(database_url) == set()


def test_db_command_with_bad_settings_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    result = CliRunner().invoke(db_cli, ["upgrade"])
    assert result.exit_code == 2
    assert "DATABASE_URL is not valid" in result.output


def test_db_command_when_the_database_is_unreachable_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Port 1 on loopback: refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://bot:sekrit@127.0.0.1:1/online")
    result = CliRunner().invoke(db_cli, ["current"])
    assert result.exit_code == 2
    assert (
        "Configuration error: Cannot open the database at DATABASE_URL "
        "postgresql+psycopg://bot:***@127.0.0.1:1/online (" in result.output
    )
    assert "sekrit" not in result.output


def _unusable(kind: str, tmp_path: Path) -> str:
    if kind == "postgresql-refused":  # port 1 on loopback: refused at once
        return "postgresql+psycopg://bot:sekrit@127.0.0.1:1/online"
    if kind == "postgresql-no-database":
        base = make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL)
        missing = base.set(password="sekrit", database="online_bot_no_such_database")
        return missing.render_as_string(hide_password=False)
    (tmp_path / "a-file").write_text("not a directory", encoding="utf-8")
    return {
        "sqlite-under-a-file": f"sqlite:///{tmp_path / 'a-file' / 'bot.db'}",
        "sqlite-a-directory": f"sqlite:///{tmp_path}",
        "sqlite-not-creatable": "sqlite:////proc/online-bot/bot.db",
    }[kind]


UNUSABLE = [
    "postgresql-refused",
    "postgresql-no-database",
    "sqlite-under-a-file",
    "sqlite-a-directory",
    "sqlite-not-creatable",
]


def _assert_says_why_and_what_to_do(error: DatabaseUnusable, url: str) -> None:
    message = str(error)
    assert message.startswith(f"Cannot open the database at DATABASE_URL {safe_url(url)} (")
    assert "sekrit" not in message and "\n" not in message
    fix = "createdb" if url.startswith("postgresql") else "directory this user may create"
    assert fix in message


@pytest.mark.parametrize("kind", UNUSABLE)
@pytest.mark.parametrize(
    "use",
    [upgrade, current_revision, check, lambda url: downgrade(url, "base")],
    ids=["upgrade", "current_revision", "check", "downgrade"],
)
def test_a_database_that_cannot_be_opened_says_why_and_what_to_do(
    kind: str, use: Callable[[str], object], tmp_path: Path
) -> None:
    url = _unusable(kind, tmp_path)
    with pytest.raises(DatabaseUnusable) as caught:
        use(url)
    _assert_says_why_and_what_to_do(caught.value, url)


@pytest.mark.parametrize("kind", ["sqlite-under-a-file", "sqlite-not-creatable"])
def test_holding_a_sqlite_file_that_cannot_be_created(kind: str, tmp_path: Path) -> None:
    url = _unusable(kind, tmp_path)
    with pytest.raises(DatabaseUnusable) as caught, single_process(url):
        pass
    _assert_says_why_and_what_to_do(caught.value, url)


# --- ORM round trips -----------------------------------------------------------------


def test_watch_state_samples_and_outbox_round_trip(db_engine: Engine) -> None:
    factory = session_factory(db_engine)
    with factory() as session, session.begin():
        watch = _watch()
        watch.state = AlertStateRow(since=T0)
        watch.changes.append(WatchChange(actor="U0123456", at=T0, action="created"))
        session.add(watch)
        session.add_all(
            [
                SampleRow(group_id="@TGS#live", mark=1000, taken_at=T0, value=42),
                SampleRow(group_id="@TGS#live", mark=None, taken_at=T0, error="timeout"),
            ]
        )
        session.flush()
        session.add(_outbox(watch.id, "w1:firing:1"))
        watch_id = watch.id

    with factory() as session:
        watch = session.get_one(Watch, watch_id)
        assert (watch.group_id, watch.mark, watch.rule_kind) == ("@TGS#live", 1000, "below")
        assert watch.for_seconds == 0
        assert watch.created_at == T0
        assert watch.deleted_at is None
        state = watch.state
        assert state is not None
        assert state.status == "ok"
        assert state.errors_in_row == 0
        assert state.muted_notice_due is False
        assert state.version == 1  # the ORM's version counter: 1 after the insert
        assert [c.action for c in watch.changes] == ["created"]
        assert watch.changes[0].detail == ""
        values = session.scalars(
            select(SampleRow.value).where(SampleRow.group_id == "@TGS#live").order_by(SampleRow.id)
        ).all()
        assert values == [42, None]
        outbox = session.scalars(select(Outbox)).one()
        assert (outbox.watch_id, outbox.status, outbox.attempts) == (watch_id, "pending", 0)
        assert outbox.parent_id is None
        assert isinstance(outbox.id, int)


def test_server_defaults_fill_rows_written_without_the_orm(db_engine: Engine) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO watches (channel_id, group_id, rule_kind, created_by) "
                "VALUES ('C1', 'g', 'above', 'U1')"
            )
        )
        watch_id = connection.execute(text("SELECT id FROM watches")).scalar_one()
        connection.execute(text(f"INSERT INTO alert_states (watch_id) VALUES ({watch_id})"))
        connection.execute(
            text(
                "INSERT INTO outbox (incident_id, kind, dedup_key, channel_id, payload) "
                """VALUES ('i', 'notice', 'k', 'C1', '{"text": "x"}')"""
            )
        )
    with session_factory(db_engine)() as session:
        watch = session.get_one(Watch, watch_id)
        assert watch.for_seconds == 0
        assert watch.created_at.tzinfo is UTC
        assert before <= watch.created_at <= datetime.now(UTC) + timedelta(seconds=5)
        state = session.get_one(AlertStateRow, watch_id)
        assert (state.status, state.version, state.muted_notice_due) == ("ok", 0, False)
        outbox = session.scalars(select(Outbox)).one()
        assert (outbox.status, outbox.attempts, outbox.payload) == ("pending", 0, {"text": "x"})
        assert outbox.next_attempt_at.tzinfo is UTC


def test_the_same_dedup_key_cannot_be_enqueued_twice(db_session: Session) -> None:
    db_session.add(_outbox(None, "w1:firing:abc"))
    db_session.commit()
    db_session.add(_outbox(None, "w1:firing:abc", kind="repeat"))
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()
    assert db_session.scalars(select(Outbox.kind)).all() == ["firing"]


def test_deleting_a_watch_cascades_to_state_and_changes_and_unlinks_outbox(
    db_engine: Engine,
) -> None:
    factory = session_factory(db_engine)
    with factory() as session, session.begin():
        watch, other = _watch(), _watch(group_id="other")
        watch.state = AlertStateRow()
        other.state = AlertStateRow()
        watch.changes.append(WatchChange(actor="U1", action="created"))
        session.add_all([watch, other])
        session.flush()
        session.add(_outbox(watch.id, "k1"))
        watch_id, other_id = watch.id, other.id

    with db_engine.begin() as connection:  # the database's own rules, not the ORM's
        connection.execute(delete(Watch).where(Watch.id == watch_id))

    with factory() as session:
        assert session.scalars(select(AlertStateRow.watch_id)).all() == [other_id]
        assert session.scalars(select(WatchChange)).all() == []
        outbox = session.scalars(select(Outbox)).one()
        assert outbox.watch_id is None
        assert outbox.dedup_key == "k1"


def test_orm_delete_of_a_watch_relies_on_the_database_cascade(db_session: Session) -> None:
    watch = _watch()
    watch.state = AlertStateRow()
    watch.changes.append(WatchChange(actor="U1", action="created"))
    db_session.add(watch)
    db_session.commit()
    db_session.delete(watch)
    db_session.commit()
    assert db_session.scalars(select(AlertStateRow)).all() == []
    assert db_session.scalars(select(WatchChange)).all() == []


def test_deleting_a_parent_message_unlinks_its_replies(db_session: Session) -> None:
    firing = _outbox(None, "k-firing")
    db_session.add(firing)
    db_session.flush()
    db_session.add(_outbox(None, "k-resolved", kind="resolved", parent_id=firing.id))
    db_session.commit()
    db_session.execute(delete(Outbox).where(Outbox.id == firing.id))
    db_session.commit()
    reply = db_session.scalars(select(Outbox).execution_options(populate_existing=True)).one()
    assert reply.kind == "resolved"
    assert reply.parent_id is None


def test_json_payload_round_trips_unicode_and_nesting(db_engine: Engine) -> None:
    payload = {
        "text": "在线人数 ↓ 低于 10 — Zoë's 🎥 room",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*42* 人在线"}},
            {"type": "context", "elements": [[1, 2, [3, None]], ["ü", True, 1.5]]},
        ],
        "metadata": {"event_type": "alert_firing", "event_payload": {"watch": 7}},
    }
    factory = session_factory(db_engine)
    with factory() as session, session.begin():
        session.add(_outbox(None, "json", payload=payload))
    with factory() as session:
        assert session.scalars(select(Outbox.payload)).one() == payload


def test_timestamps_are_stored_in_utc_and_come_back_aware(db_engine: Engine) -> None:
    beijing = timezone(timedelta(hours=8))
    local = datetime(2025, 3, 1, 20, 30, 15, 123456, tzinfo=beijing)
    factory = session_factory(db_engine)
    with factory() as session, session.begin():
        session.add(_watch(created_at=local, muted_until=local + timedelta(hours=1)))
        session.add_all(
            [
                SampleRow(group_id="g", taken_at=T0 + timedelta(minutes=minute), value=minute)
                for minute in range(5)
            ]
        )
    with factory() as session:
        watch = session.scalars(select(Watch)).one()
        assert watch.created_at == local
        assert watch.created_at.tzinfo is UTC
        assert watch.created_at.hour == 12
        assert watch.created_at.microsecond == 123456
        assert watch.muted_until == datetime(2025, 3, 1, 13, 30, 15, 123456, tzinfo=UTC)
        # Comparisons use the instant, whatever zone the bound value carries.
        cutoff = (T0 + timedelta(minutes=2)).astimezone(beijing)
        recent = session.scalars(
            select(SampleRow.value).where(SampleRow.taken_at >= cutoff).order_by(SampleRow.taken_at)
        ).all()
        assert recent == [2, 3, 4]
        assert all(t.tzinfo is UTC for t in session.scalars(select(SampleRow.taken_at)).all())


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    db_session.add(_watch(created_at=datetime(2025, 3, 1, 12, 0)))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()
    db_session.rollback()


def test_concurrent_updates_of_an_alert_state_are_detected(db_engine: Engine) -> None:
    factory = session_factory(db_engine)
    with factory() as session, session.begin():
        watch = _watch()
        watch.state = AlertStateRow()
        session.add(watch)
    with factory() as first, factory() as second:
        mine = first.get_one(AlertStateRow, watch.id)
        theirs = second.get_one(AlertStateRow, watch.id)
        mine.status = "firing"
        first.commit()
        theirs.status = "pending"
        with pytest.raises(StaleDataError):
            second.commit()
        second.rollback()
    with factory() as session:
        state = session.get_one(AlertStateRow, watch.id)
        assert (state.status, state.version) == ("firing", 2)


# --- SQLite specifics ----------------------------------------------------------------


def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "online-bot.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar_one() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar_one() == 1
            assert pragma("PRAGMA busy_timeout").scalar_one() == 5000
        assert path.parent.is_dir()
        assert path.is_file()
    finally:
        engine.dispose()


def test_sqlite_in_memory_engine_needs_no_directory() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom bot.store.db import single_process\n"
            f"with single_process({url!r}):\n    print('held', flush=True)\n    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(DatabaseInUse, match="already in use by process") as refused,
            single_process(url),
        ):
            pass
        assert "PostgreSQL" in str(refused.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    with single_process(url):  # free again once the other process has ended
        pass


def test_postgresql_is_never_held_for_one_process() -> None:
    with (
        single_process("postgresql+psycopg://postgres@127.0.0.1:5432/x"),
        single_process("postgresql+psycopg://postgres@127.0.0.1:5432/x"),
    ):
        pass


def test_replicas_starting_together_migrate_once(tmp_path: Path) -> None:
    databases = fresh_postgres_database()
    url = next(databases)
    try:
        script = f"from bot.store.db import upgrade\nupgrade({url!r})\nprint('ok')\n"
        replicas = [
            subprocess.Popen(
                [sys.executable, "-c", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outcomes = [replica.communicate(timeout=60) for replica in replicas]
        assert [r.returncode for r in replicas] == [0, 0, 0], [err for _, err in outcomes]
        assert current_revision(url) == HEAD
        assert check(url) == []
    finally:
        databases.close()
