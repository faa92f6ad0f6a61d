"""``RedisRateLimiter``: buckets in Redis, shared by every gateway replica, local during outages."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Collection, Sequence

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from mcpfleet.clock import Clock
from mcpfleet.exceptions import ConfigError, RateLimitedError
from mcpfleet.ratelimit.base import BaseRateLimiter, Bucket
from mcpfleet.ratelimit.config import RateLimitConfig
from mcpfleet.ratelimit.memory import MemoryRateLimiter
from mcpfleet.redis_outage import OUTAGE_ERRORS, RedisOutage, fail_fast_options

__all__ = ["RedisRateLimiter"]

log = logging.getLogger(__name__)

# One round trip decides a call. Time is Redis's own (TIME), so replicas whose clocks disagree
# still agree on every bucket. KEYS are the buckets; ARGV holds rate and burst of each in turn.
# Returns 0 when every bucket gave a token, else {seconds to wait, 1-based index of the bucket}.
# A bucket expires once it would be full again: an absent bucket is a full one.
SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local levels = {}
local wait, worst = 0, 0
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local saved = redis.call('HMGET', key, 'tokens', 'stamp')
  local level = burst
  if saved[1] then
    level = math.min(burst, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * rate)
  end
  levels[i] = level
  if level < 1 and (1 - level) / rate > wait then
    wait, worst = (1 - level) / rate, i
  end
end
if worst > 0 then
  return {string.format('%.17g', wait), worst}
end
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local level = levels[i] - 1
  redis.call('HSET', key, 'tokens', string.format('%.17g', level), 'stamp', string.format('%.17g', now))
  redis.call('PEXPIRE', key, math.ceil((burst - level) / rate * 1000) + 1000)
end
return 0
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


class RedisRateLimiter(BaseRateLimiter):
    """Buckets in Redis, so every gateway replica draws on the same budget.

        limiter = RedisRateLimiter(config)          # config.redis_url: redis://127.0.0.1:6379/0
        await limiter.acquire("alice", ("user",), "github", "search_issues")
        await limiter.aclose()

    If Redis fails or does not answer within ``redis_timeout``, calls are never failed nor held:
    they are counted in this process (each replica then allows the full limit on its own) until
    Redis answers a probe again, at most every ``probe_interval`` seconds. The switch is logged
    once per outage and counted in ``fallbacks_total``; ``local_calls_total`` counts the calls
    decided locally.
    """

    def __init__(
        self, config: RateLimitConfig, *, clock: Clock | None = None, client: Redis | None = None
    ) -> None:
        super().__init__(config, clock=clock)
        own_client = client is None
        if client is None:
            if not config.redis_url:
                raise ConfigError(
                    "The Redis rate limiter needs gateway.rate_limits.redis_url "
                    "(e.g. redis://127.0.0.1:6379/0); or set backend: memory."
                )
            client = Redis.from_url(config.redis_url, **fail_fast_options(config.redis_timeout))
        self.client = client
        self.local = MemoryRateLimiter(config, clock=self.clock)
        self.local_calls_total = 0  # calls decided by local limits during outages
        self._outage = RedisOutage(
            client,
            owned=own_client,
            where=config.redis_url or repr(client),
            probe_interval=config.probe_interval,
            reconnect=self._reconnect,
            clock=self.clock,
            log=log,
            subject="Rate limits",
            meanwhile="limits are counted in this process",
            consequence="Each replica now allows the full limit on its own.",
            resumed="limits are shared again",
        )

    @property
    def using_redis(self) -> bool:
        """False while Redis is out and local limits decide."""
        return not self._outage.down

    @property
    def fallbacks_total(self) -> int:
        """Outages: switches from Redis to local limits, for /metrics."""
        return self._outage.outages

    async def acquire(self, principal: str, roles: Collection[str], server: str, tool: str) -> None:
        buckets = self._plans.plan(principal, roles, server, tool)
        if not buckets:
            return
        if self._outage.down:
            self._outage.probe_if_due()
        else:
            try:
                answer = await self._run(buckets)
            except OUTAGE_ERRORS as exc:
                self._outage.failed(exc)
            else:
                if answer is None:
                    return
                wait, index = answer
                bucket = buckets[index]
                self.limited_total += 1
                raise RateLimitedError(wait, bucket.scope, bucket.limit)
        self.local_calls_total += 1
        try:
            self.local.take(buckets)
        except RateLimitedError:
            self.limited_total += 1
            raise

    async def _run(self, buckets: Sequence[Bucket]) -> tuple[float, int] | None:
        """``None`` if every bucket gave a token, else (seconds to wait, index of the bucket)."""
        keys = [bucket.key for bucket in buckets]
        args: list[float | int] = []
        for bucket in buckets:
            args += (bucket.rate, bucket.burst)
        try:
            answer = await self.client.evalsha(SCRIPT_SHA, len(keys), *keys, *args)
        except NoScriptError:  # a new or restarted Redis has an empty script cache
            await self.client.script_load(SCRIPT)
            answer = await self.client.evalsha(SCRIPT_SHA, len(keys), *keys, *args)
        if answer == 0:
            return None
        return float(answer[0]), int(answer[1]) - 1

    async def _reconnect(self) -> None:
        """The probe: the script loaded, else an outage error."""
        # The socket timeouts bound this already; the deadline is for anything they miss.
        async with asyncio.timeout(self.config.redis_timeout * 4):
            await self.client.script_load(SCRIPT)

    async def aclose(self) -> None:
        await self._outage.aclose()
