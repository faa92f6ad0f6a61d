"""The Redis cache against a real Redis: strategies, TTLs, replicas sharing one namespace, outages."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis
from redis.asyncio import Redis

from cache_helpers import SHARED_REDIS, VICTIM, victims_of_one_eviction
from helpers import FakeClock, free_port, redis_server, until
from mcpfleet.cache import CacheStrategy, MCPCache, key
from mcpfleet.cache.redis import RedisCache

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test:cache:{uuid.uuid4().hex[:10]}:"
    yield name
    client = Redis.from_url(SHARED_REDIS)
    try:
        async for found in client.scan_iter(match=name + "*", count=1000):
            await client.delete(found)
    finally:
        await client.aclose()


@pytest.fixture
async def replica(prefix: str) -> AsyncIterator[Callable[..., RedisCache]]:
    """Makes RedisCache instances on the shared Redis, each with a client of its own."""
    made: list[RedisCache] = []

    def make(**settings: object) -> RedisCache:
        cache = RedisCache(SHARED_REDIS, key_prefix=prefix, **settings)  # type: ignore[arg-type]
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.aclose()


@pytest.mark.parametrize("strategy", list(CacheStrategy))
async def test_each_strategy_evicts_its_own_victim(
    replica: Callable[..., RedisCache], strategy: CacheStrategy
) -> None:
    cache = replica(strategy=strategy, max_size=4)
    assert await victims_of_one_eviction(cache) == [VICTIM[strategy.value]]
    assert cache.stats().evictions == 1 and cache.size == 4


async def test_entries_expire_in_redis(replica: Callable[..., RedisCache], prefix: str) -> None:
    cache = replica(ttl=60)
    await cache.set("short", {"x": 1}, ttl=0.2)
    await cache.set("long", {"x": 2})
    assert await cache.get("short") == {"x": 1}
    found: list[object] = [True]

    async def probe() -> None:
        found[0] = await cache.get("short")

    deadline = time.monotonic() + 5
    while found[0] is not None:
        assert time.monotonic() < deadline, "the entry never expired"
        await probe()
        await asyncio.sleep(0.02)
    await cache.set("another", {"x": 3})  # a write forgets entries Redis has expired
    client = Redis.from_url(SHARED_REDIS)
    try:
        assert sorted(await client.zrange(prefix + "order", 0, -1)) == [
            (prefix + "v:another").encode(), (prefix + "v:long").encode()
        ]  # fmt: skip
        assert 59_000 < await client.pttl(prefix + "v:long") <= 60_000
    finally:
        await client.aclose()
    assert cache.size == 2


async def test_replicas_share_entries_invalidations_and_the_bound(replica: Callable[..., RedisCache]) -> None:
    one, two = replica(max_size=5), replica(max_size=5)
    await one.set(key("github", "list_repos", {"org": "acme"}), {"repos": ["a"]})
    assert await two.get(key("github", "list_repos", {"org": "acme"})) == {"repos": ["a"]}
    for n in range(4):
        await one.set(key("github", "get", {"n": n}), {"n": n})
        await two.set(key("gitlab", "get", {"n": n}), {"n": n})
    assert one.evictions + two.evictions == 4  # 9 written, 5 kept: for both replicas together
    assert two.size == 5
    assert await two.invalidate(server="gitlab") == 3
    assert [await one.get(key("gitlab", "get", {"n": n})) for n in range(4)] == [None] * 4
    assert await one.get(key("github", "get", {"n": 3})) == {"n": 3}
    assert two.size == 2  # as of its own last write or invalidation


async def test_invalidate_by_server_by_tool_and_both_matches_exactly(
    replica: Callable[..., RedisCache],
) -> None:
    cache = replica()
    names = [("git*", "list"), ("github", "list"), ("github", "get"), ("gitlab", "get"), ("gitlab", "x")]
    for server, tool in names:
        for scope in (None, "get"):  # a principal named like a tool is not that tool
            await cache.set(key(server, tool, {"q": 1}, scope=scope), {"from": f"{server}/{tool}"})
    assert await cache.invalidate(server="git*") == 2  # the name, not a glob
    assert await cache.invalidate(server="github", tool="list") == 2
    assert await cache.invalidate(tool="get") == 4
    remaining = [await cache.get(key(s, t, {"q": 1}, scope=p)) for s, t in names for p in (None, "get")]
    assert remaining == [None] * 8 + [{"from": "gitlab/x"}] * 2
    await cache.clear()
    assert cache.size == 0 and await cache.get(key("gitlab", "x", {"q": 1})) is None


async def test_a_sync_client_works_without_blocking_the_loop(prefix: str) -> None:
    sync = redis.Redis.from_url(SHARED_REDIS)
    try:
        cache = MCPCache(backend=sync, strategy=CacheStrategy.LRU, max_size=10, ttl=30, key_prefix=prefix)
        assert isinstance(cache.backend, RedisCache) and cache.backend.client is not sync
        entry = key("filesystem", "list", {"path": "/"})
        await cache.set(entry, {"content": [{"type": "text", "text": "etc"}]})
        assert sync.get(prefix + "v:" + entry) == b'{"content":[{"type":"text","text":"etc"}]}'
        assert (await cache.get(entry))["content"][0]["text"] == "etc"
        await cache.aclose()
    finally:
        sync.close()


def test_a_backend_of_another_kind_is_refused() -> None:
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis or a URL, not a dict"):
        MCPCache(backend={"host": "localhost"})  # type: ignore[arg-type]


async def test_outage_goes_uncached_then_resumes_on_the_same_port(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcpfleet.cache")
    port = free_port()
    clock = FakeClock(frozen=False)
    cache = MCPCache(f"redis://127.0.0.1:{port}/0", ttl=60, redis_timeout=0.2, probe_interval=30, clock=clock)
    upstream: list[str] = []
    latencies: list[float] = []
    stop = asyncio.Event()

    @cache.cached()
    async def call(server: str, n: int) -> dict[str, int]:
        upstream.append(server)
        return {"n": n}

    async def traffic() -> None:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            assert await call("echo", n % 20) == {"n": n % 20}
            latencies.append(time.perf_counter() - started)
            n += 1
            await asyncio.sleep(0)

    backend = cache.backend
    assert isinstance(backend, RedisCache)
    async with cache:
        async with redis_server(port) as first:
            load = asyncio.create_task(traffic())
            try:
                await until(lambda: len(latencies) >= 100)
                assert len(upstream) == 20 and backend.available  # the rest were hits
                os.killpg(first.pid, signal.SIGKILL)  # mid-traffic
                await first.wait()
                await until(lambda: not backend.available)
                seen, called = len(latencies), len(upstream)
                await until(lambda: len(latencies) >= seen + 200)  # calls keep flowing, uncached
                assert len(upstream) >= called + 200
            except BaseException:
                stop.set()
                await load
                raise
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "uncached" in warnings[0].getMessage()
        assert backend.outages == 1 and cache.stats().bypassed >= 400 and cache.stats().errors >= 1

        async with redis_server(port):  # back on the same port, empty
            try:
                seen = len(latencies)
                await until(lambda: len(latencies) >= seen + 50)
                assert not backend.available  # no probe before probe_interval has passed
                clock.advance(30)
                await until(lambda: backend.available)
                await until(lambda: cache.stats().hits >= 200)  # caching again
                called = len(upstream)
                seen = len(latencies)
                await until(lambda: len(latencies) >= seen + 100)
                assert len(upstream) == called
            finally:
                stop.set()
                await load
    assert max(latencies) < 1.0  # never held beyond the short Redis timeout
    assert backend.outages == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_invalidations_during_an_outage_are_replayed_before_reads_resume() -> None:
    port = free_port()
    clock = FakeClock(frozen=False)
    async with redis_server(port) as server:
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", redis_timeout=0.2, probe_interval=5, clock=clock)
        async with cache:
            await cache.set(key("github", "list", {}), {"old": True})
            await cache.set(key("time", "now", {}), {"kept": True})
            os.kill(server.pid, signal.SIGSTOP)  # Redis hangs, and keeps its data
            try:
                assert await cache.get(key("time", "now", {})) is None  # one timeout
                assert not cache.available
                assert await cache.invalidate(server="github") == 0  # remembered, not done
            finally:
                os.kill(server.pid, signal.SIGCONT)
            clock.advance(5)
            await cache.get(key("time", "now", {}))  # due: starts the probe
            await until(lambda: cache.available)
            assert await cache.get(key("github", "list", {})) is None
            assert await cache.get(key("time", "now", {})) == {"kept": True}


async def test_a_redis_that_never_answers_does_not_hold_calls() -> None:
    with socket.socket() as silent:  # accepts connections (in its backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        async with RedisCache(f"redis://127.0.0.1:{port}/0", redis_timeout=0.2) as cache:
            started = time.perf_counter()
            assert await cache.get("k") is None
            assert time.perf_counter() - started < 0.5  # one timeout, no retries
            started = time.perf_counter()
            await cache.set("k", {"v": 1})
            assert await cache.get("k") is None
            assert time.perf_counter() - started < 0.05
            assert cache.stats().bypassed == 3 and cache.stats().errors == 1


async def test_values_that_are_not_json_are_refused(replica: Callable[..., RedisCache]) -> None:
    with pytest.raises(TypeError, match=r"cache values must be JSON-able \(Redis stores JSON\)"):
        await replica().set("k", {"when": object()})
