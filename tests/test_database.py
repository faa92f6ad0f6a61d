"""``Database``: the schema is made by the migrations, once per ``Database``; URLs and files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mcpfleet.database import Database
from mcpfleet.exceptions import ConfigError
from mcpfleet.migrations import VERSION_TABLE, head_revision
from mcpfleet.security import ApiKeyStore


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_create_tables_runs_the_migrations_once(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    database = Database(f"sqlite:///{path}")
    assert not database.exists() and database.schema_revision() is None
    database.create_tables()
    assert database.exists() and database.schema_revision() == head_revision()
    assert {VERSION_TABLE, "api_keys", "audit_records", "tool_pins"} <= _tables(path)
    with sqlite3.connect(path) as conn:  # a newer mcpfleet's revision: the next upgrade would refuse it
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'later'")
    database.create_tables()  # checked once per Database: not asked again
    database.dispose()


def test_a_store_makes_the_schema_through_the_migrations(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    ApiKeyStore(database).create("ci-bot", "developer")
    assert database.schema_revision() == head_revision()  # not just api_keys, made on its own
    database.dispose()


def test_urls() -> None:
    database = Database("postgresql://fleet:s3cret@127.0.0.1:5432/test")
    assert database.where == "postgresql+psycopg://fleet:***@127.0.0.1:5432/test"
    assert "s3cret" not in repr(database) and database.exists()
    database.dispose()
    with pytest.raises(ConfigError, match="use sqlite or postgresql"):
        Database("mysql://127.0.0.1/fleet")
