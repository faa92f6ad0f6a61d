"""Audit store benchmark: records per second into SQLite and PostgreSQL.

    .venv/bin/python bench/audit.py [--records 50000] [--batch 500] [--pg-url postgresql://127.0.0.1/test]

Prints one JSON object. For each store, two figures:

- ``end_to_end``: ``AuditLogger.record()`` called ``--records`` times (masking, sealing the hash
  chain, queueing), then ``flush()`` until all are in the store; records / wall time. Also the
  mean cost of one ``record()`` call on the caller's thread.
- ``raw_insert``: the store's own ``write()`` of pre-built batches of ``--batch`` records.

PostgreSQL gets a table of its own, dropped afterwards. Target (issue): at least 10,000 records
per second end to end, into each store.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from lib import cli

from mcpfleet.audit import AuditLogger, AuditRecord, BaseAuditStore, PostgresAuditStore, SqliteAuditStore
from mcpfleet.audit.chain import link
from mcpfleet.audit.records import GENESIS

TARGET = 10_000


def params(i: int) -> dict[str, Any]:
    return {"path": f"/data/reports/{i}.csv", "mode": "r", "limit": 100, "headers": {"Authorization": "x"}}


def prebuilt(count: int) -> list[AuditRecord]:
    chain, prev, out = f"bench-{uuid.uuid4().hex[:8]}", GENESIS, []
    for seq in range(count):
        draft = AuditRecord(
            id=uuid.uuid4().hex, time=datetime.now(UTC), chain=chain, seq=seq, prev_hash=prev, hash="",
            server="fs", tool="read_file", params=params(seq), user="bench", client="127.0.0.1",
            latency_ms=1.5, request_id=f"r{seq}",
        )  # fmt: skip
        record = replace(draft, hash=link(prev, chain, seq, draft.content()))
        out.append(record)
        prev = record.hash
    return out


def raw_insert(store: BaseAuditStore, count: int, batch: int) -> float:
    records = prebuilt(count)
    started = time.perf_counter()
    for start in range(0, count, batch):
        store.write(records[start : start + batch])
    return count / (time.perf_counter() - started)


def end_to_end(store: BaseAuditStore, spill: Path, count: int, batch: int) -> dict[str, float]:
    audit = AuditLogger(store=store, spill_file=spill, queue_size=count, batch_size=batch)
    started = time.perf_counter()
    for i in range(count):
        audit.record(server="fs", tool="read_file", params=params(i), user="bench", client="127.0.0.1")
    recorded = time.perf_counter() - started
    if not audit.flush(timeout=120):
        raise SystemExit(f"flush did not finish: {audit.stats}")
    total = time.perf_counter() - started
    stats = audit.stats
    audit.close()
    if stats.written + stats.replayed < count or stats.failed:
        raise SystemExit(f"records missing: {stats}")
    return {
        "records_per_s": round(count / total),
        "record_call_us_mean": round(recorded / count * 1e6, 1),
        "spilled": stats.spilled,
    }


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--pg-url", default=os.environ.get("MCPFLEET_TEST_PG", "postgresql://127.0.0.1:5432/test")
    )
    opts = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "audit", "cpus": os.cpu_count(), "records": opts.records}
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as tmp:
        folder = Path(tmp)
        sqlite = SqliteAuditStore(folder / "raw.db")
        results["sqlite"] = {"raw_insert_per_s": round(raw_insert(sqlite, opts.records, opts.batch))}
        sqlite.close()
        results["sqlite"]["end_to_end"] = end_to_end(
            SqliteAuditStore(folder / "fleet.db"), folder / "spill-sqlite.jsonl", opts.records, opts.batch
        )
        tables = [f"audit_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        try:
            store = PostgresAuditStore(opts.pg_url, table=tables[0])
            results["postgresql"] = {"raw_insert_per_s": round(raw_insert(store, opts.records, opts.batch))}
            store.close()
            results["postgresql"]["end_to_end"] = end_to_end(
                PostgresAuditStore(opts.pg_url, table=tables[1]), folder / "spill-pg.jsonl", opts.records,
                opts.batch,
            )  # fmt: skip
        finally:
            with psycopg.connect(opts.pg_url, autocommit=True) as conn:
                for table in tables:
                    conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    results["verdict"] = {
        f"{name}_at_least_{TARGET}_per_s": results[name]["end_to_end"]["records_per_s"] >= TARGET
        and results[name]["raw_insert_per_s"] >= TARGET
        for name in ("sqlite", "postgresql")
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
