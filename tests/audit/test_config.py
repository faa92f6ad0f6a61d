"""``audit:`` in the fleet file: defaults, choices, and mistakes reported with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpfleet.audit.stores.auto import open_store, spill_path
from mcpfleet.config import parse_config
from mcpfleet.exceptions import AuditError, ConfigError

pytestmark = pytest.mark.timeout(10)


def test_defaults() -> None:
    audit = parse_config("servers: {}").audit
    assert (audit.enabled, audit.store, audit.include_params, audit.mask_sensitive) == (
        True,
        None,
        True,
        True,
    )


def test_the_default_store_follows_the_fleet_database(tmp_path: Path) -> None:
    from mcpfleet.audit.stores import PostgresAuditStore, SqliteAuditStore
    from mcpfleet.audit.stores.auto import open_store

    on_sqlite = parse_config(f"home: {tmp_path}\nservers: {{}}")
    on_postgres = parse_config(f"home: {tmp_path}\ndatabase_url: postgresql://127.0.0.1/test\nservers: {{}}")
    assert isinstance(open_store(on_sqlite), SqliteAuditStore)
    assert isinstance(open_store(on_postgres), PostgresAuditStore)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit: {store: redis}", "audit.store (line 1): Input should be 'sqlite', 'postgresql' or 'jsonl'"),
        ("audit: {mask_patterns: ['ACCT-(']}", "not a valid regular expression"),
        ("audit: {store: jsonl, url: 'postgresql://h/db'}", "the jsonl store takes file"),
        ("audit: {file: a.jsonl}", "set store: jsonl"),
        ("audit: {store: sqlite, url: 'postgresql://h/db'}", "does not fit store: sqlite"),
        ("audit: {queue_size: 0}", "audit.queue_size"),
        ("audit: {spill: x}", "audit.spill (line 1): Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_reported(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)


def test_stores_and_paths_follow_the_config(tmp_path: Path) -> None:
    config = parse_config(f"home: {tmp_path}\naudit: {{store: jsonl, file: logs/audit.jsonl}}")
    assert repr(open_store(config)) == f"JsonlAuditStore('{tmp_path}/logs/audit.jsonl')"
    assert spill_path(config) == tmp_path / "audit-spill.jsonl"
    config = parse_config(
        f"home: {tmp_path}\ndatabase_url: 'postgresql://fleet@db/fleet'\naudit: {{store: postgresql}}"
    )
    store = open_store(config)
    assert "postgresql+psycopg://fleet@db/fleet" in repr(store)
    store.close()
    with pytest.raises(AuditError, match=r"set audit\.url or database_url"):
        open_store(parse_config("audit: {store: postgresql}"))
