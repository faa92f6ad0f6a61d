"""The in-process cache: eviction order per strategy, expiry and invalidation on a fake clock."""

from __future__ import annotations

import pytest

from cache_helpers import VICTIM, victims_of_one_eviction
from helpers import FakeClock
from mcpfleet.cache import CacheStats, CacheStrategy, MemoryCache, key

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize("strategy", list(CacheStrategy))
async def test_each_strategy_evicts_its_own_victim(strategy: CacheStrategy) -> None:
    cache = MemoryCache(strategy=strategy, max_size=4, ttl=60, clock=FakeClock())
    assert await victims_of_one_eviction(cache) == [VICTIM[strategy.value]]
    assert cache.stats().evictions == 1 and cache.size == 4


async def test_lru_keeps_a_bounded_working_set() -> None:
    cache = MemoryCache(strategy="LRU", max_size=100, clock=FakeClock())
    for n in range(1000):
        await cache.set(key("s", "t", {"n": n}), {"n": n})
        assert await cache.get(key("s", "t", {"n": 0})) == {"n": 0}  # read all along: never evicted
    assert cache.size == 100
    assert cache.stats().evictions == 900
    assert await cache.get(key("s", "t", {"n": 999})) == {"n": 999}
    assert await cache.get(key("s", "t", {"n": 1})) is None


async def test_lfu_evicts_newcomers_before_entries_with_hits_and_survives_invalidation() -> None:
    cache = MemoryCache(strategy=CacheStrategy.LFU, max_size=3, clock=FakeClock())
    for name in "abc":
        await cache.set(key("s", name), name)
    for name in "aabbc":
        await cache.get(key("s", name))
    await cache.invalidate(tool="c")  # the lowest hit count is now empty
    await cache.set(key("s", "d"), "d")
    await cache.set(key("s", "e"), "e")  # full: d (no hits) goes, not a or b
    assert [await cache.get(key("s", n)) for n in "abde"] == ["a", "b", None, "e"]


async def test_fifo_ignores_reads_and_a_rewrite_counts_as_new() -> None:
    cache = MemoryCache(strategy=CacheStrategy.FIFO, max_size=2, clock=FakeClock())
    await cache.set("a", 1)
    await cache.set("b", 2)
    await cache.get("a")
    await cache.set("a", 10)  # now the newest
    await cache.set("c", 3)
    assert (await cache.get("a"), await cache.get("b"), await cache.get("c")) == (10, None, 3)


async def test_entries_expire_on_the_clock() -> None:
    clock = FakeClock()
    cache = MemoryCache(ttl=10, clock=clock)
    await cache.set("default", {"x": 1})
    await cache.set("short", {"x": 2}, ttl=1)
    clock.advance(0.99)
    assert await cache.get("short") == {"x": 2}
    clock.advance(0.02)
    assert await cache.get("short") is None
    assert await cache.get("default") == {"x": 1}
    clock.advance(9)
    assert await cache.get("default") is None
    assert cache.stats() == CacheStats(hits=2, misses=2, evictions=0, size=0, hit_ratio=0.5)


async def test_expired_entries_are_dropped_by_writes_and_never_count_as_evictions() -> None:
    clock = FakeClock()
    cache = MemoryCache(max_size=50, clock=clock)
    for n in range(50):
        await cache.set(f"old{n}", n, ttl=1)
    clock.advance(2)
    for n in range(50):
        await cache.set(f"new{n}", n)
    assert cache.size == 50
    assert cache.stats().evictions == 0
    assert all([await cache.get(f"new{n}") == n for n in range(50)])


async def test_ttl_strategy_skips_entries_whose_expiry_changed() -> None:
    cache = MemoryCache(strategy=CacheStrategy.TTL, max_size=2, clock=FakeClock())
    await cache.set("a", 1, ttl=5)
    await cache.set("b", 2, ttl=10)
    await cache.set("a", 1, ttl=100)  # rewritten: b now expires first
    await cache.set("c", 3, ttl=50)
    assert (await cache.get("a"), await cache.get("b"), await cache.get("c")) == (1, None, 3)


async def test_invalidate_by_server_by_tool_by_both_and_clear() -> None:
    cache = MemoryCache(clock=FakeClock())
    calls = [("github", "list"), ("github", "get"), ("gitlab", "list"), ("gitlab", "get")]
    for server, tool in calls:
        for scope in (None, "alice"):
            await cache.set(key(server, tool, {"q": 1}, scope=scope), {"from": server + tool})
    await cache.set("not-a-call-key", 1)
    assert await cache.invalidate(server="github", tool="list") == 2
    assert await cache.invalidate(tool="get") == 4
    assert await cache.invalidate(server="nope") == 0
    assert await cache.get(key("gitlab", "list", {"q": 1}, scope="alice")) == {"from": "gitlablist"}
    assert await cache.invalidate(server="gitlab") == 2
    assert cache.size == 1
    await cache.clear()
    assert cache.size == 0 and await cache.get("not-a-call-key") is None


def test_keys_are_canonical_and_keep_their_parts_apart() -> None:
    assert key("s", "t", {"b": [1, {"y": 2, "x": 1}], "a": "é"}) == key(
        "s", "t", {"a": "é", "b": [1, {"x": 1, "y": 2}]}
    )
    assert key("s", "t", {"a": 1}) != key("s", "t", {"a": "1"})
    assert key("s", "t") == key("s", "t", {})
    assert len({key("s", "t", None, scope) for scope in (None, "", "alice")}) == 3
    assert key("s", "t", {"tags": {"b", "a"}}) == key("s", "t", {"tags": ["a", "b"]})
    long = key("s", "t", {"text": "x" * 1000})
    assert len(long) < 100 and long != key("s", "t", {"text": "x" * 999})
    with pytest.raises(TypeError, match="cannot be part of a cache key"):
        key("s", "t", {"f": object()})
    with pytest.raises(ValueError, match="x1f"):
        key("s\x1ft", "t")
    with pytest.raises(ValueError, match="must be JSON"):
        key("s", "t", {"n": float("nan")})


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [({"max_size": 0}, "at least 1"), ({"ttl": 0}, "above 0"), ({"ttl": "1h"}, "above 0"),
     ({"strategy": "mru"}, "lru, lfu, fifo, ttl")],
)  # fmt: skip
def test_bad_settings_say_what_to_give(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        MemoryCache(**kwargs)  # type: ignore[arg-type]


async def test_none_and_bad_ttls_are_refused() -> None:
    cache = MemoryCache()
    with pytest.raises(ValueError, match="None cannot be cached"):
        await cache.set("k", None)
    with pytest.raises(ValueError, match="above 0"):
        await cache.set("k", 1, ttl=-1)
