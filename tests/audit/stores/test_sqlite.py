"""SqliteAuditStore: times stored as SQLAlchemy's SQLite DateTime stores them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from mcpfleet.audit.stores.sqlite import SqliteAuditStore, sqlite_time


def test_times_are_the_text_sqlalchemy_would_bind(tmp_path: Path) -> None:
    store = SqliteAuditStore(tmp_path / "fleet.db")
    dialect = store.database.engine.dialect
    bind = store.table.c.time.type.dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    for moment in (
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(999, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 0, 0),  # naive
        datetime(2026, 6, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    ):
        assert sqlite_time(moment) == bind(moment)
    store.close()
