"""``LoadBalancer``: picks the instance of a server that takes the next call.

    from mcpfleet.loadbalancer import LoadBalancer, Strategy

    lb = LoadBalancer(strategy=Strategy.ROUND_ROBIN, health_check_interval=10)
    lb.add_instance("filesystem", "fs-1", "localhost:8001")      # a remote MCP endpoint
    lb.add_instance("filesystem", "fs-2", "http://10.0.0.2:8001/mcp")
    instance = lb.get_instance("filesystem")
    result = await instance.execute("list_directory", {"path": "/"})

Targets are either addresses of MCP servers over streamable HTTP (``host:port`` means
``http://host:port/mcp``) or local :class:`~mcpfleet.runtime.Instance` objects, which is how the
manager balances its own child processes. Targets that are unhealthy, draining or in
maintenance receive no new calls; ``redirect_traffic`` sends a server's calls to other targets
(its backups) until ``restore_traffic``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from mcpfleet.exceptions import ServerUnavailableError, UnknownServerError

__all__ = ["Backend", "LoadBalancer", "Strategy", "Target"]

log = logging.getLogger("mcpfleet.loadbalancer")


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"
    RANDOM = "random"
    WEIGHTED = "weighted"
    SESSION_HASH = "session_hash"


class Backend(Protocol):
    """What the balancer calls: a local instance or a remote session."""

    @property
    def in_flight(self) -> int: ...

    def accepting(self) -> bool: ...

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]: ...

    async def health_check(self, timeout: float = 5.0) -> bool: ...


def _url(address: str) -> str:
    if "://" in address:
        return address
    return f"http://{address}/mcp"


class _RemoteBackend:
    """An MCP server over streamable HTTP, connected on first use."""

    def __init__(self, server: str, url: str) -> None:
        self.server = server
        self.url = url
        self._session: Any = None
        self._lock = asyncio.Lock()
        self._calls = 0

    @property
    def in_flight(self) -> int:
        return self._calls

    def accepting(self) -> bool:
        return True

    async def _connected(self) -> Any:
        async with self._lock:
            if self._session is None or self._session.closed:
                from mcpfleet.protocol import ClientSession

                self._session = await ClientSession.over_http(self.url, server=self.server)
            return self._session

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        session = await self._connected()
        self._calls += 1
        try:
            result: dict[str, Any] = await session.call_tool(name, arguments, timeout=timeout)
            return result
        finally:
            self._calls -= 1

    async def health_check(self, timeout: float = 5.0) -> bool:
        try:
            session = await asyncio.wait_for(self._connected(), timeout)
            await session.ping(timeout=timeout)
        except Exception:  # any failure to connect or answer is "unhealthy"; the reason is logged
            log.info("health check of %s failed", self.url, exc_info=True)
            return False
        return True

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.aclose()


@dataclass
class Target:
    """One instance behind the balancer. ``execute(tool, params)`` calls it."""

    server: str
    id: str
    address: str | None
    backend: Backend
    weight: int = 1
    healthy: bool = True
    draining: bool = False
    maintenance: bool = False
    calls: int = field(default=0)

    def available(self) -> bool:
        return self.healthy and not self.draining and not self.maintenance and self.backend.accepting()

    async def execute(
        self, tool: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        self.calls += 1
        return await self.backend.call_tool(tool, dict(params or {}), timeout=timeout)


class LoadBalancer:
    """Spreads a server's calls over its targets by ``strategy``."""

    def __init__(
        self,
        strategy: Strategy = Strategy.ROUND_ROBIN,
        health_check_interval: float = 10.0,
        *,
        seed: int | None = None,
    ) -> None:
        self.strategy = Strategy(strategy)
        self.health_check_interval = health_check_interval
        self._targets: dict[str, dict[str, Target]] = {}
        self._counters: dict[str, itertools.count[int]] = {}
        self._redirects: dict[str, list[str]] = {}
        self._random = random.Random(seed)
        self._health_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ membership

    def add_instance(
        self, server: str, instance_id: str, address: str | Backend, *, weight: int = 1
    ) -> Target:
        """Add (or replace) a target: an address (``host:port`` or URL) or a backend object."""
        if weight < 1:
            raise ValueError(f"weight must be at least 1, got {weight}")
        if isinstance(address, str):
            target = Target(server, instance_id, _url(address), _RemoteBackend(server, _url(address)), weight)
        else:
            target = Target(server, instance_id, getattr(address, "url", None), address, weight)
        self._targets.setdefault(server, {})[instance_id] = target
        return target

    def remove_instance(self, server: str, instance_id: str) -> Target | None:
        return self._targets.get(server, {}).pop(instance_id, None)

    def targets(self, server: str) -> list[Target]:
        return list(self._targets.get(server, {}).values())

    def servers(self) -> list[str]:
        return list(self._targets)

    def set_state(
        self,
        server: str,
        instance_id: str,
        *,
        healthy: bool | None = None,
        draining: bool | None = None,
        maintenance: bool | None = None,
    ) -> None:
        target = self._targets.get(server, {}).get(instance_id)
        if target is None:
            raise UnknownServerError(
                f"{server}/{instance_id}",
                [f"{server}/{i}" for i in self._targets.get(server, {})],
                where="the load balancer",
            )
        if healthy is not None:
            target.healthy = healthy
        if draining is not None:
            target.draining = draining
        if maintenance is not None:
            target.maintenance = maintenance

    # ------------------------------------------------------------------ traffic

    async def redirect_traffic(self, server: str, to: str | Sequence[str]) -> None:
        """Send ``server``'s calls to other servers' targets (e.g. its backups) until restored."""
        to_list = [to] if isinstance(to, str) else list(to)
        for other in to_list:
            if other not in self._targets:
                if "://" in other or ":" in other:  # an address: add it as a backup target
                    self.add_instance(f"{server}@backup", other, other)
                    to_list[to_list.index(other)] = f"{server}@backup"
                else:
                    raise UnknownServerError(other, self.servers(), where="the load balancer")
        self._redirects[server] = list(dict.fromkeys(to_list))

    async def restore_traffic(self, server: str) -> None:
        self._redirects.pop(server, None)

    def get_instance(
        self, server: str, *, session_key: str | None = None, exclude: Iterable[str] = ()
    ) -> Target:
        """The target for the next call; raises :class:`ServerUnavailableError` if none can take it."""
        pool_names = self._redirects.get(server, [server])
        excluded = set(exclude)
        candidates = [
            t
            for name in pool_names
            for t in self._targets.get(name, {}).values()
            if t.available() and t.id not in excluded
        ]
        if not candidates:
            if not any(name in self._targets for name in pool_names):
                raise UnknownServerError(server, self.servers(), where="the load balancer")
            states = ", ".join(f"{t.id}: {self._why(t)}" for name in pool_names for t in self.targets(name))
            raise ServerUnavailableError(
                server, f"no instance can take calls ({states or 'none registered'})"
            )
        return self._pick(server, candidates, session_key)

    @staticmethod
    def _why(target: Target) -> str:
        if target.maintenance:
            return "maintenance"
        if target.draining:
            return "draining"
        if not target.healthy:
            return "unhealthy"
        return "not accepting"

    def _pick(self, server: str, candidates: list[Target], session_key: str | None) -> Target:
        strategy = self.strategy
        if strategy is Strategy.SESSION_HASH and session_key is not None:
            # Rendezvous hashing: a session keeps its target while that target stays available.
            return max(
                candidates,
                key=lambda t: hashlib.blake2b(f"{session_key}/{t.id}".encode(), digest_size=8).digest(),
            )
        if strategy is Strategy.LEAST_CONNECTIONS:
            return min(candidates, key=lambda t: (t.backend.in_flight, t.calls))
        if strategy is Strategy.RANDOM:
            return self._random.choice(candidates)
        if strategy is Strategy.WEIGHTED:
            return self._random.choices(candidates, weights=[t.weight for t in candidates])[0]
        counter = self._counters.setdefault(server, itertools.count())
        return candidates[next(counter) % len(candidates)]

    # ------------------------------------------------------------------ health

    async def check_health(self) -> dict[str, dict[str, bool]]:
        """Probe every target once; unhealthy ones stop receiving calls until they pass again."""
        targets = [t for per in self._targets.values() for t in per.values()]
        results = await asyncio.gather(*(t.backend.health_check() for t in targets))
        report: dict[str, dict[str, bool]] = {}
        for target, ok in zip(targets, results, strict=True):
            if ok != target.healthy:
                log.warning("%s/%s is now %s", target.server, target.id, "healthy" if ok else "unhealthy")
            target.healthy = ok
            report.setdefault(target.server, {})[target.id] = ok
        return report

    async def start(self) -> None:
        """Probe targets every ``health_check_interval`` seconds in the background."""
        if self._health_task is None:
            self._health_task = asyncio.create_task(self._health_loop(), name="mcpfleet-lb-health")

    async def _health_loop(self) -> None:
        while True:
            await self.check_health()
            await asyncio.sleep(self.health_check_interval)

    async def aclose(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        for per in self._targets.values():
            for target in per.values():
                if isinstance(target.backend, _RemoteBackend):
                    await target.backend.aclose()
