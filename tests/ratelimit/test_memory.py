"""The in-memory limiter on a fake clock: bursts, refill, exact retry-after, forgetting full buckets."""

from __future__ import annotations

import pytest

from helpers import FakeClock
from mcpfleet.ratelimit import MemoryRateLimiter
from ratelimit_helpers import limits, refused

pytestmark = pytest.mark.timeout(30)


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
