"""Which buckets a call takes (ratelimit/base.py), on the in-memory limiter and a fake clock: names
beat roles, shared server buckets, tool globs, the longest wait, and Retry-After."""

from __future__ import annotations

import pytest

from helpers import FakeClock
from mcpfleet.exceptions import RateLimitedError
from mcpfleet.ratelimit import Bucket, MemoryRateLimiter
from ratelimit_helpers import limits, refused

pytestmark = pytest.mark.timeout(30)


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
