"""Shared by the cache tests: a clock the test moves, waiting on conditions, a Redis of our own."""

from __future__ import annotations

from mcpfleet.cache import BaseCache, key

SHARED_REDIS = "redis://127.0.0.1:6379/6"  # the shared test Redis; the cache tests' database


# One scenario, four victims: entries a-d (TTL 40, 30, 20, 10 s), read c c c a a d d d d b, then e
# is written into the full cache. LRU drops c (read longest ago), LFU b (read once), FIFO a
# (written first), TTL d (expires first).
TTLS = {"a": 40, "b": 30, "c": 20, "d": 10}
READS = "cccaaddddb"
VICTIM = {"lru": "c", "lfu": "b", "fifo": "a", "ttl": "d"}


async def victims_of_one_eviction(cache: BaseCache) -> list[str]:
    """Run the scenario on a cache with ``max_size=4``; the names no longer found."""
    for name, ttl in TTLS.items():
        await cache.set(key("srv", name), {"v": name}, ttl)
    for name in READS:
        assert await cache.get(key("srv", name)) == {"v": name}
    await cache.set(key("srv", "e"), {"v": "e"}, 50)
    return [name for name in "abcde" if await cache.get(key("srv", name)) is None]
