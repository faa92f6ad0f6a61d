"""The Redis limiter against the real Redis: replicas share one budget, a lost script is loaded
again, and an outage falls back to local limits without holding calls."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from helpers import FakeClock, free_port, redis_server, until
from mcpfleet.exceptions import RateLimitedError
from mcpfleet.ratelimit import MemoryRateLimiter, RateLimitConfig, create_rate_limiter
from mcpfleet.ratelimit.redis import RedisRateLimiter
from ratelimit_helpers import limits, refused

pytestmark = pytest.mark.timeout(30)


SHARED_REDIS = "redis://127.0.0.1:6379/9"  # the shared test Redis; this file's database


async def test_factory_picks_the_backend() -> None:
    memory = create_rate_limiter(RateLimitConfig())
    assert isinstance(memory, MemoryRateLimiter)
    async with create_rate_limiter(RateLimitConfig(backend="redis", redis_url=SHARED_REDIS)) as shared:
        assert isinstance(shared, RedisRateLimiter)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own in the shared Redis; its keys are deleted afterwards."""
    name = f"test-rl-{uuid.uuid4().hex[:12]}:"
    yield name
    client = Redis.from_url(SHARED_REDIS)
    try:
        keys = [key async for key in client.scan_iter(match=name + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_replicas_share_one_budget_in_redis(prefix: str) -> None:
    config = limits(
        backend="redis", redis_url=SHARED_REDIS, key_prefix=prefix,
        principals={"default": {"rate": "1/minute", "burst": 100}},
        servers={"default": {"rate": "1/minute", "burst": 10}},
    )  # fmt: skip
    # Replica clocks far apart: bucket time is Redis's own, so they still agree.
    early, late = FakeClock(), FakeClock()
    late.advance(86_400)
    async with RedisRateLimiter(config, clock=early) as one, RedisRateLimiter(config, clock=late) as two:
        for n in range(10):
            await (one if n % 2 else two).acquire(f"user-{n % 3}", (), "echo", "ping")
        for limiter in (one, two):
            error = await refused(limiter, "user-0")
            assert error.scope == "server 'echo'"
            assert 59 < error.retry_after <= 60
        assert one.limited_total == two.limited_total == 1
        assert one.using_redis and two.using_redis and one.local_calls_total == 0
        # The refusals took nothing from the principals' buckets.
        client = Redis.from_url(SHARED_REDIS)
        try:
            tokens = float(await client.hget(prefix + "p:user-0", "tokens") or -1)
            assert 96 <= tokens < 96.1  # four calls by user-0, nothing for the two refusals
            ttl = await client.pttl(prefix + "s:echo")
            assert 0 < ttl <= 601_000  # expires once it would be full again (10 tokens at 1/min)
        finally:
            await client.aclose()


async def test_a_lost_script_is_loaded_again(prefix: str) -> None:
    port = free_port()
    async with redis_server(port):
        config = limits(
            backend="redis", redis_url=f"redis://127.0.0.1:{port}/0", key_prefix=prefix,
            principals={"default": {"rate": "1/minute", "burst": 2}},
        )  # fmt: skip
        async with RedisRateLimiter(config) as limiter:
            await limiter.acquire("alice", (), "echo", "ping")
            await limiter.client.script_flush()
            await limiter.acquire("alice", (), "echo", "ping")
            await refused(limiter)
            assert limiter.using_redis and limiter.local_calls_total == 0


async def test_outage_falls_back_to_local_limits_then_returns_to_redis(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcpfleet.ratelimit")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    clock = FakeClock(frozen=False)
    config = limits(
        backend="redis", redis_url=url, key_prefix=prefix, probe_interval=30, redis_timeout=0.2,
        principals={"default": {"rate": "100000/s"}, "names": {"tight": {"rate": "1/hour", "burst": 3}}},
    )  # fmt: skip
    latencies: list[float] = []
    refusals: list[RateLimitedError] = []
    stop = asyncio.Event()

    async def traffic(limiter: RedisRateLimiter) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await limiter.acquire("bulk", (), "echo", "ping")
            except RateLimitedError as error:
                refusals.append(error)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    async with RedisRateLimiter(config, clock=clock) as limiter:
        async with redis_server(port) as first:
            load = asyncio.create_task(traffic(limiter))
            try:
                await until(lambda: len(latencies) >= 50)
                assert limiter.using_redis and limiter.local_calls_total == 0
                os.killpg(first.pid, signal.SIGKILL)  # mid-traffic
                await first.wait()
                await until(lambda: not limiter.using_redis)
                seen = len(latencies)
                await until(lambda: len(latencies) >= seen + 500)  # calls keep flowing
                for _ in range(3):
                    await limiter.acquire("tight", (), "echo", "ping")
                assert (await refused(limiter, "tight")).scope == "principal 'tight'"  # local limits hold
            except BaseException:
                stop.set()
                await load
                raise
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "counted in this process" in warnings[0].getMessage()
        assert limiter.fallbacks_total == 1 and limiter.local_calls_total >= 500

        async with redis_server(port):  # back on the same port, empty
            try:
                seen = len(latencies)
                await until(lambda: len(latencies) >= seen + 100)
                assert not limiter.using_redis  # no probe before probe_interval has passed
                clock.advance(30)
                await until(lambda: limiter.using_redis)
                local = limiter.local_calls_total
                seen = len(latencies)
                await until(lambda: len(latencies) >= seen + 50)
                assert limiter.local_calls_total == local
                client = Redis.from_url(url)
                try:
                    assert await client.exists(prefix + "p:bulk")
                finally:
                    await client.aclose()
            finally:
                stop.set()
                await load
    assert not refusals
    assert max(latencies) < 1.0  # never held beyond the short Redis timeout
    assert limiter.fallbacks_total == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_redis_that_never_answers_does_not_hold_calls(prefix: str) -> None:
    with socket.socket() as silent:  # accepts connections (in its backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        config = limits(
            backend="redis", redis_url=f"redis://127.0.0.1:{port}/0", key_prefix=prefix,
            redis_timeout=0.2, principals={"default": {"rate": "1/hour", "burst": 2}},
        )  # fmt: skip
        async with RedisRateLimiter(config) as limiter:
            started = time.perf_counter()
            await limiter.acquire("alice", (), "echo", "ping")
            assert time.perf_counter() - started < 0.5  # one timeout, no retries
            assert not limiter.using_redis and limiter.fallbacks_total == 1
            started = time.perf_counter()
            await limiter.acquire("alice", (), "echo", "ping")
            await refused(limiter)  # local limits: two calls, then no more
            assert time.perf_counter() - started < 0.05
            assert limiter.local_calls_total == 3 and limiter.limited_total == 1
