"""Pruning every store by age and by size, with signed checkpoints that keep `verify` meaningful."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from audit_helpers import PG_URL, sealed
from mcpfleet.audit import (
    AuditLogger,
    AuditQuery,
    AuditRecord,
    BaseAuditStore,
    Checkpoint,
    CheckpointKey,
    JsonlAuditStore,
    PostgresAuditStore,
    RetentionPolicy,
    SqlAuditStore,
    SqliteAuditStore,
)
from mcpfleet.audit.chain import link
from mcpfleet.audit.retention import prune

pytestmark = pytest.mark.timeout(60)
KEY = CheckpointKey.from_secret("0123456789abcdef0123456789abcdef")
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NINETY_DAYS = RetentionPolicy(max_age=timedelta(days=90))
# Records of "mixed" are at START + seq seconds: seq 0..20 are older than the cutoff, 21.. are not.
CUTOFF = START + timedelta(seconds=20.5)
NOW = CUTOFF + timedelta(days=90)


@pytest.fixture(params=["jsonl", "sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BaseAuditStore]]:
    """Opens the store under test; each call is another instance (another process, say)."""
    opened: list[BaseAuditStore] = []
    table = request.getfixturevalue("pg_table") if request.param == "postgresql" else None

    def make() -> BaseAuditStore:
        store: BaseAuditStore
        if request.param == "jsonl":
            store = JsonlAuditStore(tmp_path / "audit.jsonl")
        elif request.param == "sqlite":
            store = SqliteAuditStore(tmp_path / "fleet.db")
        else:
            store = PostgresAuditStore(PG_URL, table=table or "")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], BaseAuditStore]) -> BaseAuditStore:
    return open_store()


def entries(count: int, size: int = 0) -> list[dict[str, Any]]:
    return [{"server": "fs", "tool": "read_file", "user": "ann", "params": {"pad": "x" * size}}] * count


def fill(store: BaseAuditStore) -> dict[str, list[AuditRecord]]:
    chains = {
        "old": sealed("old", entries(30), START - timedelta(days=30)),
        "mixed": sealed("mixed", entries(40), START),
        "new": sealed("new", entries(10), CUTOFF + timedelta(hours=1)),
    }
    for records in chains.values():
        store.write(records)
    return chains


def remaining(store: BaseAuditStore, chain: str) -> list[int]:
    return sorted(r.seq for r in store.query(AuditQuery(limit=None)) if r.chain == chain)


# ---------------------------------------------------------------------------- tampering


def edit_checkpoint(store: BaseAuditStore, chain: str, **changes: Any) -> None:
    """Change a stored checkpoint behind the store's back, as someone with the file or database would."""
    if isinstance(store, JsonlAuditStore):
        marks = [json.loads(line) for line in store.checkpoint_file.read_text().splitlines()]
        marks = [{**m, **changes} if m["chain"] == chain else m for m in marks]
        store.checkpoint_file.write_text("".join(json.dumps(m) + "\n" for m in marks))
    elif isinstance(store, SqlAuditStore):
        t = store.checkpoint_table
        with store.database.engine.begin() as conn:
            conn.execute(update(t).where(t.c.chain == chain).values(**changes))


def drop_checkpoints(store: BaseAuditStore) -> None:
    if isinstance(store, JsonlAuditStore):
        store.checkpoint_file.unlink()
    elif isinstance(store, SqlAuditStore):
        with store.database.engine.begin() as conn:
            conn.execute(delete(store.checkpoint_table))


def edit_record(store: BaseAuditStore, chain: str, seq: int, **changes: Any) -> None:
    """Change (or with ``changes`` empty, delete) a stored record behind the store's back."""
    if isinstance(store, JsonlAuditStore):
        out = []
        for line in store.path.read_text().splitlines():
            data = json.loads(line)
            if (data["chain"], data["seq"]) == (chain, seq):
                if not changes:
                    continue
                data.update(changes)
            out.append(json.dumps(data))
        store.path.write_text("".join(line + "\n" for line in out))
    elif isinstance(store, SqlAuditStore):
        t = store.table
        where = (t.c.chain == chain) & (t.c.seq == seq)
        with store.database.engine.begin() as conn:
            conn.execute(update(t).where(where).values(**changes) if changes else delete(t).where(where))


