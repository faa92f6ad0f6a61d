"""``MemoryRateLimiter``: token buckets in this process, a few dict look-ups per call."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence

from mcpfleet.clock import Clock
from mcpfleet.exceptions import RateLimitedError
from mcpfleet.ratelimit.base import BaseRateLimiter, Bucket
from mcpfleet.ratelimit.config import RateLimitConfig

__all__ = ["MemoryRateLimiter"]

_SWEEP_STEPS = 3  # buckets checked for eviction per call: more than a call can add, and no pause


class _State:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, bucket: Bucket, now: float) -> None:
        self.tokens: float = bucket.burst
        self.stamp = now
        self.rate = bucket.rate
        self.burst = bucket.burst

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class MemoryRateLimiter(BaseRateLimiter):
    """Buckets in this process: each gateway replica counts on its own.

        limiter = MemoryRateLimiter(RateLimitConfig.model_validate(
            {"principals": {"default": {"rate": "10/s", "burst": 20}}}
        ))
        await limiter.acquire("alice", ("user",), "github", "search_issues")

    Memory stays bounded: a bucket that has refilled is forgotten (it is the same as a new
    one). Each call checks three buckets in turn for that, so eviction never pauses a call.
    No lock is needed: :meth:`take` never awaits, so asyncio cannot interleave two calls in it.
    """

    def __init__(self, config: RateLimitConfig | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(config or RateLimitConfig(), clock=clock)
        self._states: dict[str, _State] = {}
        self._queue: deque[str] = deque()  # every key of _states once, in eviction-check order

    @property
    def bucket_count(self) -> int:
        """Buckets held now (the ones not yet refilled, plus a few awaiting their eviction check)."""
        return len(self._states)

    async def acquire(self, principal: str, roles: Collection[str], server: str, tool: str) -> None:
        buckets = self._plans.plan(principal, roles, server, tool)
        if buckets:
            self.take(buckets)

    def take(self, buckets: Sequence[Bucket]) -> None:
        """Take a token from every bucket, or raise :class:`RateLimitedError` and take none."""
        now = self.clock.monotonic()
        states = self._states
        held = []
        wait = 0.0
        refused = None
        for bucket in buckets:
            state = states.get(bucket.key)
            if state is None:
                state = states[bucket.key] = _State(bucket, now)
                self._queue.append(bucket.key)
            else:
                elapsed = now - state.stamp
                if elapsed > 0:
                    tokens = state.tokens + elapsed * bucket.rate
                    state.tokens = tokens if tokens < bucket.burst else bucket.burst
                    state.stamp = now
                state.rate, state.burst = bucket.rate, bucket.burst
            if state.tokens < 1.0:
                need = (1.0 - state.tokens) / bucket.rate
                if need > wait:
                    wait, refused = need, bucket
            held.append(state)
        if refused is not None:
            self.limited_total += 1
            raise RateLimitedError(wait, refused.scope, refused.limit)
        for state in held:
            state.tokens -= 1.0
        self._evict(now)

    def _evict(self, now: float) -> None:
        queue, states = self._queue, self._states
        for _ in range(min(_SWEEP_STEPS, len(queue))):
            key = queue.popleft()
            if states[key].full(now):
                del states[key]
            else:
                queue.append(key)
