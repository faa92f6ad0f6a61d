"""Rate-limit benchmark: what ``acquire()`` costs on the gateway's hot path.

    .venv/bin/python bench/ratelimit.py [--calls 20000] [--redis-url redis://127.0.0.1:6379/9]

Prints one JSON object: p50/p99 in microseconds per call, one call at a time, for the memory
backend and for Redis (one round trip each). Every call takes three buckets (principal,
server, tool glob) among 1000 principals; ``refused`` times calls that a bucket turns down.
Keys are written under a prefix of the run's own and deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid

from lib import cli
from lib.redis_keys import delete_prefix
from lib.stats import us_summary

from mcpfleet.exceptions import RateLimitedError
from mcpfleet.ratelimit import BaseRateLimiter, MemoryRateLimiter, RateLimitConfig
from mcpfleet.ratelimit.redis import RedisRateLimiter

PRINCIPALS = [f"user-{n}" for n in range(1000)]


def config(prefix: str, redis_url: str, tight: bool) -> RateLimitConfig:
    rate = {"rate": "1/hour", "burst": 1} if tight else {"rate": "1000000/s"}
    return RateLimitConfig.model_validate(
        {
            "backend": "redis", "redis_url": redis_url, "key_prefix": prefix,
            "principals": {"default": rate, "roles": {"admin": {"rate": "1000000/s"}}},
            "servers": {"default": {"rate": "1000000/s"},
                        "names": {"github": {"tools": {"create_*": {"rate": "1000000/s"}}}}},
        }
    )  # fmt: skip


async def timings(limiter: BaseRateLimiter, calls: int) -> list[float]:
    spent = []
    for n in range(calls):
        principal = PRINCIPALS[n % len(PRINCIPALS)]
        started = time.perf_counter_ns()
        with contextlib.suppress(RateLimitedError):
            await limiter.acquire(principal, ("user",), "github", "create_issue")
        spent.append((time.perf_counter_ns() - started) / 1000)
    return spent


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    opts = parser.parse_args()
    prefix = f"bench-rl-{uuid.uuid4().hex[:8]}:"
    results: dict[str, dict[str, float]] = {}
    for tight in (False, True):
        label = "refused" if tight else "allowed"
        memory = MemoryRateLimiter(config(prefix, opts.redis_url, tight))
        await timings(memory, 2000)  # warm-up: plans cached, buckets made
        results[f"memory_{label}"] = us_summary(await timings(memory, opts.calls))
        async with RedisRateLimiter(config(prefix, opts.redis_url, tight)) as shared:
            await timings(shared, 500)
            results[f"redis_{label}"] = us_summary(await timings(shared, opts.calls // 4))
            if not shared.using_redis:
                raise SystemExit(f"Redis at {opts.redis_url} did not answer; start it or pass --redis-url")
    await delete_prefix(opts.redis_url, prefix)
    print(
        json.dumps(
            {"benchmark": "ratelimit", "cpus": os.cpu_count(), "buckets_per_call": 3, **results}, indent=2
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
