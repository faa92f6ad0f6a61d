"""Every store: idempotent writes, every query filter, time ranges, newest first, verification."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit_helpers import sealed
from mcpfleet.audit import (
    AuditQuery,
    BaseAuditStore,
    JsonlAuditStore,
    PostgresAuditStore,
    SqliteAuditStore,
)
from mcpfleet.exceptions import AuditError, AuditStoreError

pytestmark = pytest.mark.timeout(30)
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ENTRIES = [
    {"server": "fs", "tool": "read_file", "user": "ann", "role": "admin", "client": "10.0.0.1",
     "params": {"path": "/etc/hosts", "n": 1.5, "flags": [True, None]}, "latency_ms": 1.25,
     "request_id": "r1"},
    {"server": "fs", "tool": "write_file", "user": "bob", "outcome": "error", "error": "PermissionError: no"},
    {"server": "git", "tool": "log", "user": "ann", "params": {"ünïcode": "✓", "neg": -0.0, "big": 2**62}},
    {"server": "fs", "tool": "read_file", "user": "bob", "outcome": "denied"},
    {"server": "git", "tool": "read_file", "user": "ann", "params": None},
]  # fmt: skip


@pytest.fixture(params=["jsonl", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseAuditStore]:
    if request.param == "jsonl":
        yield JsonlAuditStore(tmp_path / "audit.jsonl")
    elif request.param == "sqlite":
        sqlite = SqliteAuditStore(tmp_path / "fleet.db")
        yield sqlite
        sqlite.close()
    else:
        yield request.getfixturevalue("pg_store")


def test_write_query_every_filter(store: BaseAuditStore) -> None:
    records = sealed("host-1-a", ENTRIES, START)
    store.write(records[:3])
    store.write(records[1:])  # overlapping batch, as a replay after a partial failure sends
    everything = store.query(AuditQuery(limit=None))
    assert [r.seq for r in everything] == [4, 3, 2, 1, 0]  # newest first, each once
    assert everything[::-1] == records  # every field survives the round trip exactly

    def seqs(**filters: object) -> list[int]:
        return [r.seq for r in store.query(AuditQuery(**filters))]  # type: ignore[arg-type]

    assert seqs(server="fs") == [3, 1, 0]
    assert seqs(user="ann") == [4, 2, 0]
    assert seqs(tool="read_file") == [4, 3, 0]
    assert seqs(outcome="error") == [1]
    assert seqs(server="fs", user="bob", tool="read_file") == [3]
    assert seqs(start_time=START + timedelta(seconds=1), end_time=START + timedelta(seconds=3)) == [2, 1]
    assert seqs(start_time=START + timedelta(seconds=4)) == [4]
    assert seqs(end_time=START) == []
    assert seqs(limit=2) == [4, 3]
    assert seqs(server="nope") == []
    assert store.verify().ok


def test_chains_of_several_writers_verify_separately(store: BaseAuditStore) -> None:
    first, second = sealed("host-1-a", ENTRIES, START), sealed("host-2-b", ENTRIES[:2], START)
    store.write(first[:2])
    store.write(second)
    store.write(first[2:])
    result = store.verify()
    assert result.ok and result.records == 7 and result.chains == 2
    assert result.heads == {"host-1-a": (4, first[-1].hash), "host-2-b": (1, second[-1].hash)}


def test_naive_times_are_local() -> None:
    local = datetime(2025, 3, 1, 13, 0)
    assert AuditQuery(start_time=local).start_time == local.astimezone(UTC)


def test_bad_query_arguments_say_what_to_do() -> None:
    with pytest.raises(AuditError, match="positive number"):
        AuditQuery(limit=0)
    with pytest.raises(AuditError, match="must be a datetime"):
        AuditQuery(start_time="yesterday")  # type: ignore[arg-type]


def test_a_down_postgresql_raises_a_clear_error(tmp_path: Path) -> None:
    from helpers import free_port

    store = PostgresAuditStore(f"postgresql://127.0.0.1:{free_port()}/none")  # nothing listens there
    with pytest.raises(AuditStoreError, match="cannot write audit records to postgresql"):
        store.write(sealed("c", ENTRIES[:1]))
    with pytest.raises(AuditStoreError, match="cannot read audit records"):
        store.query(AuditQuery())
    store.close()


def test_store_kinds_are_checked(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="needs a postgresql:// URL"):
        PostgresAuditStore(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(AuditError, match="table name"):
        SqliteAuditStore(tmp_path / "x.db", table="audit; drop table x")


def test_jsonl_write_is_idempotent_across_store_instances(tmp_path: Path) -> None:
    records = sealed("host-1-a", ENTRIES)
    JsonlAuditStore(tmp_path / "a.jsonl").write(records[:3])
    JsonlAuditStore(tmp_path / "a.jsonl").write(records)  # another process replaying the same spill
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == 5
    assert JsonlAuditStore(tmp_path / "a.jsonl").verify().ok
