"""Shared by the rate limit tests: a config from keyword arguments, and a call that must be refused."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.exceptions import RateLimitedError
from mcpfleet.ratelimit import RateLimitConfig


def limits(**data: Any) -> RateLimitConfig:
    return RateLimitConfig.model_validate(data)


async def refused(limiter: Any, principal: str = "alice", roles: tuple[str, ...] = (), server: str = "echo",
                  tool: str = "ping") -> RateLimitedError:  # fmt: skip
    with pytest.raises(RateLimitedError) as info:
        await limiter.acquire(principal, roles, server, tool)
    return info.value
