"""API keys in the fleet database (SQLite in tmp_path and the local PostgreSQL): create, verify,
list, expire, revoke, and the cache that keeps the hot path off the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from helpers import FakeClock
from mcpfleet.database import Database
from mcpfleet.exceptions import AuthenticationError, FleetError, UnknownApiKeyError
from mcpfleet.security import ApiKeyStore, Principal
from mcpfleet.security.keys import api_keys

pytestmark = pytest.mark.timeout(30)


class WallClock:
    """Wall time that tests move (for expiry)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def store_for(database: Database, clock: FakeClock, wall: WallClock, ttl: float = 30.0) -> ApiKeyStore:
    return ApiKeyStore(database, cache_ttl=ttl, clock=clock, now=wall)


def stored_row(database: Database, key_id: str) -> dict[str, object]:
    with database.engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return dict(row._mapping)


def test_create_stores_only_a_hash_and_verifies(database: Database, clock: FakeClock) -> None:
    wall = WallClock()
    store = store_for(database, clock, wall)
    key, info = store.create("ci-bot", "developer")
    assert re.fullmatch(r"mcpf_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key)
    assert key.startswith(info.prefix + "_") and info.expires_at is None
    row = stored_row(database, info.id)
    assert key not in {str(v) for v in row.values()}
    assert len(str(row["key_hash"])) == 64
    principal = store.verify(key)
    assert principal == Principal("ci-bot", ("developer",), "api_key", key_id=info.id)
    second, _ = store.create("other", "viewer")
    assert second != key and store.verify(second).roles == ("viewer",)


def test_wrong_and_malformed_keys_are_refused(database: Database, clock: FakeClock) -> None:
    store = store_for(database, clock, WallClock())
    key, _ = store.create("ci-bot", "developer")
    tampered = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    for bad, reason in [
        (tampered, "unknown API key"),
        ("mcpf_00000000_" + "x" * 43, "unknown API key"),
        ("sk-not-ours", "not an mcpfleet API key"),
        (key + "\n", "not an mcpfleet API key"),
    ]:
        with pytest.raises(AuthenticationError, match=reason):
            store.verify(bad)


def test_list_expire_and_revoke(database: Database, clock: FakeClock) -> None:
    wall = WallClock()
    store = store_for(database, clock, wall, ttl=0)
    short, short_info = store.create("short", "viewer", expires_in=timedelta(hours=1))
    long, long_info = store.create("long", "developer", expires_in=timedelta(days=30))
    assert short_info.expires_at == wall.at + timedelta(hours=1)
    assert store.verify(short).name == "short"
    wall.at += timedelta(hours=1, seconds=1)
    with pytest.raises(
        AuthenticationError, match=r"API key 'short' \(mcpf_\w+\) expired at .*mcpfleet keys create"
    ):
        store.verify(short)
    assert store.verify(long).name == "long"
    revoked = store.revoke("long")
    assert [r.id for r in revoked] == [long_info.id]
    with pytest.raises(AuthenticationError, match=r"'long'.* revoked at"):
        store.verify(long)
    listed = {k.name: k for k in store.list_keys()}
    assert {n: k.state(wall.at) for n, k in listed.items()} == {"short": "expired", "long": "revoked"}
    assert listed["long"].last_used_at is not None and listed["short"].prefix == short_info.prefix
    with pytest.raises(UnknownApiKeyError, match="keys list"):
        store.revoke("long")  # already revoked: nothing active by that name
    again, info = store.create("long", "developer")  # the name is free again
    store.revoke(info.prefix)  # by prefix (id)
    with pytest.raises(AuthenticationError, match="revoked"):
        store.verify(again)


def test_names_roles_and_lifetimes_are_checked(database: Database, clock: FakeClock) -> None:
    store = store_for(database, clock, WallClock())
    store.create("ci-bot", "developer")
    with pytest.raises(FleetError, match="an active key named 'ci-bot' exists"):
        store.create("ci-bot", "developer")
    for name, role in [("../etc", "developer"), ("ci bot", "developer"), ("x", "dev; DROP TABLE api_keys")]:
        with pytest.raises(FleetError, match="is not a valid"):
            store.create(name, role)
    with pytest.raises(FleetError, match="must be positive"):
        store.create("neg", "developer", expires_in=timedelta(0))
    assert [k.name for k in store.list_keys()] == ["ci-bot"]


def test_cache_keeps_verification_off_the_database_until_ttl(database: Database, clock: FakeClock) -> None:
    wall = WallClock()
    gateway = store_for(database, clock, wall, ttl=30)
    operator = store_for(database, FakeClock(), wall)  # another process: `mcpfleet keys revoke`
    key, info = operator.create("ci-bot", "developer")
    assert gateway.verify(key).name == "ci-bot"
    first_use = stored_row(database, info.id)["last_used_at"]
    assert first_use is not None
    # Revoked elsewhere: this process still trusts its cached verification for up to 30 s ...
    operator.revoke("ci-bot")
    clock.now += 29
    assert gateway.verify(key).name == "ci-bot"
    # ... and then reads the row again and refuses the key.
    clock.now += 1
    with pytest.raises(AuthenticationError, match="revoked"):
        gateway.verify(key)
    # Revoking in the same process takes effect at once.
    key2, _ = operator.create("bot-2", "viewer")
    assert gateway.verify(key2).name == "bot-2"
    gateway.revoke("bot-2")
    with pytest.raises(AuthenticationError, match="revoked"):
        gateway.verify(key2)


def test_cached_entries_still_expire_on_time(database: Database, clock: FakeClock) -> None:
    wall = WallClock()
    store = store_for(database, clock, wall, ttl=30)
    key, _ = store.create("ci-bot", "developer", expires_in=timedelta(minutes=10))
    store.verify(key)
    with database.engine.begin() as conn:  # nothing may read the database from here on
        conn.execute(update(api_keys).values(key_hash="0" * 64))
    wall.at += timedelta(minutes=10)
    with pytest.raises(AuthenticationError, match="expired"):
        store.verify(key)


async def test_averify_reads_in_a_thread_then_from_the_cache(database: Database, clock: FakeClock) -> None:
    store = store_for(database, clock, WallClock())
    key, info = store.create("ci-bot", "developer")
    assert (await store.averify(key)).key_id == info.id
    assert (await store.averify(key)).name == "ci-bot"
    with pytest.raises(AuthenticationError):
        await store.averify("mcpf_garbage")