# ---------------------------------------------------------------------------- by age


def test_prune_by_age_keeps_every_chain_verifiable(store: BaseAuditStore) -> None:
    chains = fill(store)
    heads = store.verify().heads
    result = prune(store, NINETY_DAYS, KEY, now=NOW)
    assert result.pruned == 30 + 21 and result.cutoff == CUTOFF and not result.refused
    assert {(p.chain, p.records, p.through) for p in result.chains} == {("old", 30, 29), ("mixed", 21, 20)}
    assert remaining(store, "old") == []
    assert remaining(store, "mixed") == list(range(21, 40))
    assert remaining(store, "new") == list(range(10))
    marks = {m.chain: m for m in store.checkpoints()}
    assert marks["mixed"].hash == chains["mixed"][20].hash and marks["mixed"].pruned == 21
    assert marks["old"].problem(KEY) is None
    verified = store.verify(KEY)
    assert verified.ok, verified.describe()
    assert (verified.records, verified.chains, verified.pruned, verified.checkpoints) == (29, 3, 51, 2)
    assert verified.heads == heads  # the newest record of every chain is still vouched for
    assert verified.describe() == (
        "OK: 29 records in 3 chains verified; 51 older records pruned under 2 signed checkpoint(s)"
    )


def test_a_second_prune_continues_from_the_checkpoint(store: BaseAuditStore) -> None:
    fill(store)
    prune(store, NINETY_DAYS, KEY, now=NOW)
    later = prune(store, NINETY_DAYS, KEY, now=NOW + timedelta(seconds=10))
    assert later.pruned == 10
    assert [(p.chain, p.records, p.through) for p in later.chains] == [("mixed", 10, 30)]
    again = prune(store, NINETY_DAYS, KEY, now=NOW + timedelta(seconds=10))
    assert again.pruned == 0 and again.describe().startswith("nothing to prune: no record is older than")
    verified = store.verify(KEY)
    assert verified.ok and verified.pruned == 61 and remaining(store, "mixed") == list(range(31, 40))


def test_dry_run_changes_nothing(store: BaseAuditStore) -> None:
    fill(store)
    result = prune(store, NINETY_DAYS, None, now=NOW, dry_run=True)
    assert result.dry_run and result.pruned == 51 and all(p.checkpoint is None for p in result.chains)
    assert "would prune 51 records" in result.describe()
    assert len(store.query(AuditQuery(limit=None))) == 80 and store.checkpoints() == []


def test_a_prune_needs_the_key() -> None:
    with pytest.raises(Exception, match="needs the checkpoint key"):
        prune(JsonlAuditStore("/nonexistent/audit.jsonl"), NINETY_DAYS, None, now=NOW)


# ---------------------------------------------------------------------------- by size


