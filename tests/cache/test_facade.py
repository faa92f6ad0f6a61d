"""``MCPCache`` as the guide uses it: the decorator, warm-up, and the backend it picks."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cache_helpers import SHARED_REDIS
from helpers import FakeClock, until
from mcpfleet.cache import CacheConfig, CacheStrategy, MCPCache, MemoryCache

pytestmark = pytest.mark.timeout(15)


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[MCPCache]:
    if request.param == "memory":
        made = MCPCache(strategy=CacheStrategy.LRU, max_size=100, ttl=60)
    else:
        made = MCPCache(
            SHARED_REDIS, CacheStrategy.LRU, 100, 60, key_prefix=f"test:cache:{uuid.uuid4().hex}:"
        )
    async with made:
        yield made
        await made.clear()


class Upstream:
    """Stands in for ``manager.execute_tool``: counts calls, can be slow or fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gate: asyncio.Event | None = None
        self.fail_on: set[str] = set()

    async def execute_tool(self, server: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((server, params))
        if self.gate is not None:
            await self.gate.wait()
        if server in self.fail_on:
            raise ConnectionError(f"{server} is down")
        return {"content": [{"type": "text", "text": f"{server}:{sorted(params)}"}]}


async def test_same_arguments_make_one_call_different_ones_two(cache: MCPCache) -> None:
    upstream = Upstream()

    @cache.cached(ttl=1800)
    async def expensive_mcp_operation(server: str, params: dict[str, Any], limit: int = 10) -> dict[str, Any]:
        """Cached MCP operation."""
        return await upstream.execute_tool(server, {**params, "limit": limit})

    first = await expensive_mcp_operation("github", {"action": "list_repos", "org": "acme"})
    again = await expensive_mcp_operation(params={"org": "acme", "action": "list_repos"}, server="github")
    also = await expensive_mcp_operation("github", {"action": "list_repos", "org": "acme"}, limit=10)
    assert first == again == also and len(upstream.calls) == 1  # kwargs, order and defaults: one key
    await expensive_mcp_operation("github", {"action": "list_repos", "org": "other"})
    await expensive_mcp_operation("gitlab", {"action": "list_repos", "org": "acme"})
    await expensive_mcp_operation("github", {"action": "list_repos", "org": "acme"}, limit=5)
    assert len(upstream.calls) == 4
    assert expensive_mcp_operation.__doc__ == "Cached MCP operation."
    assert cache.stats().hits == 2 and cache.stats().misses == 4

    assert await cache.invalidate(server="github") == 3  # the server argument is the key's server
    await expensive_mcp_operation("github", {"action": "list_repos", "org": "acme"})
    await expensive_mcp_operation("gitlab", {"action": "list_repos", "org": "acme"})
    assert len(upstream.calls) == 5


async def test_concurrent_callers_share_one_call_and_failures_are_not_cached(cache: MCPCache) -> None:
    upstream = Upstream()
    upstream.gate = asyncio.Event()

    @cache.cached()
    async def op(server: str, params: dict[str, Any]) -> dict[str, Any]:
        return await upstream.execute_tool(server, params)

    waiting = [asyncio.create_task(op("slow", {"q": 1})) for _ in range(10)]
    await until(lambda: cache.stats().misses == 10)  # every caller has looked and now waits
    waiting[0].cancel()  # one caller gives up; the call goes on for the others
    upstream.gate.set()
    results = await asyncio.gather(*waiting[1:])
    assert len(upstream.calls) == 1 and all(r == results[0] for r in results)
    assert waiting[0].cancelled()

    upstream.fail_on.add("down")
    for _ in range(2):
        with pytest.raises(ConnectionError, match="down is down"):
            await op("down", {})
    assert len(upstream.calls) == 3


async def test_error_results_and_none_are_returned_but_not_cached() -> None:
    cache = MCPCache()
    calls = 0

    @cache.cached()
    async def tool(kind: str) -> dict[str, Any] | None:
        nonlocal calls
        calls += 1
        return None if kind == "none" else {"isError": True, "content": []}

    for kind in ("none", "none", "error", "error"):
        await tool(kind)
    assert calls == 4 and cache.stats().size == 0


async def test_entries_of_the_decorator_expire_after_its_ttl() -> None:
    clock = FakeClock()
    cache = MCPCache(ttl=3600, clock=clock)
    calls = 0

    @cache.cached(ttl=30)
    async def now(server: str) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"calls": calls}

    assert await now("time") == {"calls": 1}
    clock.advance(29)
    assert await now("time") == {"calls": 1}
    clock.advance(2)
    assert await now("time") == {"calls": 2}


