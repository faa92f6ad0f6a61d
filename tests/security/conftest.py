"""Fixtures for the security tests: an identity provider on a loopback port, signing keys, a clock
that tests move, and the fleet database on SQLite and on the local PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from database_helpers import pg_schema
from helpers import FakeClock
from idp import Issuer, SigningKey, ec_key, rsa_key, serve_issuer
from mcpfleet.database import Database


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
    with pg_schema() as db:
        yield db


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    fixture = "sqlite_database" if request.param == "sqlite" else "pg_database"
    db: Database = request.getfixturevalue(fixture)
    return db
