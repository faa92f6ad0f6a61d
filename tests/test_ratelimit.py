"""Rate limits: bucket math on a fake clock, rule resolution, and shared buckets in a real Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from helpers import FakeClock, free_port, redis_server, until
from mcpfleet.config import parse_config
from mcpfleet.exceptions import ConfigError, RateLimitedError
from mcpfleet.ratelimit import Bucket, MemoryRateLimiter, RateLimitConfig, create_rate_limiter
from mcpfleet.ratelimit.config import parse_rate
from mcpfleet.ratelimit.redis import RedisRateLimiter

pytestmark = pytest.mark.timeout(30)

SHARED_REDIS = "redis://127.0.0.1:6379/9"  # the shared test Redis; this file's database


def limits(**data: Any) -> RateLimitConfig:
    return RateLimitConfig.model_validate(data)


async def refused(limiter: Any, principal: str = "alice", roles: tuple[str, ...] = (), server: str = "echo",
                  tool: str = "ping") -> RateLimitedError:  # fmt: skip
    with pytest.raises(RateLimitedError) as info:
        await limiter.acquire(principal, roles, server, tool)
    return info.value


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("text", "per_second", "count"),
    [("10/s", 10.0, 10.0), ("100/minute", 100 / 60, 100.0), ("5/2s", 2.5, 5.0), ("1000/hour", 1000 / 3600,
     1000.0), ("2 / day", 2 / 86400, 2.0), ("0.5/sec", 0.5, 0.5), (2.5, 2.5, 2.5), ("7/ 1.5 Minutes", 7 / 90,
     7.0)],
)  # fmt: skip
def test_rates_parse(text: str | float, per_second: float, count: float) -> None:
    assert parse_rate(text) == (pytest.approx(per_second), count)


@pytest.mark.parametrize(
    ("text", "says"),
    [("10/fortnight", "not understood"), ("ten/s", "not understood"), ("10", "not understood"),
     ("0/s", "more than zero"), (-1, "more than zero"), ("5/0s", "zero time span")],
)  # fmt: skip
def test_bad_rates_say_what_to_write(text: str | float, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        parse_rate(text)
    if "understood" in says:
        assert "100/minute" in str(info.value)


def test_fleet_file_shape() -> None:
    config = parse_config(
        """
gateway:
  rate_limits:
    backend: redis
    redis_url: redis://127.0.0.1:6379/0
    principals:
      default: {rate: 10/s, burst: 20}
      roles: {admin: {rate: 100/s, burst: 200}}
      names: {ci-bot: {rate: 100/minute}, ops: null}
    servers:
      default: {rate: 500/s}
      names:
        github:
          rate: 5000/hour
          burst: 100
          tools: {"create_*": {rate: 10/minute, burst: 2}}
        search: null
