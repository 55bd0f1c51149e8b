"""The benchmarks' databases: a scratch one for the run, and watches bulk-inserted into it as
a restarted bot would find them (bench_poll, bench_replicas, bench_push).

Importable without pytest or pydantic (a benchmark measures its own memory).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, make_url, select, text
from sqlalchemy.pool import NullPool

from bot.alerts.mapping import to_dt
from bot.store.models import AlertStateRow, Watch

__all__ = ["BENCH_USER", "insert_watches", "scratch_database"]

#: Who created the benchmarks' watches (``watches.created_by``).
BENCH_USER = "UBENCH"


@contextmanager
def scratch_database(url: str | None, directory: Path) -> Iterator[str]:
    """A database URL for one run: a new SQLite file in ``directory`` when ``url`` is None;
    else ``url``, created first and dropped afterwards when it names a PostgreSQL database
    that does not exist yet (one that exists is used as it is, and kept)."""
    if url is None:
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        yield url
        return
    name = parsed.database
    server = create_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    created = False
    try:
        with server.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
                created = True
        yield url
    finally:
        if created:
            with server.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def insert_watches(engine: Engine, watches: Sequence[Mapping[str, Any]], *, now: float) -> None:
    """Watches ``1..len(watches)`` in one transaction, each with an OK alert state, created
    by BENCH_USER at ``now``. Each mapping holds the columns of its watch (``channel_id``,
    ``group_id``, ``rule_kind``, ``threshold``...; ``for_seconds`` is 0 unless given).
    A database that already holds watches is refused (SystemExit): give an empty one."""
    created = to_dt(now)
    rows = [
        {"for_seconds": 0, **watch, "id": i + 1, "created_by": BENCH_USER, "created_at": created}
        for i, watch in enumerate(watches)
    ]
    with engine.begin() as connection:
        if connection.scalar(select(func.count(Watch.id))):
            raise SystemExit("the database already holds watches: give an empty one")
        connection.execute(insert(Watch), rows)
        connection.execute(
            insert(AlertStateRow), [{"watch_id": row["id"], "status": "ok"} for row in rows]
        )
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('watches', 'id'), :n)"),
                {"n": len(rows)},
            )
