"""What every cache shares: keys, strategies, statistics and the ``get``/``set`` contract."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from mcpfleet.clock import Clock, MonotonicClock

__all__ = ["BaseCache", "CacheStats", "CacheStrategy", "key", "key_group"]

SEP = "\x1f"  # between the parts of a key; JSON escapes it, and names may not hold it
_HASHED_OVER = 256  # canonical arguments longer than this are kept as their SHA-256


class CacheStrategy(enum.Enum):
    """Which entry goes when the cache is full."""

    LRU = "lru"  # least recently read or written
    LFU = "lfu"  # fewest hits (ties: least recently used in memory, key order in Redis)
    FIFO = "fifo"  # oldest write
    TTL = "ttl"  # closest to expiry


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was made; exported as ``mcp_cache_hits_total`` and so on.

    ``bypassed`` counts operations skipped because Redis was unavailable (a ``get`` then
    answers as a miss, a ``set`` is dropped); they are in neither ``hits`` nor ``misses``.
    ``errors`` counts Redis calls that failed. Both stay 0 for the memory cache.
    """

    hits: int
    misses: int
    evictions: int
    size: int
    hit_ratio: float
    bypassed: int = 0
    errors: int = 0


def key(server: str, tool: str, arguments: Mapping[str, Any] | None = None, scope: str | None = None) -> str:
    """The cache key of one tool call: server, tool, canonical arguments and an optional scope.

    ``scope`` is the caller's principal name for per-caller entries, ``None`` for one entry
    shared by every caller. Arguments are compared as canonical JSON (sorted keys, no spaces),
    so their order does not matter; long ones are kept as their SHA-256.

    >>> key("github", "list_repos", {"per_page": 10, "org": "acme"}) == key(
    ...     "github", "list_repos", {"org": "acme", "per_page": 10})
    True
    """
    if SEP in server or SEP in tool or (scope is not None and SEP in scope):
        raise ValueError(
            f"cache key parts may not contain the control character \\x1f (server {server!r}, "
            f"tool {tool!r}, scope {scope!r})"
        )
    text = canonical(arguments if arguments is not None else {})
    who = "" if scope is None else "@" + scope  # "@" keeps the empty name apart from "shared"
    return f"{server}{SEP}{tool}{SEP}{who}{SEP}{text}"


def key_group(cache_key: str) -> tuple[str, str]:
    """``(server, tool)`` of a key made by :func:`key`; ``("", "")`` for any other string."""
    parts = cache_key.split(SEP, 2)
    return (parts[0], parts[1]) if len(parts) == 3 else ("", "")


def canonical(value: Any) -> str:
    """Canonical JSON of ``value``; its SHA-256 (``#`` and 64 hex digits) when long."""
    try:
        text = _ENCODER.encode(value)
    except ValueError as exc:
        raise ValueError(f"cache key arguments must be JSON: {exc}") from None
    if len(text) > _HASHED_OVER:
        return "#" + hashlib.sha256(text.encode()).hexdigest()  # JSON never starts with '#'
    return text


def _plain(value: Any) -> Any:
    """JSON for the few non-JSON types a key may meet; anything else is refused."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=canonical)
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(
        f"a {type(value).__name__} cannot be part of a cache key: pass JSON-able arguments "
        "(dict, list, str, number, bool, None, set, dataclass or pydantic model)"
    )


def validate_ttl(ttl: float, what: str = "ttl") -> float:
    """``ttl`` if it is a positive number of seconds, else a ValueError saying so."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ValueError(f"{what} {ttl!r} must be a number of seconds above 0")
    return float(ttl)


# Built once: json.dumps with options makes an encoder per call (~1 µs of a key's ~2 µs).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain
)


class BaseCache(ABC):
    """A bounded cache of JSON-able values with a TTL per entry, shared by asyncio tasks.

    All operations are coroutines (the gateway is asyncio; the Redis cache talks to Redis).
    A miss answers ``None``, so ``None`` itself is never stored.
    """

    def __init__(
        self,
        *,
        strategy: CacheStrategy | str = CacheStrategy.LRU,
        max_size: int = 10_000,
        ttl: float = 3600,
        clock: Clock | None = None,
    ) -> None:
        try:
            self.strategy = CacheStrategy(strategy.lower() if isinstance(strategy, str) else strategy)
        except ValueError:
            choices = ", ".join(s.value for s in CacheStrategy)
            raise ValueError(f"cache strategy {strategy!r} is not known; use one of {choices}") from None
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size {max_size!r} must be a whole number of entries, at least 1")
        self.max_size = max_size
        self.ttl = validate_ttl(ttl)
        self.clock = clock or MonotonicClock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0  # entries removed to make room (not expired nor invalidated ones)

    @property
    @abstractmethod
    def size(self) -> int:
        """Entries held now."""

    @abstractmethod
    async def get(self, key: str) -> Any:
        """The value stored under ``key``, or ``None`` (a miss)."""

    @abstractmethod
    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` (JSON-able, not None) for ``ttl`` seconds (default: the cache's ttl)."""

    @abstractmethod
    async def invalidate(self, server: str | None = None, tool: str | None = None) -> int:
        """Drop the entries of ``server``, of ``tool`` (on any server), or of both; return how many.

        With neither given, every entry goes (as :meth:`clear`).
        """

    async def clear(self) -> None:
        """Drop every entry. Counters keep counting."""
        await self.invalidate()

    def stats(self) -> CacheStats:
        """Counters and size now."""
        looked = self.hits + self.misses
        return CacheStats(
            hits=self.hits,
            misses=self.misses,
            evictions=self.evictions,
            size=self.size,
            hit_ratio=self.hits / looked if looked else 0.0,
        )

    async def aclose(self) -> None:
        """Release connections and background tasks (nothing, for the memory cache)."""
        return None

    async def __aenter__(self) -> BaseCache:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
