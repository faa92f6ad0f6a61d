"""What every limiter shares: which buckets a call takes, and the ``acquire`` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from types import TracebackType

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.ratelimit.config import RateLimit, RateLimitConfig

__all__ = ["BaseRateLimiter", "Bucket"]

_CACHE_SIZE = 4096  # resolved plans kept per limiter; cleared when full (misses cost a few µs)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One token bucket a call takes a token from: where it lives and how big it is."""

    key: str  # also the Redis key (with the prefix)
    rate: float  # tokens per second
    burst: int
    scope: str  # for people: "principal 'alice'", "server 'github'"

    @property
    def limit(self) -> str:
        """For people: ``100/minute, burst 20``."""
        return f"{_per_unit(self.rate)}, burst {self.burst}"


def _per_unit(rate: float) -> str:
    """A rate as configured (``100/minute``): the shortest unit with a whole count, else >= 1."""
    units = (("s", 1), ("minute", 60), ("hour", 3600), ("day", 86400))
    counts = [(rate * n, unit) for unit, n in units if rate * n >= 1] or [(rate * 86400, "day")]
    count, unit = next(((c, u) for c, u in counts if abs(c - round(c)) < 1e-6), counts[0])
    return f"{count:.4g}/{unit}"


class _Plans:
    """Resolves a call to its buckets: the principal's, the server's and a tool glob's."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.prefix = config.key_prefix
        self.principals = config.principals
        self.servers = config.servers
        self.by_role = any(limit is not None for limit in config.principals.roles.values())
        self._principal: dict[Hashable, Bucket | None] = {}
        self._server: dict[tuple[str, str], tuple[Bucket, ...]] = {}

    def plan(self, principal: str, roles: Collection[str], server: str, tool: str) -> tuple[Bucket, ...]:
        if isinstance(roles, str):
            roles = (roles,)  # one role passed bare, not its letters
        cache_key: Hashable = (principal, tuple(roles)) if self.by_role else principal
        try:
            mine = self._principal[cache_key]
        except KeyError:
            if len(self._principal) >= _CACHE_SIZE:
                self._principal.clear()
            mine = self._principal[cache_key] = self._principal_bucket(principal, roles)
        try:
            theirs = self._server[server, tool]
        except KeyError:
            if len(self._server) >= _CACHE_SIZE:
                self._server.clear()
            theirs = self._server[server, tool] = self._server_buckets(server, tool)
        return theirs if mine is None else (mine, *theirs)

    def _principal_bucket(self, principal: str, roles: Collection[str]) -> Bucket | None:
        rules = self.principals
        scope = f"principal {principal!r}"
        if principal in rules.names:
            limit = rules.names[principal]
        else:
            limit = rules.default
            best: tuple[str, RateLimit] | None = None
            for role in roles:
                if role not in rules.roles:
                    continue
                candidate = rules.roles[role]
                if candidate is None:
                    return None  # a role without limits frees its members of them
                if best is None or (candidate.rate, candidate.burst) > (best[1].rate, best[1].burst):
                    best = (role, candidate)  # the most generous of the principal's roles
            if best is not None:
                limit = best[1]
                scope += f" (role {best[0]!r})"
        return None if limit is None else self._bucket(f"p:{principal}", limit, scope)

    def _server_buckets(self, server: str, tool: str) -> tuple[Bucket, ...]:
        rules = self.servers
        limit = rules.default
        buckets = []
        if server in rules.names:
            own = rules.names[server]
            if own is None:
                return ()
            limit = own.limit or rules.default
            for glob, tool_limit in own.tools.items():
                if fnmatchcase(tool, glob):
                    if tool_limit is not None:
                        scope = f"tools {glob!r} of server {server!r}"
                        buckets.append(self._bucket(f"t:{server}:{glob}", tool_limit, scope))
                    break
        if limit is not None:
            buckets.insert(0, self._bucket(f"s:{server}", limit, f"server {server!r}"))
        return tuple(buckets)

    def _bucket(self, key: str, limit: RateLimit, scope: str) -> Bucket:
        return Bucket(self.prefix + key, limit.rate, limit.burst, scope)


class BaseRateLimiter(ABC):
    """Token buckets per principal, per server and per tool glob, checked together.

    A call takes one token from each bucket that applies, or from none: when any bucket is
    empty, :meth:`acquire` raises :class:`~mcpfleet.exceptions.RateLimitedError` and leaves the
    others as they were.
    """

    def __init__(self, config: RateLimitConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or MonotonicClock()
        self.limited_total = 0  # calls refused, for /metrics
        self._plans = _Plans(config)

    def buckets(self, principal: str, roles: Collection[str], server: str, tool: str) -> tuple[Bucket, ...]:
        """The buckets a call takes a token from (empty when nothing limits it)."""
        return self._plans.plan(principal, roles, server, tool)

    @abstractmethod
    async def acquire(self, principal: str, roles: Collection[str], server: str, tool: str) -> None:
        """Take a token for one call of ``tool`` on ``server`` by ``principal``.

        Raises :class:`~mcpfleet.exceptions.RateLimitedError` (with ``retry_after``) when a
        bucket is empty; then no bucket is charged.
        """

    async def aclose(self) -> None:
        """Release connections and background tasks (nothing, for the in-memory limiter)."""
        return None

    async def __aenter__(self) -> BaseRateLimiter:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