async def test_methods_are_keyed_without_their_instance() -> None:
    cache = MCPCache()

    class Client:
        calls = 0

        @cache.cached()
        async def fetch(self, path: str) -> dict[str, str]:
            Client.calls += 1
            return {"path": path}

    await Client().fetch("/a")
    await Client().fetch(path="/a")
    assert Client.calls == 1


def test_the_decorator_wants_async_functions_and_sane_ttls() -> None:
    cache = MCPCache()
    with pytest.raises(TypeError, match="async def"):
        cache.cached()(lambda server: {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="above 0"):
        cache.cached(ttl=0)


async def test_warm_runs_the_guides_common_operations(cache: MCPCache) -> None:
    upstream = Upstream()

    @cache.cached(ttl=1800)
    async def expensive_mcp_operation(server: str, params: dict[str, Any]) -> dict[str, Any]:
        return await upstream.execute_tool(server, params)

    common_operations = [
        ("filesystem", {"action": "list", "path": "/"}),
        ("github", {"action": "list_repos"}),
        ("postgres", {"action": "list_tables"}),
    ]
    assert await cache.warm(common_operations, expensive_mcp_operation) == 3
    for server, params in common_operations:
        await expensive_mcp_operation(server, params)
    assert len(upstream.calls) == 3 and cache.stats().hits == 3


async def test_warm_takes_calls_and_awaitables_bounds_concurrency_and_counts_successes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = MCPCache()
    running = peak = 0

    @cache.cached()
    async def op(server: str, n: int = 0) -> dict[str, int]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        if server == "broken":
            raise RuntimeError("no such table")
        return {"n": n}

    calls: list[Any] = [(op, ("a",)), (op, ("b",), {"n": 2}), op("c"), (op, ["broken"])]
    calls += [(op, (f"s{n}",)) for n in range(20)]
    with caplog.at_level(logging.WARNING, logger="mcpfleet.cache"):
        assert await cache.warm(calls, concurrency=4) == 23
    assert peak == 4
    assert "call 3 failed (RuntimeError: no such table)" in caplog.text
    assert cache.stats().size == 23

    with pytest.raises(TypeError, match="warm\\(\\) call 1 is 'oops'"):
        await cache.warm([op("x"), "oops"])
    with pytest.raises(ValueError, match="at least 1"):
        await cache.warm([], concurrency=0)


async def test_backend_follows_the_config() -> None:
    memory = MCPCache.from_config(CacheConfig(strategy=CacheStrategy.LFU, max_size=5, ttl=9))
    assert isinstance(memory.backend, MemoryCache)
    assert (memory.backend.strategy, memory.backend.max_size, memory.backend.ttl) == (CacheStrategy.LFU, 5, 9)
    config = CacheConfig.model_validate(
        {"backend": "redis", "redis_url": SHARED_REDIS, "key_prefix": "test:cache:cfg:", "strategy": "FIFO"}
    )
    async with MCPCache.from_config(config) as shared:
        from mcpfleet.cache.redis import RedisCache

        assert isinstance(shared.backend, RedisCache) and shared.backend.strategy is CacheStrategy.FIFO
        assert shared.backend.order_key == "test:cache:cfg:order"
