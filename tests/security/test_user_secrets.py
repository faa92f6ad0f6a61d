"""The per-principal secret store (SQLite and PostgreSQL): sealed at rest, bound to its principal
and name, and a key that is missing or wrong says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mcpfleet.database import Database
from mcpfleet.exceptions import SecretError
from mcpfleet.security.user_secrets import SecretKey, UserSecretStore, generate_key, user_secrets


def test_values_are_sealed_and_read_back_per_principal(database: Database) -> None:
    store = UserSecretStore(database, SecretKey.from_text(generate_key(), source="test"))
    store.set("alice", "github_token", "ghp_alice_value")
    store.set("bob", "github_token", "ghp_bob_value")
    store.set("alice", "github_token", "ghp_alice_rotated")  # replaces
    assert store.get("alice", "github_token") == "ghp_alice_rotated"
    assert store.get("bob", "github_token") == "ghp_bob_value"
    assert store.get("carol", "github_token") is None
    assert [(s.principal, s.name) for s in store.list()] == [
        ("alice", "github_token"),
        ("bob", "github_token"),
    ]
    assert [s.principal for s in store.list("bob")] == ["bob"]
    with database.engine.connect() as conn:
        sealed = [row.sealed for row in conn.execute(select(user_secrets))]
    assert all("ghp_" not in value for value in sealed)
    assert store.delete("bob", "github_token") and not store.delete("bob", "github_token")


def test_a_value_moved_to_another_principal_or_read_with_another_key_does_not_open(
    database: Database,
) -> None:
    key = SecretKey.from_text(generate_key(), source="test")
    store = UserSecretStore(database, key)
    store.set("alice", "t", "alice's")
    with database.engine.begin() as conn:  # someone with the database copies alice's row to bob
        row = conn.execute(select(user_secrets)).one()
        conn.execute(
            user_secrets.insert().values(
                principal="bob", name="t", sealed=row.sealed, updated_at=row.updated_at
            )
        )
    with pytest.raises(SecretError, match="the secret 't' of 'bob' does not decrypt with this key"):
        store.get("bob", "t")
    other = UserSecretStore(database, SecretKey.from_text(generate_key(), source="test"))
    with pytest.raises(SecretError, match="set with another MCPFLEET_SECRET_KEY"):
        other.get("alice", "t")


def test_the_key_comes_from_the_environment_or_a_file_and_its_absence_is_explained(tmp_path: Path) -> None:
    key = generate_key()
    (tmp_path / "key").write_text(key + "\n")
    assert repr(SecretKey.from_environ({"MCPFLEET_SECRET_KEY": key})) == "SecretKey(***)"
    SecretKey.from_environ({"MCPFLEET_SECRET_KEY_FILE": str(tmp_path / "key")})
    with pytest.raises(SecretError, match="no key for per-user secrets: set MCPFLEET_SECRET_KEY"):
        SecretKey.from_environ({})
    with pytest.raises(SecretError, match="must be 32 bytes"):
        SecretKey.from_environ({"MCPFLEET_SECRET_KEY": "c2hvcnQ="})
    with pytest.raises(SecretError, match="cannot read the per-user secret key file"):
        SecretKey.from_environ({"MCPFLEET_SECRET_KEY_FILE": str(tmp_path / "missing")})
