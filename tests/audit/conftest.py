"""Audit fixtures: a table of our own in the machine's PostgreSQL, and a throwaway PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from audit_helpers import PG_URL, ThrowawayPostgres
from mcpfleet.audit import PostgresAuditStore


@pytest.fixture
def pg_table() -> Iterator[str]:
    """A table name unique to this test; the table is dropped afterwards."""
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable ({exc}); set MCPFLEET_TEST_PG")
    name = f"audit_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{name}", "{name}_checkpoints"')


@pytest.fixture
def pg_store(pg_table: str) -> Iterator[PostgresAuditStore]:
    store = PostgresAuditStore(PG_URL, table=pg_table)
    yield store
    store.close()


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()
