"""Cache benchmark: what ``get`` and ``set`` cost on the gateway's hot path.

    .venv/bin/python bench/cache.py [--calls 20000] [--redis-url redis://127.0.0.1:6379/6]

Prints one JSON object: p50/p99 in microseconds per operation, one at a time, for the memory
backend and for Redis (one round trip each), per strategy: ``hit`` and ``miss`` are ``get``s,
``set`` writes into a full cache (so each write evicts). ``gateway_hit`` is what the gateway
adds to a call answered from the cache: ``policy_for`` + ``key`` + ``get``. Values are a
typical small MCP result (~300 bytes of JSON). Keys live under a prefix of the run's own and
are deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from lib import cli
from lib.redis_keys import delete_prefix
from lib.stats import us_summary

from mcpfleet.cache import BaseCache, CacheConfig, CacheStrategy, MemoryCache, key
from mcpfleet.cache.redis import RedisCache

RESULT = {
    "content": [{"type": "text", "text": "x" * 200}],
    "structuredContent": {"rows": 3, "table": "users"},
    "isError": False,
}
ENTRIES = 1000
POLICY = CacheConfig.model_validate(
    {
        "servers": {
            "postgres": {"tools": {"query": 60, "list_*": 300}, "read_only": True, "shared": ["list_*"]}
        }
    }
)


def entry(n: int) -> str:
    return key("postgres", "query", {"sql": f"select * from t{n % ENTRIES}", "limit": 10})


async def timings(calls: int, step: Callable[[int], Awaitable[Any]]) -> list[float]:
    spent = []
    for n in range(calls):
        started = time.perf_counter_ns()
        await step(n)
        spent.append((time.perf_counter_ns() - started) / 1000)
    return spent


async def measure(cache: BaseCache, calls: int) -> dict[str, dict[str, float]]:
    keys = [entry(n) for n in range(ENTRIES)]
    for k in keys:
        await cache.set(k, RESULT)

    async def hit(n: int) -> None:
        if await cache.get(keys[n % ENTRIES]) is None:
            raise SystemExit("a hit missed: the cache did not keep its entries")

    async def gateway_hit(n: int) -> None:
        ttl, shared = POLICY.policy_for("postgres", "query", {"readOnlyHint": True})
        k = key("postgres", "query", {"sql": f"select * from t{n % ENTRIES}", "limit": 10})
        if ttl is None or shared or await cache.get(k) is None:
            raise SystemExit("a gateway hit missed")

    async def miss(n: int) -> None:
        await cache.get(f"absent-{n}")

    async def write(n: int) -> None:
        await cache.set(f"new-{n}", RESULT)

    results = {}
    for name, step in (("hit", hit), ("gateway_hit", gateway_hit), ("miss", miss), ("set", write)):
        await timings(min(calls, 500), step)  # warm-up
        results[name] = us_summary(await timings(calls, step))
    return results


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    opts = parser.parse_args()
    prefix = f"bench-cache-{uuid.uuid4().hex[:8]}:"
    results: dict[str, Any] = {}
    for strategy in CacheStrategy:
        memory = MemoryCache(strategy=strategy, max_size=ENTRIES, ttl=600)
        results[f"memory_{strategy.value}"] = await measure(memory, opts.calls)
        async with RedisCache(
            opts.redis_url,
            strategy=strategy,
            max_size=ENTRIES,
            ttl=600,
            key_prefix=f"{prefix}{strategy.value}:",
        ) as shared:
            results[f"redis_{strategy.value}"] = await measure(shared, opts.calls // 4)
            if not shared.available:
                raise SystemExit(f"Redis at {opts.redis_url} did not answer; start it or pass --redis-url")
    await delete_prefix(opts.redis_url, prefix)
    print(json.dumps({"benchmark": "cache", "cpus": os.cpu_count(), "value_bytes": len(json.dumps(RESULT)),
                      **results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
