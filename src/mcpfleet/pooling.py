"""``ConnectionPool``: reusable MCP sessions to remote servers.

    from mcpfleet.pooling import ConnectionPool

    pool = ConnectionPool(min_connections=5, max_connections=50, connection_timeout=10,
                          idle_timeout=300, max_lifetime=3600, validation_interval=60)
    manager = MCPManager(connection_pool=pool)
    stats = pool.get_stats()    # active, idle, total_created, total_closed, waiting, ...

A connection is one MCP session (handshake done) with one endpoint URL: remote servers of the
fleet, load-balancer targets given by address, and backup URLs. Local stdio instances are one
pipe each and are not pooled, but the pool counts them too (``attach`` / ``using``): each
instance's session is a connection, active while a call is in flight, so ``get_stats()`` shows
everything the manager holds (per endpoint, with its ``kind``). Each endpoint has its own
limits: at most ``max_connections`` at once (callers beyond that wait up to
``connection_timeout``), and at least ``min_connections`` kept open once it has been used. A
connection idle for ``validation_interval`` is pinged before it is handed out; one that is
older than ``max_lifetime``, idle longer than ``idle_timeout`` (beyond the minimum), closed, or
that failed in use is closed instead of reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.exceptions import ConnectionClosedError, FleetError, ServerUnavailableError

__all__ = ["Connection", "ConnectionPool", "PoolTimeoutError"]

log = logging.getLogger("mcpfleet.pooling")


class Connection(Protocol):
    """What the pool manages (a :class:`~mcpfleet.protocol.ClientSession`)."""

    @property
    def closed(self) -> bool: ...

    async def ping(self, *, timeout: float | None = None) -> None: ...

    async def aclose(self) -> None: ...


Connect = Callable[[], Awaitable[Any]]


class PoolTimeoutError(ServerUnavailableError):
    """No connection could be had within ``connection_timeout``."""


@dataclass(eq=False)
class _Entry:
    conn: Any
    created: float
    last_used: float
    last_validated: float


@dataclass
class _Endpoint:
    idle: deque[_Entry] = field(default_factory=deque)
    active: int = 0
    opening: int = 0
    waiting: int = 0
    connect: Connect | None = None
    freed: asyncio.Event = field(default_factory=asyncio.Event)


class ConnectionPool:
    """Pooled MCP sessions, per endpoint URL. See the module docstring for the rules."""

    def __init__(
        self,
        min_connections: int = 1,
        max_connections: int = 10,
        connection_timeout: float = 10.0,
        idle_timeout: float = 300.0,
        max_lifetime: float = 3600.0,
        validation_interval: float = 60.0,
        *,
        clock: Clock | None = None,
    ) -> None:
        problems = []
        if max_connections < 1:
            problems.append(f"max_connections must be at least 1 (got {max_connections})")
        if not 0 <= min_connections <= max_connections:
            problems.append(
                f"min_connections must be between 0 and max_connections={max_connections} "
                f"(got {min_connections})"
            )
        for name, value in (
            ("connection_timeout", connection_timeout),
            ("idle_timeout", idle_timeout),
            ("max_lifetime", max_lifetime),
        ):
            if value <= 0:
                problems.append(f"{name} must be a positive number of seconds (got {value})")
        if validation_interval < 0:
            problems.append(
                f"validation_interval must be 0 (always) or more seconds (got {validation_interval})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.connection_timeout = connection_timeout
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.validation_interval = validation_interval
        self.clock = clock or MonotonicClock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._held: dict[str, list[int]] = {}  # stdio sessions: key -> [connections, active]
        self._created = 0
        self._closed_count = 0
        self._failed_validations = 0
        self._closing: set[asyncio.Task[None]] = set()
        self._maintainer: asyncio.Task[None] | None = None
        self._shut = False

    # ------------------------------------------------------------------ use

    @contextlib.asynccontextmanager
    async def connection(self, key: str, connect: Connect) -> AsyncIterator[Any]:
        """Lease a connection to ``key`` (made with ``connect()`` when none is idle).

        A connection whose use raises :class:`ConnectionClosedError` or
        :class:`ServerUnavailableError` is closed, not returned to the pool.
        """
        entry = await self._acquire(key, connect)
        broken = True
        try:
            yield entry.conn
            broken = False
        except (ConnectionClosedError, ServerUnavailableError):
            raise
        except BaseException:  # the caller's error or a cancellation: the session itself is fine
            broken = False
            raise
        finally:
            self._release(key, entry, broken)

    async def _acquire(self, key: str, connect: Connect) -> _Entry:
        if self._shut:
            raise ServerUnavailableError(key, "the connection pool is closed")
        endpoint = self._endpoints.setdefault(key, _Endpoint())
        endpoint.connect = connect
        self._start_maintainer()
        endpoint.waiting += 1
        try:
            async with asyncio.timeout(self.connection_timeout):
                while True:
                    entry = await self._reuse(endpoint)
                    if entry is not None:
                        return entry
                    if endpoint.active + endpoint.opening < self.max_connections:
                        return await self._open(endpoint, connect)
                    endpoint.freed.clear()
                    await endpoint.freed.wait()
        except TimeoutError:
            raise PoolTimeoutError(
                key,
                f"no connection within {self.connection_timeout:g}s ({endpoint.active} of "
                f"max_connections={self.max_connections} in use, {endpoint.waiting} waiting); "
                "raise max_connections or connection_timeout, or add instances",
            ) from None
        finally:
            endpoint.waiting -= 1

    async def _reuse(self, endpoint: _Endpoint) -> _Entry | None:
        while endpoint.idle:
            entry = endpoint.idle.pop()  # the most recently used: the warmest
            now = self.clock.monotonic()
            if entry.conn.closed or now - entry.created >= self.max_lifetime:
                self._discard(entry)
                continue
            if now - entry.last_validated >= self.validation_interval:
                endpoint.active += 1  # counted while it is checked, so the limit holds
                ok = await self._validate(entry)
                endpoint.active -= 1
                if not ok:
                    continue
            endpoint.active += 1
            return entry
        return None

    async def _validate(self, entry: _Entry) -> bool:
        try:
            await entry.conn.ping(timeout=min(self.connection_timeout, 5.0))
        except (FleetError, OSError):
            self._failed_validations += 1
            log.info("a pooled connection failed validation; closing it")
            self._discard(entry)
            return False
        entry.last_validated = self.clock.monotonic()
        return True

    async def _open(self, endpoint: _Endpoint, connect: Connect) -> _Entry:
        endpoint.opening += 1
        try:
            conn = await connect()
        finally:
            endpoint.opening -= 1
            endpoint.freed.set()  # a failed open frees its place for a waiter
        self._created += 1
        now = self.clock.monotonic()
        endpoint.active += 1
        return _Entry(conn, now, now, now)

    def _release(self, key: str, entry: _Entry, broken: bool) -> None:
        endpoint = self._endpoints[key]
        endpoint.active -= 1
        now = self.clock.monotonic()
        if broken or self._shut or entry.conn.closed or now - entry.created >= self.max_lifetime:
            self._discard(entry)
        else:
            entry.last_used = now
            endpoint.idle.append(entry)
        endpoint.freed.set()

    def _discard(self, entry: _Entry) -> None:
        self._closed_count += 1
        task = asyncio.ensure_future(self._close(entry.conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(conn: Any) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection may fail; it is gone either way
            await conn.aclose()

    # ------------------------------------------------------------------ upkeep

    def _start_maintainer(self) -> None:
        if self._maintainer is None or self._maintainer.done():
            self._maintainer = asyncio.create_task(self._maintain(), name="mcpfleet-pool")

    async def _maintain(self) -> None:
        period = max(0.05, min(self.idle_timeout, self.max_lifetime, self.validation_interval or 1.0) / 2)
        while not self._shut:
            await self.clock.sleep(period)
            try:
                await self.maintain()
            except Exception:  # the upkeep loop must outlive one bad round
                log.exception("connection pool upkeep failed")

    async def maintain(self) -> None:
        """One round of upkeep: close idle or expired connections, open up to the minimum."""
        now = self.clock.monotonic()
        for endpoint in self._endpoints.values():
            keep: deque[_Entry] = deque()
            total = len(endpoint.idle) + endpoint.active
            for entry in endpoint.idle:  # oldest use first
                expired = entry.conn.closed or now - entry.created >= self.max_lifetime
                if expired or (total > self.min_connections and now - entry.last_used >= self.idle_timeout):
                    self._discard(entry)
                    total -= 1
                else:
                    keep.append(entry)
            endpoint.idle = keep
            missing = self.min_connections - (len(endpoint.idle) + endpoint.active + endpoint.opening)
            for _ in range(max(0, missing)):
                if endpoint.connect is None:
                    break
                try:
                    entry = await self._open(endpoint, endpoint.connect)
                except FleetError as exc:
                    log.info("could not open a minimum connection: %s", exc)
                    break
                endpoint.active -= 1
                endpoint.idle.append(entry)

    # ------------------------------------------------------------------ facts

    # ------------------------------------------------------------------ connections it does not open

    def attach(self, key: str) -> None:
        """Count a connection the pool does not open or share (a stdio instance's session)."""
        self._held.setdefault(key, [0, 0])[0] += 1
        self._created += 1

    def detach(self, key: str) -> None:
        held = self._held.get(key)
        if held is not None:
            held[0] -= 1
            self._closed_count += 1
            if held[0] <= 0:
                del self._held[key]

    @contextlib.contextmanager
    def using(self, key: str) -> Iterator[None]:
        """A call in flight on an attached connection: it counts as active meanwhile."""
        held = self._held.get(key)
        if held is None:
            yield
            return
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1

    def get_stats(self) -> dict[str, Any]:
        """``active``, ``idle``, ``total_created``, ``total_closed``, ``waiting``, and per endpoint."""
        endpoints: dict[str, dict[str, Any]] = {
            key: {
                "kind": "http",
                "active": e.active,
                "idle": len(e.idle),
                "waiting": e.waiting,
                "opening": e.opening,
            }
            for key, e in self._endpoints.items()
        }
        for key, (connections, active) in self._held.items():
            endpoints[key] = {
                "kind": "stdio",
                "active": active,
                "idle": max(0, connections - active),
                "waiting": 0,
                "opening": 0,
            }
        return {
            "active": sum(e["active"] for e in endpoints.values()),
            "idle": sum(e["idle"] for e in endpoints.values()),
            "total_created": self._created,
            "total_closed": self._closed_count,
            "waiting": sum(e["waiting"] for e in endpoints.values()),
            "failed_validations": self._failed_validations,
            "max_connections": self.max_connections,
            "endpoints": endpoints,
        }

    async def aclose(self) -> None:
        """Close every idle connection; leased ones close when they are returned."""
        self._shut = True
        if self._maintainer is not None:
            self._maintainer.cancel()
            await asyncio.gather(self._maintainer, return_exceptions=True)
        for endpoint in self._endpoints.values():
            while endpoint.idle:
                self._discard(endpoint.idle.popleft())
            endpoint.freed.set()
        await asyncio.gather(*list(self._closing), return_exceptions=True)
