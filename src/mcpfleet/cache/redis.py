"""``RedisCache``: entries in Redis, shared by every gateway replica; uncached during outages."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
from collections.abc import Sequence
from typing import Any

import redis
from redis.asyncio import Redis
from redis.asyncio import connection as aconnection
from redis.exceptions import NoScriptError

from mcpfleet.cache.base import SEP, BaseCache, CacheStats, CacheStrategy, key_group, validate_ttl
from mcpfleet.cache.scripts import GET_SHA, SCRIPTS, SET_SHA
from mcpfleet.clock import Clock
from mcpfleet.redis_outage import OUTAGE_ERRORS, RedisOutage, fail_fast_options

__all__ = ["RedisCache"]

log = logging.getLogger(__name__)

_FAILED = object()  # a read that Redis could not answer: a miss, counted as bypassed
_SCAN_COUNT = 500  # index entries looked at per round trip when invalidating
_PENDING_MAX = 1000  # invalidations kept for replay during an outage; beyond, all entries go


class RedisCache(BaseCache):
    """Entries in Redis under ``key_prefix``, so every gateway replica shares them.

        cache = RedisCache("redis://127.0.0.1:6379/0", strategy="lru", max_size=10_000, ttl=3600)

    ``client`` is a URL, a ``redis.asyncio.Redis`` (used as is; not closed here), or a sync
    ``redis.Redis``: its address, database and credentials are read and the cache talks to
    that Redis through an asyncio client of its own, so a call never blocks the event loop.

    Each entry is one Redis key with its TTL (``SET PX``). ``max_size`` bounds the namespace,
    for all replicas together: a sorted set ranks the entries by the strategy (last access,
    hits, write time or expiry) and a write into a full namespace evicts the lowest, in the
    same Lua script. A hit is one round trip (GET, or one EVALSHA for LRU and LFU).
    Replicas sharing a prefix must use the same strategy; Redis Cluster is not supported.

    Every Redis call is bounded by ``redis_timeout`` and never retried. If one fails, calls
    go uncached (``get`` misses, ``set`` is dropped; both counted in ``bypassed``) until a
    probe, at most every ``probe_interval`` seconds and never in a call's way, finds Redis
    back. Invalidations asked for meanwhile are replayed first. The outage is logged once.
    """

    def __init__(
        self,
        client: Redis | redis.Redis | str,
        *,
        strategy: CacheStrategy | str = CacheStrategy.LRU,
        max_size: int = 10_000,
        ttl: float = 3600,
        key_prefix: str = "mcpfleet:cache:",
        redis_timeout: float = 0.25,
        probe_interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(strategy=strategy, max_size=max_size, ttl=ttl, clock=clock)
        self.redis_timeout = validate_ttl(redis_timeout, "redis_timeout")
        self.probe_interval = validate_ttl(probe_interval, "probe_interval")
        own_client = not isinstance(client, Redis)
        self.client = _async_client(client, self.redis_timeout)
        self.prefix = key_prefix + "v:"
        self.order_key = key_prefix + "order"
        self.expiry_key = self.order_key if self.strategy is CacheStrategy.TTL else key_prefix + "expiry"
        self.bypassed = 0
        self.errors = 0
        self._size = 0  # entries in the namespace as of this replica's last write or invalidation
        self._touch = self.strategy in (CacheStrategy.LRU, CacheStrategy.LFU)
        self._pending: set[tuple[str | None, str | None]] = set()
        self._reads: list[tuple[str, asyncio.Future[Any]]] = []  # gathered for one round trip
        self._reading: set[asyncio.Task[None]] = set()
        self._outage = RedisOutage(
            self.client,
            owned=own_client,
            where=client if isinstance(client, str) else repr(self.client),
            probe_interval=self.probe_interval,
            reconnect=self._reconnect,
            clock=self.clock,
            log=log,
            subject="Cache",
            meanwhile="calls go to the servers uncached",
            resumed="caching resumes",
        )

    @property
    def size(self) -> int:
        """Entries of every replica together, as of this replica's last write or invalidation."""
        return self._size

    @property
    def available(self) -> bool:
        """False while Redis is out and calls go uncached."""
        return not self._outage.down

    @property
    def outages(self) -> int:
        """Switches from cached to uncached."""
        return self._outage.outages

    def stats(self) -> CacheStats:
        return dataclasses.replace(super().stats(), bypassed=self.bypassed, errors=self.errors)

    async def get(self, key: str) -> Any:
        """Reads made in the same event-loop turn share one round trip (one script or MGET), so
        under load a hit costs a fraction of a Redis command each."""
        if self._outage.down:
            self._bypass()
            return None
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._reads.append((self.prefix + key, answer))
        if len(self._reads) == 1:
            asyncio.get_running_loop().call_soon(self._send_reads)
        raw = await answer
        if raw is _FAILED:
            self._bypass()
            return None
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(raw)

    def _send_reads(self) -> None:
        batch, self._reads = self._reads, []
        task = asyncio.get_running_loop().create_task(self._read(batch))
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    async def _read(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        keys = [entry for entry, _ in batch]
        try:
            async with asyncio.timeout(self.redis_timeout):
                if self._touch:
                    found = await self._eval(GET_SHA, [self.order_key, *keys], [self.strategy.value])
                else:
                    found = await self.client.mget(keys)
        except OUTAGE_ERRORS as exc:
            self._fail(exc)
            found = [_FAILED] * len(batch)
        except BaseException:
            for _, answer in batch:
                if not answer.done():
                    answer.set_result(_FAILED)
            raise
        for (_, answer), raw in zip(batch, found, strict=True):
            if not answer.done():  # its caller may have given up (cancelled)
                answer.set_result(raw)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if value is None:
            raise ValueError("None cannot be cached: a miss already answers None")
        try:
            data = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cache values must be JSON-able (Redis stores JSON): {exc}") from None
        ms = max(1, round((self.ttl if ttl is None else validate_ttl(ttl)) * 1000))
        if self._outage.down:
            self._bypass()
            return
        keys = (self.prefix + key, self.order_key, self.expiry_key)
        try:
            async with asyncio.timeout(self.redis_timeout):
                size, evicted = await self._eval(
                    SET_SHA, keys, [data, ms, self.max_size, self.strategy.value]
                )
        except OUTAGE_ERRORS as exc:
            self._fail(exc)
            self._bypass()
            return
        self._size = int(size)
        self.evictions += int(evicted)

    async def invalidate(self, server: str | None = None, tool: str | None = None) -> int:
        if not self._outage.down:
            try:
                return await self._invalidate(server, tool)
            except OUTAGE_ERRORS as exc:
                self._fail(exc)
        self._bypass()
        if len(self._pending) >= _PENDING_MAX:
            self._pending = {(None, None)}
        self._pending.add((server, tool))
        return 0

    async def aclose(self) -> None:
        await self._outage.aclose()

    async def _invalidate(self, server: str | None, tool: str | None) -> int:
        """Walk the order index with ZSCAN (``max_size / 500`` round trips at most) and drop matches."""
        head = self.prefix if server is None else self.prefix + server + SEP
        if server is not None and tool is not None:
            head += tool + SEP
        pattern = _glob_escape(head) + "*"
        dropped, cursor = 0, 0
        while True:
            async with asyncio.timeout(self.redis_timeout):
                cursor, items = await self.client.zscan(
                    self.order_key, cursor, match=pattern, count=_SCAN_COUNT
                )
            members: list[bytes | str] = [
                m
                for m, _ in items
                if isinstance(m, bytes | str) and (tool is None or self._tool_of(m) == tool)
            ]
            if members:
                async with asyncio.timeout(self.redis_timeout), self.client.pipeline() as pipe:
                    pipe.delete(*members)
                    pipe.zrem(self.order_key, *members)
                    pipe.zrem(self.expiry_key, *members)
                    deleted, *_ = await pipe.execute()
                dropped += int(deleted)
            if not cursor:
                break
        async with asyncio.timeout(self.redis_timeout):
            self._size = int(await self.client.zcard(self.order_key))
        return dropped

    def _tool_of(self, member: bytes | str) -> str:
        text = member.decode(errors="replace") if isinstance(member, bytes) else member
        return key_group(text[len(self.prefix) :])[1]

    async def _eval(self, sha: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self.client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # a new or restarted Redis has an empty script cache
            await self.client.script_load(SCRIPTS[sha])
            return await self.client.evalsha(sha, len(keys), *keys, *args)

    def _bypass(self) -> None:
        self.bypassed += 1
        self._outage.probe_if_due()

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        self._outage.failed(exc)

    async def _reconnect(self) -> None:
        """The probe: scripts loaded, missed invalidations replayed, else an outage error."""
        async with asyncio.timeout(self.redis_timeout * 4):
            for script in SCRIPTS.values():
                await self.client.script_load(script)
        for server, tool in list(self._pending):  # before any read: no stale entry is served
            await self._invalidate(server, tool)
            self._pending.discard((server, tool))


def _async_client(client: Redis | redis.Redis | str, timeout: float) -> Redis:
    """The asyncio client to use: ``client`` itself, or one of our own with short timeouts."""
    settings = fail_fast_options(timeout)
    if isinstance(client, Redis):
        return client
    if isinstance(client, str):
        return Redis.from_url(client, **settings)
    if not isinstance(client, redis.Redis):
        raise TypeError(
            f"a cache backend is None (memory), a redis.Redis, a redis.asyncio.Redis or a URL, "
            f"not a {type(client).__name__}"
        )
    pool = client.connection_pool
    twins = {
        redis.connection.Connection: aconnection.Connection,
        redis.connection.SSLConnection: aconnection.SSLConnection,
        redis.connection.UnixDomainSocketConnection: aconnection.UnixDomainSocketConnection,
    }
    twin = twins.get(pool.connection_class)
    if twin is None:
        raise TypeError(
            f"a redis.Redis with {pool.connection_class.__name__} connections cannot back the cache; "
            "pass a redis.asyncio.Redis instead"
        )
    accepted = {
        name for cls in (twin, aconnection.AbstractConnection) for name in inspect.signature(cls).parameters
    }
    portable = {"host", "port", "path", "db", "username", "password", "client_name", "credential_provider"}
    for name, value in pool.connection_kwargs.items():
        if name in accepted and (name in portable or name.startswith("ssl_")):
            settings[name] = value
    return Redis.from_pool(aconnection.ConnectionPool(connection_class=twin, **settings))  # closed with it


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)
