"""Fixtures for the security tests: an identity provider on a loopback port, signing keys, a clock
that tests move, and the fleet database on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers import FakeClock
from idp import Issuer, SigningKey, ec_key, rsa_key, serve_issuer
from mcpfleet.database import Database

PG_URL = "postgresql://127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def rsa1() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="session")
def rsa2() -> SigningKey:
    return rsa_key("rsa-2")


@pytest.fixture(scope="session")
def ec1() -> SigningKey:
    return ec_key("ec-1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def issuer(rsa1: SigningKey, ec1: SigningKey) -> AsyncIterator[Issuer]:
    async with serve_issuer([rsa1, ec1]) as provider:
        yield provider


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    yield db
    db.dispose()


@pytest.fixture
def pg_database() -> Iterator[Database]:
    """The local PostgreSQL, in a schema of its own that is dropped afterwards."""
    schema = f"mcpfleet_test_{secrets.token_hex(4)}"
    admin = Database(PG_URL)
    try:
        with admin.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # no server: say so instead of failing every test
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
    db = Database(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    fixture = "sqlite_database" if request.param == "sqlite" else "pg_database"
    db: Database = request.getfixturevalue(fixture)
    return db
