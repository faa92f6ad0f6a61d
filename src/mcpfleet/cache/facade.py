"""``MCPCache``: the guide's cache object: a backend chosen by ``backend``, a decorator, warm-up."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from mcpfleet.cache.base import BaseCache, CacheStats, CacheStrategy, key, validate_ttl
from mcpfleet.cache.config import CacheConfig
from mcpfleet.cache.memory import MemoryCache
from mcpfleet.clock import Clock

if TYPE_CHECKING:
    import redis
    from redis.asyncio import Redis

__all__ = ["MCPCache"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
_UNBOUND = frozenset({"self", "cls"})  # a method's receiver is not part of its key


class MCPCache:
    """A cache for MCP results: in memory (``backend=None``) or in Redis (a client or URL).

        cache = MCPCache(backend=redis.Redis(host="localhost", port=6379),
                         strategy=CacheStrategy.LRU, max_size=10000, ttl=3600)

        @cache.cached(ttl=1800)
        async def expensive_mcp_operation(server, params):
            return await manager.execute_tool(server, "expensive_tool", params)

        await cache.warm([("github", {"action": "list_repos"})], expensive_mcp_operation)

    Every operation is a coroutine. Keys come from :func:`~mcpfleet.cache.key`; values are
    JSON-able results (a Redis cache stores JSON, so a hit there is a fresh copy; the memory
    cache hands back the stored object itself). ``backend`` may also be any
    :class:`~mcpfleet.cache.BaseCache`. Close with ``await cache.aclose()``.
    """

    def __init__(
        self,
        backend: BaseCache | Redis | redis.Redis | str | None = None,
        strategy: CacheStrategy | str = CacheStrategy.LRU,
        max_size: int = 10_000,
        ttl: float = 3600,
        *,
        key_prefix: str = "mcpfleet:cache:",
        redis_timeout: float = 0.25,
        probe_interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.backend: BaseCache
        if backend is None:
            self.backend = MemoryCache(strategy=strategy, max_size=max_size, ttl=ttl, clock=clock)
        elif isinstance(backend, BaseCache):
            self.backend = backend
        else:
            from mcpfleet.cache.redis import RedisCache  # redis-py takes ~0.35 s to import

            self.backend = RedisCache(
                backend, strategy=strategy, max_size=max_size, ttl=ttl, key_prefix=key_prefix,
                redis_timeout=redis_timeout, probe_interval=probe_interval, clock=clock,
            )  # fmt: skip
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    @classmethod
    def from_config(cls, config: CacheConfig, *, clock: Clock | None = None) -> MCPCache:
        """The cache ``mcpfleet.yaml``'s ``cache`` section describes."""
        return cls(
            config.redis_url if config.backend == "redis" else None,
            config.strategy, config.max_size, config.ttl, key_prefix=config.key_prefix,
            redis_timeout=config.redis_timeout, probe_interval=config.probe_interval, clock=clock,
        )  # fmt: skip

    async def get(self, key: str) -> Any:
        """The value under ``key``, or ``None``."""
        return await self.backend.get(key)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: the cache's)."""
        await self.backend.set(key, value, ttl)

    async def invalidate(self, server: str | None = None, tool: str | None = None) -> int:
        """Drop the entries of ``server``, of ``tool`` on any server, or of both; return how many."""
        return await self.backend.invalidate(server, tool)

    async def clear(self) -> None:
        """Drop every entry."""
        await self.backend.clear()

    def stats(self) -> CacheStats:
        """Hits, misses, evictions, size and hit ratio (and bypassed/errors for Redis)."""
        return self.backend.stats()

    def cached(
        self, ttl: float | None = None
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
        """Cache an async function's results, keyed on the function and its arguments.

        Arguments are bound to the signature first, so ``f(1, b=2)``, ``f(a=1, b=2)`` and
        ``f(b=2, a=1)`` share an entry. A ``server`` argument becomes the key's server (so
        ``invalidate(server=...)`` reaches the entry); the tool is ``module.qualname``.
        Concurrent calls with one key make one call. ``None`` and MCP results with
        ``isError: true`` are returned but not stored.
        """
        if ttl is not None:
            validate_ttl(ttl)

        def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
            if not inspect.iscoroutinefunction(func):
                raise TypeError(f"cached() wraps async functions (async def); {func!r} is not one")
            signature = inspect.signature(func)
            name = f"{func.__module__}.{func.__qualname__}"

            @functools.wraps(func)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                arguments = {k: v for k, v in bound.arguments.items() if k not in _UNBOUND}
                server = arguments.get("server")
                entry = key(server if isinstance(server, str) else func.__module__, name, arguments)
                found = await self.backend.get(entry)
                if found is not None:
                    return cast(R, found)
                task = self._inflight.get(entry)
                if task is None:
                    task = asyncio.ensure_future(self._fill(entry, ttl, func(*args, **kwargs)))
                    self._inflight[entry] = task
                    task.add_done_callback(functools.partial(self._landed, entry))
                # A caller that is cancelled leaves the call running for the others.
                return cast(R, await asyncio.shield(task))

            return wrapper

        return decorate

    async def warm(
        self,
        calls: Iterable[Any],
        func: Callable[..., Awaitable[Any]] | None = None,
        *,
        concurrency: int = 8,
    ) -> int:
        """Run calls to fill the cache, ``concurrency`` at a time; return how many succeeded.

        As in the guide, ``calls`` are argument tuples for a cached ``func``::

            await cache.warm([("filesystem", {"action": "list", "path": "/"}),
                              ("github", {"action": "list_repos"})], expensive_mcp_operation)

        Without ``func``, each call is an awaitable, or ``(func, args)`` / ``(func, args, kwargs)``.
        A failing call is logged and not counted; the others go on.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency {concurrency!r} must be a whole number, at least 1")
        given = list(calls)
        try:
            jobs = [_job(n, call, func) for n, call in enumerate(given)]
        except TypeError:
            for call in given:
                if inspect.iscoroutine(call):
                    call.close()  # none will run: no "never awaited" warnings
            raise
        pending = iter(jobs)
        succeeded = 0

        async def worker() -> None:
            nonlocal succeeded
            for n, start in pending:
                try:
                    await start()
                except Exception as exc:
                    log.warning("Cache warm-up: call %d failed (%s: %s)", n, type(exc).__name__, exc)
                else:
                    succeeded += 1

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(jobs))):
                    group.create_task(worker())
        finally:
            for _, start in pending:  # cancelled: close awaitables never started
                close = getattr(start, "close", None)
                if close is not None:
                    close()
        return succeeded

    async def aclose(self) -> None:
        """Cancel calls in flight for the decorator and release the backend's connections."""
        for task in list(self._inflight.values()):
            task.cancel()
        await self.backend.aclose()

    async def __aenter__(self) -> MCPCache:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _fill(self, entry: str, ttl: float | None, call: Awaitable[Any]) -> Any:
        result = await call
        if result is not None and not (isinstance(result, dict) and result.get("isError") is True):
            await self.backend.set(entry, result, ttl)
        return result

    def _landed(self, entry: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(entry) is task:
            del self._inflight[entry]
        if not task.cancelled():
            task.exception()  # retrieved: a failure every caller left behind is not logged as lost


class _Start:
    """A call not started yet: ``await start()`` runs it."""

    def __init__(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs

    def __call__(self) -> Awaitable[Any]:
        return self.func(*self.args, **self.kwargs)


class _Ready:
    """An awaitable given as is; closed if warm-up is cancelled before it runs."""

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable

    def __call__(self) -> Awaitable[Any]:
        return self.awaitable

    def close(self) -> None:
        if inspect.iscoroutine(self.awaitable):
            self.awaitable.close()


def _job(n: int, call: Any, func: Callable[..., Awaitable[Any]] | None) -> tuple[int, _Start | _Ready]:
    if func is not None:
        return n, _Start(func, call if isinstance(call, tuple) else (call,), {})
    if inspect.isawaitable(call):
        return n, _Ready(call)
    if isinstance(call, tuple) and 2 <= len(call) <= 3 and callable(call[0]):
        args, kwargs = call[1], call[2] if len(call) == 3 else {}
        if isinstance(args, tuple | list) and isinstance(kwargs, dict):
            return n, _Start(call[0], tuple(args), kwargs)
    raise TypeError(
        f"warm() call {n} is {call!r}; give an awaitable, (func, args) or (func, args, kwargs), "
        "or pass func and argument tuples: warm([(server, params), ...], func)"
    )
