"""The store: typed SQLAlchemy models, engines and sessions, and Alembic migrations.

No business logic: what to write and when is decided elsewhere.
"""

from bot.store.db import (
    check,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    safe_url,
    session_factory,
    upgrade,
)
from bot.store.models import (
    AlertStateRow,
    Base,
    Outbox,
    OutboxKind,
    OutboxStatus,
    SampleRow,
    TargetRow,
    UTCDateTime,
    Watch,
    WatchChange,
    utcnow,
)

__all__ = [
    "AlertStateRow",
    "Base",
    "Outbox",
    "OutboxKind",
    "OutboxStatus",
    "SampleRow",
    "TargetRow",
    "UTCDateTime",
    "Watch",
    "WatchChange",
    "check",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "safe_url",
    "session_factory",
    "upgrade",
    "utcnow",
]
