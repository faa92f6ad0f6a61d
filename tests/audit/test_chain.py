"""Tampering with a stored audit log is detected, and named: edited, deleted, reordered, inserted."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from mcpfleet.audit import AuditLogger, AuditRecord, JsonlAuditStore, SqliteAuditStore
from mcpfleet.audit.chain import link

pytestmark = pytest.mark.timeout(30)


def write_log(path: Path, count: int = 6) -> list[str]:
    with AuditLogger(log_file=path) as audit:
        for i in range(count):
            audit.record(server="fs", tool="read_file", params={"path": f"/data/{i}"}, user="ann")
    return path.read_text().splitlines()


def check(path: Path, lines: list[str]) -> tuple[str, int, str]:
    path.write_text("".join(line + "\n" for line in lines))
    result = JsonlAuditStore(path).verify()
    assert not result.ok and result.broken is not None
    return result.broken.kind, result.broken.position, result.describe()


def test_intact_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    result = JsonlAuditStore(path).verify()
    assert result.ok and result.records == 6 and result.chains == 1
    assert result.describe() == "OK: 6 records in 1 chains verified"


def test_edited_record(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    record = json.loads(lines[2])
    record["params"]["path"] = "/data/innocent"
    lines[2] = json.dumps(record)
    kind, position, text = check(tmp_path / "audit.jsonl", lines)
    assert (kind, position) == ("edited", 3)
    assert record["id"] in text and "does not match its hash" in text


def test_edited_and_rehashed_record_breaks_the_next_link(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    forged = replace(AuditRecord.from_dict(json.loads(lines[2])), user="mallory")
    forged = replace(forged, hash=link(forged.prev_hash, forged.chain, forged.seq, forged.content()))
    lines[2] = json.dumps(forged.to_dict())
    kind, position, text = check(tmp_path / "audit.jsonl", lines)
    assert (kind, position) == ("edited", 4)
    assert "prev_hash does not match the hash of record seq 2" in text


def test_deleted_record(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    del lines[3]
    kind, position, text = check(tmp_path / "audit.jsonl", lines)
    assert (kind, position) == ("deleted", 4)
    assert "seq 3 of this chain is missing" in text


def test_deleted_first_records(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    kind, position, text = check(tmp_path / "audit.jsonl", lines[2:])
    assert (kind, position) == ("deleted", 1)
    assert "seq 0 to 1 of this chain is missing" in text


def test_reordered_records(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    lines[1], lines[2] = lines[2], lines[1]
    kind, position, text = check(tmp_path / "audit.jsonl", lines)
    assert (kind, position) == ("reordered", 3)
    assert "seq 1 comes after seq 2" in text


def test_inserted_copy(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    lines.insert(4, lines[1])
    kind, position, text = check(tmp_path / "audit.jsonl", lines)
    assert (kind, position) == ("inserted", 5)
    assert "seq 1 is already taken" in text


def test_unreadable_line(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "audit.jsonl")
    lines[4] = '{"id": "x", "truncated'
    kind, position, text = check(tmp_path / "audit.jsonl", lines)
    assert (kind, position) == ("edited", 5)
    assert "not an audit record" in text


def test_removing_the_newest_records_shows_only_in_the_heads(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = write_log(path)
    kept = JsonlAuditStore(path).verify().heads
    path.write_text("".join(line + "\n" for line in lines[:-2]))
    after = JsonlAuditStore(path).verify()
    assert after.ok  # a chain cannot know what came after its end...
    assert after.heads != kept  # ...which is why heads are worth keeping elsewhere


def test_each_logger_has_its_own_chain_on_a_shared_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first, second = AuditLogger(log_file=path), AuditLogger(log_file=path)
    for i in range(10):
        (first if i % 3 else second).record(server="fs", tool="t", params={"i": i})
        first.flush()
        second.flush()
    first.close()
    second.close()
    with AuditLogger(log_file=path) as third:  # a new logger on an existing file starts a new chain
        third.record(server="fs", tool="t")
    result = JsonlAuditStore(path).verify()
    assert result.ok and result.records == 11 and result.chains == 3
    assert first.chain != second.chain != third.chain


def test_sql_rows_edited_or_deleted(tmp_path: Path) -> None:
    database = tmp_path / "fleet.db"
    store = SqliteAuditStore(database)
    with AuditLogger(store=SqliteAuditStore(database)) as audit:
        records = [audit.record(server="fs", tool="t", params={"i": i}, user="ann") for i in range(5)]
    assert store.verify().ok
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE audit_records SET user = 'mallory' WHERE id = ?", (records[1].id,))
    broken = store.verify().broken
    assert broken is not None and (broken.kind, broken.record_id) == ("edited", records[1].id)
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE audit_records SET user = 'ann' WHERE id = ?", (records[1].id,))
        conn.execute("DELETE FROM audit_records WHERE id = ?", (records[3].id,))
    broken = store.verify().broken
    assert broken is not None and (broken.kind, broken.record_id) == ("deleted", records[4].id)
    store.close()
