"""The fleet database in tests: a PostgreSQL schema of one's own, the database of the previous
release (``tests/migrations/previous_release.db``, written by that release's code), and snapshots
that show whether anything in a database changed."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    select,
    text,
)

from mcpfleet.database import Database

PG_URL = "postgresql://127.0.0.1:5432/test"
MIGRATIONS = Path(__file__).parent / "migrations"
PREVIOUS_DB = MIGRATIONS / "previous_release.db"
PREVIOUS: dict[str, Any] = json.loads((MIGRATIONS / "previous_release.json").read_text())


def previous_release_tables() -> MetaData:
    """The tables as release e38de9b declared them (security/keys.py, audit/stores/sql.py there)."""
    meta = MetaData()
    Table(
        "api_keys", meta,
        Column("id", String(16), primary_key=True),
        Column("name", String(64), nullable=False, index=True),
        Column("role", String(64), nullable=False),
        Column("key_hash", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True)),
        Column("last_used_at", DateTime(timezone=True)),
        Column("revoked_at", DateTime(timezone=True)),
    )  # fmt: skip
    Table(
        "audit_records", meta,
        Column("id", String(32), primary_key=True),
        Column("chain", String(128), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        *(Column(f, String(255)) for f in ("server", "tool", "user", "role", "client", "request_id")),
        Column("outcome", String(32), nullable=False),
        Column("error", Text),
        Column("latency_ms", Float),
        Column("params", Text),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        UniqueConstraint("chain", "seq", name="audit_records_chain_seq"),
        Index("audit_records_time", "time"),
        Index("audit_records_server_time", "server", "time"),
        Index("audit_records_user_time", "user", "time"),
    )  # fmt: skip
    Table(
        "audit_checkpoints", meta,
        Column("chain", String(128), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("pruned", BigInteger, nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("key_id", String(16), nullable=False),
        Column("signature", String(64), nullable=False),
    )  # fmt: skip
    return meta


def previous_release_sqlite(folder: Path) -> Database:
    """A copy of the previous release's fleet.db in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PREVIOUS_DB, folder / "fleet.db")
    return Database(f"sqlite:///{folder / 'fleet.db'}")


def load_previous_release(database: Database) -> None:
    """Make the previous release's tables in ``database`` (as it did: create_all of its tables)
    and copy every row of the previous release's fleet.db into them."""
    meta = previous_release_tables()
    source = create_engine(f"sqlite:///{PREVIOUS_DB}")
    try:
        meta.create_all(database.engine)
        with source.connect() as old, database.engine.begin() as new:
            for table in meta.sorted_tables:
                rows = [dict(r._mapping) for r in old.execute(select(table))]
                for row in rows:  # SQLite hands back the naive UTC times it stored
                    for name, value in row.items():
                        if hasattr(value, "tzinfo") and value.tzinfo is None:
                            row[name] = value.replace(tzinfo=UTC)
                if rows:
                    new.execute(table.insert(), rows)
    finally:
        source.dispose()


def snapshot(database: Database) -> dict[str, Any]:
    """Every table's columns, keys, indexes and rows (sorted): equal snapshots, equal databases."""
    found: dict[str, Any] = {}
    with database.engine.connect() as conn:
        inspector = inspect(conn)
        for name in sorted(inspector.get_table_names()):
            columns = inspector.get_columns(name)
            table = Table(name, MetaData(), *(Column(c["name"], c["type"]) for c in columns))
            found[name] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in columns],
                "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name)),
                "unique": sorted(str(u["column_names"]) for u in inspector.get_unique_constraints(name)),
                "rows": sorted(repr(tuple(r)) for r in conn.execute(select(table))),
            }
    return found


@contextmanager
def pg_schema() -> Iterator[Database]:
    """The local PostgreSQL, in a schema of its own (dropped afterwards): the tests never see
    nor disturb the tables of other tests."""
    schema = f"mcpfleet_mig_{secrets.token_hex(4)}"
    admin = Database(PG_URL)
    try:
        with admin.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # no server: say so instead of failing every test
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
    database = Database(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield database
    finally:
        database.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
