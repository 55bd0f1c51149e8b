"""``online-bot history``: a chart of the samples in the bot's database (SQLite and
PostgreSQL), written as a PNG, with a clear word when there is nothing to draw."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image
from sqlalchemy import make_url

from bot.cli import main
from bot.settings import Settings
from bot.store import make_engine, session_factory
from bot.store.models import SampleRow, Watch

GROUP = "@TGS#cli-history"
NOW = datetime.now(UTC).timestamp()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The CLI in an empty directory, with none of the developer's settings."""
    monkeypatch.chdir(tmp_path)
    fields = set(Settings.model_fields)
    clean: dict[str, str | None] = {name.upper(): None for name in fields}
    clean.update({key: None for key in os.environ if key.lower() in fields})
    clean["XDG_DATA_HOME"] = str(tmp_path / "data")

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, ["history", *args], env={**clean, **(env or {})})

    return run


@pytest.fixture
def database(migrated_database_url: str) -> str:
    """The bot's database with an hour of checks of GROUP (one failed), and two watches on
    it in two channels."""
    engine = make_engine(migrated_database_url)
    with session_factory(engine).begin() as session:
        for i in range(60):
            value = None if i == 30 else 100 + i
            session.add(
                SampleRow(
                    group_id=GROUP,
                    mark=None,
                    taken_at=datetime.fromtimestamp(NOW - 3600 + 60 * i, UTC),
                    value=value,
                    error="the check failed" if value is None else None,
                )
            )
        for channel, kind, threshold in (("C1", "below", 50), ("C2", "above", 500)):
            session.add(
                Watch(
                    channel_id=channel,
                    group_id=GROUP,
                    mark=None,
                    rule_kind=kind,
                    threshold=threshold,
                    created_by="U1",
                )
            )
    engine.dispose()
    return migrated_database_url


def test_writes_the_chart_and_prints_its_path_and_summary(cli, database, tmp_path):
    result = cli(GROUP, "--range", "2h", "--tz", "Asia/Tokyo", env={"DATABASE_URL": database})

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "history-TGS-cli-history-2h.png"
    with Image.open(tmp_path / lines[0]) as image:
        assert (image.format, image.size) == ("PNG", (1200, 600))
    assert lines[1] == f"Audience of {GROUP}, last 2h (60 checks, 1 failed)"
    assert lines[2].startswith("  min        100  ") and lines[2].endswith(" JST")
    assert lines[3].startswith("  max        159  ")
    # every channel's watches: the command line is whoever holds the database
    assert "  watch #1: fewer than 50 online" in lines
    assert "  watch #2: more than 500 online" in lines


def test_out_and_the_default_range(cli, database, tmp_path):
    out = tmp_path / "charts" / "live.png"
    out.parent.mkdir()

    result = cli(GROUP, "--out", str(out), env={"DATABASE_URL": database})

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(out)
    assert f"Audience of {GROUP}, last 24h" in result.stdout
    assert out.stat().st_size > 5000


def test_no_samples_of_the_group_exit_1_saying_what_starts_them(cli, database):
    result = cli("@TGS#nobody", env={"DATABASE_URL": database})

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "No samples of @TGS#nobody in the database: the bot records an audience only while "
        "a channel watches it (/online watch @TGS#nobody below <N>)."
    )
    assert "Traceback" not in result.output


def test_samples_only_before_the_range_say_when(cli, database):
    engine = make_engine(database)
    with session_factory(engine).begin() as session:
        at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
        session.add(SampleRow(group_id=GROUP, mark=7, taken_at=at, value=3))
    engine.dispose()

    result = cli(
        GROUP, "--mark", "7", "--range", "1h", "--tz", "Asia/Tokyo", env={"DATABASE_URL": database}
    )

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"No samples of {GROUP} mark 7 in the last 1h; the latest is from 2026-03-01 21:30 "
        "JST: try a longer --range."
    )


def test_no_database_yet_exit_1_and_nothing_created(cli, tmp_path):
    result = cli(GROUP)

    assert result.exit_code == 1
    assert "No database at " in result.stderr and "Set DATABASE_URL" in result.stderr
    assert not (tmp_path / "data" / "online-bot" / "online-bot.db").exists()


def test_a_database_without_the_tables_says_so(cli, database_url):
    if make_url(database_url).get_backend_name() == "sqlite":
        Path(make_url(database_url).database).write_bytes(b"")  # an empty SQLite file
    result = cli(GROUP, env={"DATABASE_URL": database_url})

    assert result.exit_code == 1
    assert "Error: cannot read the samples in " in result.stderr
    assert "online-bot db upgrade" in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--range", "2y"), 'Usage error: --range 2y: "2y" has an unknown unit "y"'),
        (("--range", "1m"), "Usage error: --range 1m: The range must be from 5m to 31d"),
        (("--tz", "Mars/Base"), "Usage error: --tz Mars/Base is not a time zone"),
    ],
)
def test_usage_errors_exit_2(cli, args, said):
    result = cli(GROUP, *args)

    assert result.exit_code == 2
    assert said in result.stderr


def test_a_bad_group_id_exits_2(cli):
    result = cli("bad\u00e9id")
    assert result.exit_code == 2 and "printable ASCII" in result.stderr
