"""Token buckets per principal, per server and per tool: calls beyond a limit are refused.

In process by default; in Redis when configured, so every gateway replica draws on one budget.
A call takes one token from each bucket that applies (its principal's, its server's, its tool
glob's), or from none: a refusal raises :class:`~mcpfleet.exceptions.RateLimitedError` with
``retry_after`` seconds. In ``mcpfleet.yaml``::

    gateway:
      rate_limits:
        backend: redis                  # memory (default): each replica alone; redis: shared
        redis_url: redis://127.0.0.1:6379/0
        key_prefix: "mcpfleet:rl:"
        principals:                     # one bucket per principal, over all servers
          default: {rate: 10/s, burst: 20}
          roles:                        # the most generous of a principal's roles applies
            admin: {rate: 100/s, burst: 200}
          names:                        # before roles; null means unlimited
            ci-bot: {rate: 100/minute}  # burst defaults to the count: 100 at once
            ops-console: null
        servers:                        # one bucket per server, shared by every principal
          default: {rate: 500/s, burst: 1000}
          names:
            github:
              rate: 5000/hour
              burst: 100
              tools:                    # glob -> one bucket for all its tools; first match wins
                "create_*": {rate: 10/minute, burst: 2}
            search: null                # no server limit (principal limits still apply)

``rate`` is tokens per second (``2.5``) or ``COUNT/UNIT`` (``100/minute``, ``10/s``, ``5/2s``).
In the gateway, before a tool call is sent::

    limiter = create_rate_limiter(config.gateway.rate_limits)
    await limiter.acquire(principal, roles, server, tool)   # raises RateLimitedError
"""

from __future__ import annotations

from mcpfleet.clock import Clock
from mcpfleet.ratelimit.base import BaseRateLimiter, Bucket
from mcpfleet.ratelimit.config import RateLimit, RateLimitConfig
from mcpfleet.ratelimit.memory import MemoryRateLimiter

# RedisRateLimiter lives in mcpfleet.ratelimit.redis and is not imported here: redis-py takes
# about 0.35 s to import, and every CLI command loads the fleet config, which imports this package.
__all__ = [
    "BaseRateLimiter",
    "Bucket",
    "MemoryRateLimiter",
    "RateLimit",
    "RateLimitConfig",
    "create_rate_limiter",
]


def create_rate_limiter(config: RateLimitConfig, *, clock: Clock | None = None) -> BaseRateLimiter:
    """The limiter ``config.backend`` names; close it with ``await limiter.aclose()``."""
    if config.backend == "redis":
        from mcpfleet.ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter(config, clock=clock)
    return MemoryRateLimiter(config, clock=clock)
