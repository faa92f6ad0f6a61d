"""AuditLogger: the decorator, the hot-path record(), a full queue, a store that goes away."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audit_helpers import HeldStore
from mcpfleet.audit import AuditLogger, JsonlAuditStore, PostgresAuditStore, SqliteAuditStore
from mcpfleet.audit.masking import MASK
from mcpfleet.audit.records import AuditQuery
from mcpfleet.config import FleetConfig
from mcpfleet.exceptions import AuditError, ToolCallError
from mcpfleet.logs import request_id

pytestmark = pytest.mark.timeout(30)


async def test_guide_example(tmp_path: Path) -> None:
    audit = AuditLogger(log_file=tmp_path / "audit.log", include_params=True, mask_sensitive=True)

    @audit.log_operation
    async def execute_sensitive_operation(server: str, tool: str, params: dict[str, object]) -> str:
        """Execute and audit sensitive operations."""
        await asyncio.sleep(0)
        return f"{server}/{tool}"

    request_id.set("req-42")
    assert await execute_sensitive_operation("filesystem", "read_file", {"path": "/x", "token": "t0k"}) == (
        "filesystem/read_file"
    )
    logs = audit.query(server="filesystem", start_time=datetime.now() - timedelta(hours=24))
    assert len(logs) == 1
    record = logs[0]
    assert (record.server, record.tool, record.outcome, record.request_id) == (
        "filesystem", "read_file", "success", "req-42",
    )  # fmt: skip
    assert record.params == {"params": {"path": "/x", "token": MASK}}
    assert record.latency_ms is not None and record.latency_ms >= 0
    assert execute_sensitive_operation.__name__ == "execute_sensitive_operation"
    assert execute_sensitive_operation.__doc__ == "Execute and audit sensitive operations."
    assert audit.query(server="filesystem", user="admin") == []
    await audit.aclose()


async def test_decorator_records_errors_and_reraises_them_unchanged(tmp_path: Path) -> None:
    audit = AuditLogger(log_file=tmp_path / "audit.jsonl")
    failure = ToolCallError(
        "fs", "tools/call", -32000, "disk on fire, password=hunter2 sk-abcdefghijklmnop1234"
    )

    @audit.log_operation
    async def call(server: str, tool: str, user: str, **arguments: object) -> None:
        raise failure

    @audit.log_operation
    def sync_call(path: str, api_key: str) -> str:
        return path.upper()

    with pytest.raises(ToolCallError) as caught:
        await call("fs", "write_file", user="ann", path="/etc/passwd", Authorization="Bearer abcdefghijkl")
    assert caught.value is failure
    assert sync_call("/tmp", api_key="k") == "/TMP"
    with pytest.raises(TypeError):
        sync_call("/only-one-argument")  # type: ignore[call-arg]
    newest, middle, oldest = audit.query()
    assert (oldest.server, oldest.tool, oldest.user, oldest.outcome) == ("fs", "write_file", "ann", "error")
    assert oldest.params == {"path": "/etc/passwd", "Authorization": MASK}
    assert oldest.error is not None and oldest.error.startswith("ToolCallError: fs: tools/call failed")
    assert "sk-abcdefghijklmnop1234" not in oldest.error
    assert (middle.tool, middle.outcome, middle.params) == (
        "sync_call",
        "success",
        {"path": "/tmp", "api_key": MASK},
    )
    assert (newest.outcome, newest.error) == ("error", newest.error)
    assert newest.error is not None and newest.error.startswith("TypeError")
    assert audit.verify().ok
    audit.close()


def test_decorator_refuses_generators(tmp_path: Path) -> None:
    with AuditLogger(log_file=tmp_path / "a.jsonl") as audit, pytest.raises(AuditError, match="generator"):

        @audit.log_operation
        def numbers() -> object:
            yield 1


def test_record_checks_its_input_and_honours_include_params(tmp_path: Path) -> None:
    with AuditLogger(log_file=tmp_path / "a.jsonl", include_params=False) as audit:
        assert audit.record(server="fs", params={"x": 1}).params is None
        with pytest.raises(AuditError, match="server must be a string"):
            audit.record(server=7)  # type: ignore[arg-type]
        with pytest.raises(AuditError, match="outcome must be a non-empty string"):
            audit.record(outcome="")
        long = audit.record(tool="t" * 1000, client="10.0.0.1\x00")
        assert len(long.tool or "") == 255 and "\x00" not in (long.client or "")
    with pytest.raises(AuditError, match="closed"):
        audit.record(server="fs")


def test_constructor_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="exactly one of log_file"):
        AuditLogger()
    with pytest.raises(AuditError, match="needs spill_file"):
        AuditLogger(store=PostgresAuditStore("postgresql://127.0.0.1/test"))
    with pytest.raises(AuditError, match="queue_size must be"):
        AuditLogger(log_file=tmp_path / "a.jsonl", queue_size=0)


def test_full_queue_never_blocks_and_loses_nothing(tmp_path: Path) -> None:
    store = HeldStore(tmp_path / "fleet.db")
    store.hold.clear()  # the database is stuck: every write waits
    audit = AuditLogger(store=store, queue_size=5, batch_size=2)
    first = audit.record(server="fs", tool="t")
    store.waiting.wait(5)
    started = time.monotonic()
    for i in range(300):
        audit.record(server="fs", tool="t", params={"i": i})
    assert time.monotonic() - started < 5  # all 300 returned while the store still holds the first write
    assert not store.hold.is_set()
    assert audit.stats.spilling and audit.queue_depth > 0
    assert audit.flush(timeout=0.05) is False
    store.hold.set()
    assert audit.flush(timeout=20)
    stats = audit.stats
    assert stats.recorded == 301 and stats.spilled > 0 and stats.replayed == stats.spilled
    assert stats.written + stats.spilled == 301 and stats.failed == 0 and stats.queue_depth == 0
    stored = audit.query(limit=None)
    assert len(stored) == 301 and len({r.id for r in stored}) == 301 and stored[-1] == first
    assert audit.verify().ok
    assert audit.close()


def test_a_queue_that_keeps_overflowing_still_reaches_a_jsonl_file_in_order(tmp_path: Path) -> None:
    # The JSONL store skips a record older than the newest of its chain (a replay's duplicate):
    # records recorded while the spiller still held older ones must not overtake them.
    audit = AuditLogger(log_file=tmp_path / "audit.jsonl", queue_size=8, batch_size=4, flush_interval=0.001)
    for i in range(20_000):
        audit.record(server="fs", tool="t", params={"i": i})
    assert audit.close(timeout=20)
    stats = audit.stats
    assert stats.spilled > 0 and stats.failed == 0
    seqs = [item.record.seq for item in JsonlAuditStore(tmp_path / "audit.jsonl").scan() if item.record]
    assert seqs == list(range(20_000))  # every one, once, in order
    assert JsonlAuditStore(tmp_path / "audit.jsonl").verify().ok


def test_store_down_spills_and_replays_when_back(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log folder should be")  # the store cannot write: ENOTDIR
    store = JsonlAuditStore(blocker / "audit.jsonl")
    spill = tmp_path / "spill.jsonl"
    audit = AuditLogger(store=store, spill_file=spill, batch_size=3)
    for i in range(10):
        audit.record(server="fs", tool="t", params={"i": i})
    assert audit.flush(timeout=0.3) is False
    assert audit.stats.spilling and audit.stats.spilled == 10
    assert len(spill.read_text().splitlines()) == 10
    blocker.unlink()  # the store is back
    assert audit.flush(timeout=10)
    assert spill.read_text() == ""
    assert audit.stats.replayed == 10
    assert [r.params for r in audit.query()] == [{"i": i} for i in reversed(range(10))]
    assert audit.verify().ok
    audit.close()


def test_close_with_store_down_keeps_records_for_the_next_start(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("not a folder")
    spill = tmp_path / "spill.jsonl"
    audit = AuditLogger(store=JsonlAuditStore(blocker / "audit.jsonl"), spill_file=spill)
    records = [audit.record(server="fs", tool="t", params={"i": i}) for i in range(5)]
    assert audit.close(timeout=0.5) is False
    assert len(spill.read_text().splitlines()) == 5
    blocker.unlink()
    with AuditLogger(store=JsonlAuditStore(blocker / "audit.jsonl"), spill_file=spill) as later:
        later.record(server="fs", tool="after")
        assert later.flush(timeout=10)
        stored = later.query(limit=None)
    assert {r.id for r in records} < {r.id for r in stored} and len(stored) == 6
    assert JsonlAuditStore(blocker / "audit.jsonl").verify().ok


def test_from_config_uses_the_fleet_database_and_home(tmp_path: Path) -> None:
    config = FleetConfig(home=str(tmp_path / "home"))
    with AuditLogger.from_config(config) as audit:
        assert isinstance(audit.store, SqliteAuditStore)
        audit.record(server="fs", tool="t", params={"password": "p"})
        assert audit.query()[0].params == {"password": MASK}
    assert (tmp_path / "home" / "fleet.db").exists()
    config.audit.store = "jsonl"
    config.audit.mask_sensitive = False
    with AuditLogger.from_config(config) as audit:
        audit.record(server="fs", tool="t", params={"password": "p"})
        assert audit.query()[0].params == {"password": "p"}
    assert (tmp_path / "home" / "audit.jsonl").exists()


def test_submitted_calls_are_sealed_in_order_with_recorded_ones_and_none_is_lost(tmp_path: Path) -> None:
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "fleet.db"), flush_interval=0.05)
    token = request_id.set("req-1")
    try:
        for i in range(500):
            audit.submit(server="fs", tool="t", params={"i": i, "password": "hunter2"}, latency_ms=0.5)
            if i % 100 == 99:  # record() seals what was submitted before it, then itself
                assert audit.record(server="fs", tool="sync", params={"i": i}).seq == i + 1 + i // 100
    finally:
        request_id.reset(token)
    assert audit.stats.recorded == 505
    audit.submit(server="fs", tool="last")  # still waiting to be sealed when close() begins
    assert audit.close()  # what waits is sealed and stored
    with pytest.raises(AuditError, match="closed"):
        audit.submit(server="fs")
    store = SqliteAuditStore(tmp_path / "fleet.db")
    result = store.verify()
    assert result.ok and result.records == 506
    stored = sorted(store.query(AuditQuery(limit=None)), key=lambda r: r.seq)
    assert [r.tool for r in stored[99:102]] == ["t", "sync", "t"] and stored[-1].tool == "last"
    assert stored[0].params == {"i": 0, "password": MASK} and stored[0].request_id == "req-1"
    store.close()


def test_submit_checks_its_input_at_once(tmp_path: Path) -> None:
    with AuditLogger(log_file=tmp_path / "a.jsonl", include_params=False) as audit:
        with pytest.raises(AuditError, match="server must be a string"):
            audit.submit(server=7)  # type: ignore[arg-type]
        with pytest.raises(AuditError, match="latency_ms must be a number"):
            audit.submit(latency_ms="fast")  # type: ignore[arg-type]
        for odd in (float("nan"), float("inf")):  # no canonical JSON for it: refused here, not lost later
            with pytest.raises(AuditError, match="latency_ms must be a number of milliseconds \\(finite\\)"):
                audit.record(latency_ms=odd)
        audit.submit(server="fs", params={"x": 1}, request_id="r-9")
        (record,) = audit.query(limit=None)
    assert record.params is None and record.request_id == "r-9" and record.server == "fs"


async def test_on_an_event_loop_what_a_turn_submits_is_sealed_at_its_end(tmp_path: Path) -> None:
    """The loop seals its own submissions (warm, no GIL contention with the writer), in order
    with records made from other threads; the writer thread only stores them."""
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "fleet.db"), flush_interval=30, batch_size=10_000)
    try:
        for i in range(3):
            audit.submit(server="fs", tool=f"t{i}")
        assert len(audit._pending) == 3  # noted only: sealing waits for the turn's end
        await asyncio.sleep(0)
        assert not audit._pending and audit.stats.queue_depth == 3  # sealed here, queued for the writer
        await asyncio.to_thread(audit.record, server="fs", tool="from-a-thread")
        audit.submit(server="fs", tool="t3")
        await asyncio.sleep(0)
    finally:
        assert audit.close()
    store = SqliteAuditStore(tmp_path / "fleet.db")
    stored = sorted(store.query(AuditQuery(limit=None)), key=lambda r: r.seq)
    assert [r.tool for r in stored] == ["t0", "t1", "t2", "from-a-thread", "t3"]
    assert store.verify().ok
    store.close()