"""
    )
    rl = config.gateway.rate_limits
    assert rl.backend == "redis" and rl.active
    assert (rl.principals.default and rl.principals.default.rate, rl.principals.default.burst) == (10.0, 20)
    ci = rl.principals.names["ci-bot"]
    assert ci is not None and ci.burst == 100 and ci.rate == pytest.approx(100 / 60)
    assert rl.principals.names["ops"] is None
    assert rl.servers.default is not None and rl.servers.default.burst == 500
    github = rl.servers.names["github"]
    assert github is not None and github.limit is not None and github.limit.burst == 100
    assert github.tools["create_*"] is not None
    assert not RateLimitConfig().active


@pytest.mark.parametrize(
    ("yaml_text", "says"),
    [
        ("principals: {default: {rate: 10/fortnight}}", "gateway.rate_limits.principals.default"),
        ("principals: {default: {rate: 10/fortnight}}", "100/minute"),
        ("principals: {default: {rate: 10/s, burst: 0}}", "burst 0 must be at least 1"),
        ("principals: {default: {rate: 0}}", "set it to null"),
        ("backend: redis", "needs redis_url"),
        ("backend: memcached", "'memory' or 'redis'"),
        ("principals: {defualt: {rate: 1/s}}", "defualt"),
        ("servers: {names: {github: {burst: 5}}}", "burst needs a rate"),
    ],
)
def test_config_errors_are_clear(yaml_text: str, says: str) -> None:
    text = "gateway:\n  rate_limits:\n" + "".join(f"    {line}\n" for line in yaml_text.splitlines())
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert says in str(info.value)


# ------------------------------------------------------------------ bucket math


async def test_burst_refill_and_exact_retry_after() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(limits(principals={"default": {"rate": "2/s", "burst": 3}}), clock=clock)
    for _ in range(3):
        await limiter.acquire("alice", (), "echo", "ping")
    error = await refused(limiter)
    assert error.retry_after == pytest.approx(0.5)
    assert error.scope == "principal 'alice'" and error.limit == "2/s, burst 3"
    assert "Retry in 0.50 s" in str(error)
    clock.advance(0.2)
    assert (await refused(limiter)).retry_after == pytest.approx(0.3)
    clock.advance(0.3)
    await limiter.acquire("alice", (), "echo", "ping")
    assert (await refused(limiter)).retry_after == pytest.approx(0.5)
    clock.advance(3600)  # refills up to the burst, no further
    for _ in range(3):
        await limiter.acquire("alice", (), "echo", "ping")
    await refused(limiter)
    assert limiter.limited_total == 4
    await limiter.acquire("bob", (), "echo", "ping")  # bob's bucket is his own


async def test_no_limits_configured_lets_everything_through() -> None:
    limiter = MemoryRateLimiter(clock=FakeClock())
    for _ in range(10_000):
        await limiter.acquire("alice", (), "echo", "ping")
    assert limiter.bucket_count == 0


async def test_names_beat_roles_and_the_most_generous_role_wins() -> None:
    config = limits(
        principals={
            "default": {"rate": "1/minute", "burst": 1},
            "roles": {"user": {"rate": "1/minute", "burst": 2}, "admin": {"rate": "1/minute", "burst": 5},
                      "service": None},
            "names": {"mallory": {"rate": "1/hour", "burst": 1}, "root": None},
        }
    )  # fmt: skip
    limiter = MemoryRateLimiter(config, clock=FakeClock())

    async def allowed(principal: str, roles: tuple[str, ...]) -> int:
        for n in range(100):
            try:
                await limiter.acquire(principal, roles, "echo", "ping")
            except RateLimitedError:
                return n
        return 100

    assert await allowed("alice", ()) == 1  # default
    assert await allowed("bob", ("user",)) == 2
    assert await allowed("carol", ("user", "admin", "other")) == 5  # most generous
    assert await allowed("mallory", ("admin",)) == 1  # her name beats her role
    assert await allowed("root", ()) == 100  # named null: unlimited
    assert await allowed("svc", ("user", "service")) == 100  # a role with null: unlimited
    assert await allowed("dan", "admin") == 5  # one role given as a bare string
    error = await refused(limiter, "carol", ("user", "admin"))
    assert error.scope == "principal 'carol' (role 'admin')"


async def test_server_bucket_is_shared_by_principals_and_tool_globs_by_their_tools() -> None:
    config = limits(
        servers={
            "default": {"rate": "1/minute", "burst": 4},
            "names": {
                "github": {"tools": {"create_*": {"rate": "1/minute", "burst": 2}, "*": None}},
                "search": None,
            },
        }
    )
    limiter = MemoryRateLimiter(config, clock=FakeClock())
    await limiter.acquire("alice", (), "echo", "ping")
    await limiter.acquire("bob", (), "echo", "ping")
    await limiter.acquire("carol", (), "echo", "other_tool")
    await limiter.acquire("dave", (), "echo", "ping")
    assert (await refused(limiter, "erin", server="echo")).scope == "server 'echo'"
    await limiter.acquire("alice", (), "time", "now")  # another server, another bucket
    # github keeps the default server bucket (no rate of its own) and adds one for create_*.
    await limiter.acquire("alice", (), "github", "create_issue")
    await limiter.acquire("bob", (), "github", "create_pr")
    error = await refused(limiter, "carol", server="github", tool="create_issue")
    assert error.scope == "tools 'create_*' of server 'github'"
    await limiter.acquire("carol", (), "github", "list_issues")  # first match "*" adds no bucket
    await limiter.acquire("carol", (), "github", "list_issues")
    assert (await refused(limiter, "carol", server="github", tool="list_issues")).scope == "server 'github'"
    for _ in range(50):
        await limiter.acquire("alice", (), "search", "q")  # named null: unlimited


async def test_a_refusal_takes_no_token_from_the_other_buckets() -> None:
    config = limits(
        principals={"default": {"rate": "1/minute", "burst": 3}},
        servers={"names": {"small": {"rate": "1/minute", "burst": 1}}},
    )
    limiter = MemoryRateLimiter(config, clock=FakeClock())
    await limiter.acquire("alice", (), "small", "t")  # alice 2 left, small 0 left
    for _ in range(5):
        assert (await refused(limiter, "alice", server="small", tool="t")).scope == "server 'small'"
    await limiter.acquire("alice", (), "big", "t")  # alice's tokens were not taken by the refusals
    await limiter.acquire("alice", (), "big", "t")
    assert (await refused(limiter, "alice", server="big")).scope == "principal 'alice'"


async def test_the_longest_wait_is_reported_when_several_buckets_refuse() -> None:
    config = limits(
        principals={"default": {"rate": "1/s", "burst": 1}},
        servers={"default": {"rate": "1/minute", "burst": 1}},
    )
    limiter = MemoryRateLimiter(config, clock=FakeClock())
    await limiter.acquire("alice", (), "echo", "t")
    error = await refused(limiter)
    assert error.scope == "server 'echo'" and error.retry_after == pytest.approx(60)


async def test_refilled_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(limits(principals={"default": {"rate": "10/s", "burst": 10}}), clock=clock)
    for n in range(5000):
        await limiter.acquire(f"user-{n}", (), "echo", "ping")
    assert limiter.bucket_count == 5000
    clock.advance(0.2)  # each has refilled: they are the same as new ones
    for _ in range(2000):
        await limiter.acquire("alice", (), "echo", "ping")
        clock.advance(0.1)
    assert limiter.bucket_count <= 2
    # A bucket still in use is kept, with its state.
    for _ in range(10):
        await limiter.acquire("bob", (), "echo", "ping")
    for n in range(100):  # each call checks a few buckets for eviction, bob's among them
        await limiter.acquire(f"other-{n}", (), "echo", "ping")
    assert (await refused(limiter, "bob")).retry_after == pytest.approx(0.1)


def test_retry_after_for_http_and_json_rpc() -> None:
    error = RateLimitedError(1.25, "principal 'alice'", "2/s, burst 3")
    assert error.http_headers() == {"Retry-After": "2"}
    assert error.rpc_data() == {"retry_after": 1.25}
    assert "principal 'alice' (2/s, burst 3)" in str(error) and "Retry in 1.25 s" in str(error)
    assert Bucket("k", 100 / 60, 20, "x").limit == "100/minute, burst 20"
    assert Bucket("k", 2 / 86400, 1, "x").limit == "2/day, burst 1"
    assert Bucket("k", 5000 / 3600, 9, "x").limit == "5000/hour, burst 9"
    assert Bucket("k", 1 / 7, 1, "x").limit == "8.571/minute, burst 1"
    assert RateLimitedError(2.0000000001).http_headers() == {"Retry-After": "2"}
    assert RateLimitedError(0.0001).http_headers() == {"Retry-After": "1"}
    assert RateLimitedError(0.0001).rpc_data() == {"retry_after": 0.001}


async def test_factory_picks_the_backend() -> None:
    memory = create_rate_limiter(RateLimitConfig())
    assert isinstance(memory, MemoryRateLimiter)
    async with create_rate_limiter(RateLimitConfig(backend="redis", redis_url=SHARED_REDIS)) as shared:
        assert isinstance(shared, RedisRateLimiter)


# ------------------------------------------------------------------ Redis


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
