"""PostgreSQL goes away mid-stream and comes back: every record stored exactly once, chain intact."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from audit_helpers import ThrowawayPostgres, wait_for
from mcpfleet.audit import AuditLogger, PostgresAuditStore

pytestmark = pytest.mark.timeout(60)


def test_postgres_stopped_mid_stream(throwaway_postgres: ThrowawayPostgres, tmp_path: Path) -> None:
    pg = throwaway_postgres
    spill = tmp_path / "spill.jsonl"
    audit = AuditLogger(
        store=PostgresAuditStore(pg.url), spill_file=spill, batch_size=50, flush_interval=0.05
    )
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            audit.record(server="fs", tool="write_file", params={"i": i, "token": "t"}, user="ann")
            i += 1
            stop.wait(0.0005)  # pacing, about 1,000 records a second

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: audit.stats.written >= 300, what="records written to PostgreSQL")
        pg.stop()  # immediate: in-flight transactions die, committed or not
        spilled_before = audit.stats.spilled
        wait_for(lambda: audit.stats.spilled >= spilled_before + 300, what="records spilling while down")
        assert audit.stats.spilling
        pg.start()
        wait_for(lambda: audit.stats.replayed > 0 and not audit.stats.spilling, within=20, what="replay")
        written_after = audit.stats.written
        wait_for(lambda: audit.stats.written >= written_after + 100, what="direct writes after the replay")
    finally:
        stop.set()
        producer.join(10)
    assert audit.flush(timeout=20)
    stats = audit.stats
    assert stats.failed == 0 and stats.queue_depth == 0
    with psycopg.connect(pg.url) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT id) FROM audit_records").fetchone()  # type: ignore[misc]
        seqs = [row[0] for row in conn.execute("SELECT seq FROM audit_records ORDER BY seq")]
    assert total == distinct == stats.recorded  # every record, exactly once
    assert seqs == list(range(stats.recorded))
    assert spill.read_text() == ""
    result = audit.verify()
    assert result.ok and result.records == stats.recorded, result.describe()
    assert audit.close()