def test_prune_by_size_removes_the_oldest(store: BaseAuditStore) -> None:
    store.write(sealed("big", entries(400, size=600), START))
    used, count = store.measure()
    assert count == 400 and used > 400 * 600
    result = prune(store, RetentionPolicy(max_age=None, max_bytes=used // 2), KEY, now=NOW)
    left = remaining(store, "big")
    assert 120 <= len(left) <= 280 and result.pruned == 400 - len(left)
    assert left == list(range(400 - len(left), 400))  # the newest are kept
    assert store.measure()[0] < used * 0.75
    assert store.verify(KEY).ok
    everything = prune(store, RetentionPolicy(max_age=None, max_bytes=1), KEY, now=NOW)
    assert everything.pruned == len(left) and remaining(store, "big") == []
    verified = store.verify(KEY)
    assert verified.ok and verified.pruned == 400 and verified.heads["big"][0] == 399


# ---------------------------------------------------------------------------- tampering after a prune


@pytest.fixture
def pruned(store: BaseAuditStore) -> BaseAuditStore:
    fill(store)
    prune(store, NINETY_DAYS, KEY, now=NOW)
    assert store.verify(KEY).ok
    return store


def broken(store: BaseAuditStore, key: CheckpointKey = KEY) -> tuple[str, str]:
    result = store.verify(key)
    assert not result.ok and result.broken is not None
    return result.broken.kind, result.describe()


def test_a_forged_checkpoint_is_detected(pruned: BaseAuditStore) -> None:
    first = next(r for r in pruned.query(AuditQuery(limit=None)) if (r.chain, r.seq) == ("mixed", 21))
    edit_record(pruned, "mixed", 21)  # hide a record, and move the anchor over it
    edit_checkpoint(pruned, "mixed", seq=21, hash=first.hash, pruned=22)
    kind, text = broken(pruned)
    assert kind == "checkpoint" and "chain mixed (seq 21)" in text and "signature does not match" in text


def test_a_checkpoint_signed_with_another_key_is_named(pruned: BaseAuditStore) -> None:
    other = CheckpointKey.from_secret("another key, just as long as the first")
    kind, text = broken(pruned, other)
    assert kind == "checkpoint" and f"key id {KEY.key_id}" in text and f"has id {other.key_id}" in text


def test_a_removed_checkpoint_shows_the_pruned_records_as_deleted(pruned: BaseAuditStore) -> None:
    drop_checkpoints(pruned)
    kind, text = broken(pruned)
    assert kind == "deleted" and "seq 0 to 20 of this chain is missing" in text


def test_an_edited_first_record_after_the_checkpoint_is_detected(pruned: BaseAuditStore) -> None:
    edit_record(pruned, "mixed", 21, user="mallory")
    kind, text = broken(pruned)
    assert kind == "edited" and "seq 21" in text and "does not match its hash" in text


def test_a_forged_first_record_after_the_checkpoint_is_detected(pruned: BaseAuditStore) -> None:
    first = next(r for r in pruned.query(AuditQuery(limit=None)) if (r.chain, r.seq) == ("mixed", 21))
    forged = replace(first, prev_hash="f" * 64, user="mallory")
    digest = link(forged.prev_hash, forged.chain, forged.seq, forged.content())
    edit_record(pruned, "mixed", 21, prev_hash=forged.prev_hash, user="mallory", hash=digest)
    kind, text = broken(pruned)
    assert kind == "edited"
    assert "prev_hash does not match the hash of the checkpoint of this chain (seq 20)" in text


def test_verify_without_the_key_says_what_it_needs(pruned: BaseAuditStore) -> None:
    with pytest.raises(Exception, match=f"needs the key that signed them \\(key id {KEY.key_id}\\)"):
        pruned.verify()


# ---------------------------------------------------------------------------- what a prune refuses, or leaves


def test_a_chain_that_does_not_verify_is_not_pruned(store: BaseAuditStore) -> None:
    chains = fill(store)
    edit_record(store, "old", 3, user="mallory")
    result = prune(store, NINETY_DAYS, KEY, now=NOW)
    assert [(p.chain, p.kind, p.seq) for p in result.refused] == [("old", "edited", 3)]
    assert [p.chain for p in result.chains] == ["mixed"] and result.pruned == 21
    assert remaining(store, "old") == list(range(30))  # left for `verify` to show
    assert "1 chain(s) not pruned" in result.describe()
    edit_record(store, "old", 3, user=chains["old"][3].user)
    edit_record(store, "old", 5)  # a record missing in the middle
    result = prune(store, NINETY_DAYS, KEY, now=NOW)
    assert [(p.chain, p.kind, p.seq) for p in result.refused] == [("old", "deleted", 6)]


def test_a_prune_stopped_after_its_checkpoints_verifies_and_is_finished_later(store: BaseAuditStore) -> None:
    records = sealed("a", entries(20), START)
    store.write(records)
    store.save_checkpoints([Checkpoint.sign("a", seq=9, hash=records[9].hash, time=NOW, key=KEY)])
    verified = store.verify(KEY)  # records 0..9 are still there, behind the checkpoint
    assert verified.ok and verified.pruned == 10, verified.describe()
    result = prune(store, NINETY_DAYS, KEY, now=START + timedelta(days=90, seconds=4.5))
    assert result.pruned == 10 and remaining(store, "a") == list(range(10, 20))
    store.write(records[:10])  # a spill file replayed late brings pruned records back: harmless
    assert store.verify(KEY).ok
    older = Checkpoint.sign("a", seq=4, hash=records[4].hash, time=NOW, key=KEY)
    store.save_checkpoints([older])  # checkpoints never move back
    assert [m.seq for m in store.checkpoints()] == [9]


def test_a_prune_told_to_stop_while_it_reads_changes_nothing(store: BaseAuditStore) -> None:
    fill(store)
    stop = threading.Event()
    stop.set()
    result = prune(store, NINETY_DAYS, KEY, now=NOW, stop=stop)
    assert (result.pruned, result.chains, result.refused) == (0, [], [])
    assert store.checkpoints() == [] and len(store.query(AuditQuery(limit=None))) == 80


# ---------------------------------------------------------------------------- concurrency, space


def test_writes_during_a_prune_lose_nothing(open_store: Callable[[], BaseAuditStore], tmp_path: Path) -> None:
    store = open_store()
    backlog = 12_000
    store.write(sealed("backlog", entries(backlog, size=100), START))
    audit = AuditLogger(store=open_store(), spill_file=tmp_path / "spill.jsonl", batch_size=20,
                        flush_interval=0.005)  # fmt: skip
    stop, counts = threading.Event(), {"during": 0}

    def record() -> None:
        while not stop.wait(0.0005):  # a busy gateway, not a tight loop that only measures the disk
            audit.record(server="fs", tool="write_file", user="bob", params={"n": 1})

    writer = threading.Thread(target=record)
    writer.start()
    try:
        audit.flush()
        before = audit.stats.recorded
        result = prune(store, RetentionPolicy(max_age=timedelta(days=90), batch_size=500), KEY)
        counts["during"] = audit.stats.recorded - before
    finally:
        stop.set()
        writer.join(10)
    assert audit.close(timeout=20)
    stats = audit.stats
    assert result.pruned == backlog and counts["during"] > 0
    assert (stats.failed, stats.written + stats.replayed >= stats.recorded) == (0, True)
    assert remaining(store, audit.chain) == list(range(stats.recorded))  # every one, once
    assert remaining(store, "backlog") == []
    verified = store.verify(KEY)
    assert verified.ok and verified.pruned == backlog, verified.describe()


def test_sqlite_gives_space_back_when_asked(tmp_path: Path) -> None:
    store, file = SqliteAuditStore(tmp_path / "fleet.db"), tmp_path / "fleet.db"
    store.write(sealed("a", entries(3000, size=1000), START))
    full = store.size_bytes()
    result = prune(store, NINETY_DAYS, KEY, now=NOW + timedelta(days=1))
    assert result.pruned == 3000 and "free pages are reused by new records" in result.reclaimed
    assert store.size_bytes() == file.stat().st_size > 3000 * 1000  # the WAL is emptied, the file kept
    vacuumed = prune(store, NINETY_DAYS, KEY, now=NOW + timedelta(days=1), vacuum=True)
    assert vacuumed.pruned == 0 and "VACUUM rewrote the database" in vacuumed.describe()
    assert store.size_bytes() < full // 10
    store.write(sealed("b", entries(3000, size=1000), START))
    grown = store.size_bytes()
    result = prune(store, NINETY_DAYS, KEY, now=NOW + timedelta(days=1))
    assert "incremental vacuum gave" in result.reclaimed and store.size_bytes() < grown // 10
    assert store.verify(KEY).ok
    store.close()


def test_store_sizes(store: BaseAuditStore, tmp_path: Path) -> None:
    empty = store.size_bytes()
    store.write(sealed("a", entries(500, size=500), START))
    assert store.size_bytes() > empty + 500 * 500 // 2
    if isinstance(store, JsonlAuditStore):
        assert store.size_bytes() == (tmp_path / "audit.jsonl").stat().st_size
