"""Registry mirror benchmark: how long a sync of the registry takes, and how fast search answers.

    .venv/bin/python bench/catalog.py [--servers 2000] [--searches 300] [--pg-url postgresql://127.0.0.1/test]

Prints one JSON object. The registry is the tests' stand-in (tests/catalog_helpers.py: uvicorn on
loopback, the official registry's API, ``--servers`` generated servers, one in ten with an older
version too, pages of 100). For SQLite (a file in a temporary folder) and, with ``--pg-url``,
PostgreSQL (its tables emptied first and after):

- ``full_sync_s``: the first ``sync_mirror`` (every page) and ``incremental_sync_s``: the next
  one after 20 servers changed (``updated_since``; it fetches those 20 only);
- ``mirror_search``: ``RegistryMirror.search`` latency (one LIKE scan per word, ranking in
  Python), p50/p95 over ``--searches`` queries of one or two words (a topic, sometimes a kind);
- ``catalog_search``: ``Catalog.search`` from the mirror: what ``mcpfleet search`` and the agents'
  ``fleet__find_servers`` pay (built-in catalog first, entries as pydantic models).

Target (issue 20): search over 2,000 entries under 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lib import cli
from lib.stats import percentile

from mcpfleet.catalog import Catalog, RegistryClient
from mcpfleet.catalog.mirror import RegistryMirror
from mcpfleet.catalog.sync import sync_mirror
from mcpfleet.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the registry stand-in
from catalog_helpers import RegistryStandIn, run_registry, words_of

TARGET_MS = 50.0


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 2),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def clear(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM catalog_mirror")
        conn.exec_driver_sql("DELETE FROM catalog_mirror_state")


async def measure(database: Database, servers: int, searches: int) -> dict[str, Any]:
    standin = RegistryStandIn.generated(servers)
    mirror = RegistryMirror(database)
    mirror.create_tables()
    clear(database)
    with run_registry(standin) as url:
        started = time.perf_counter()
        full = await sync_mirror(mirror, RegistryClient(url))
        full_s = time.perf_counter() - started
        for name in random.Random(1).sample(standin.names(), 20):
            standin.update(name, description="changed for the benchmark")
        started = time.perf_counter()
        incremental = await sync_mirror(mirror, RegistryClient(url))
        incremental_s = time.perf_counter() - started
    rng = random.Random(7)
    queries = [words_of(rng) for _ in range(searches)]
    raw, hits = [], []
    for query in queries:
        started = time.perf_counter()
        found = mirror.search(query.split(), limit=30)
        raw.append(time.perf_counter() - started)
        hits.append(len(found))
    catalog = Catalog(url, mirror=mirror)  # the stand-in is stopped: answers come from the mirror
    through = []
    for query in queries:
        started = time.perf_counter()
        await catalog.search(query, limit=30)
        through.append(time.perf_counter() - started)
    assert "mirror" in catalog.last_source, catalog.last_source
    return {
        "entries": full.fetched,
        "servers_offered": full.offered,
        "pages": full.pages,
        "full_sync_s": round(full_s, 3),
        "incremental_sync_s": round(incremental_s, 3),
        "incremental_fetched": incremental.fetched,
        "mirror_search": {**summary(raw), "mean_hits": round(sum(hits) / len(hits), 1)},
        "catalog_search": summary(through),
        "search_under_target": percentile(through, 0.95) * 1000 < TARGET_MS,
    }


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--servers", type=int, default=2000)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--pg-url", default=None, help="also measure PostgreSQL at this URL")
    args = parser.parse_args()
    results: dict[str, Any] = {"servers": args.servers, "searches": args.searches, "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = Database(f"sqlite:///{folder}/fleet.db")
        results["sqlite"] = await measure(sqlite, args.servers, args.searches)
        sqlite.dispose()
    if args.pg_url:
        postgres = Database(args.pg_url)
        try:
            results["postgresql"] = await measure(postgres, args.servers, args.searches)
        finally:
            clear(postgres)
            postgres.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
