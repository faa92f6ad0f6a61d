"""``LoadBalancer``: picks the instance of a server that takes the next call.

    from mcpfleet.loadbalancer import LoadBalancer, Strategy

    lb = LoadBalancer(strategy=Strategy.ROUND_ROBIN, health_check_interval=10)
    lb.add_instance("filesystem", "fs-1", "localhost:8001")      # a remote MCP endpoint
    lb.add_instance("filesystem", "fs-2", "http://10.0.0.2:8001/mcp")
    instance = lb.get_instance("filesystem")
    result = await instance.execute("list_directory", {"path": "/"})

Targets are addresses of MCP servers over streamable HTTP (``host:port`` means
``http://host:port/mcp``) or local :class:`~mcpfleet.runtime.Instance` objects, which is how the
manager balances its own child processes. Targets that are unhealthy, draining or in
maintenance receive no new calls. A server may have backups (used only while none of its own
targets can take a call) and may be redirected to other servers or addresses until
``restore_traffic``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mcpfleet.backends import Backend, RemoteBackend, mcp_url
from mcpfleet.breaker import CircuitBreaker
from mcpfleet.exceptions import (
    ConnectionClosedError,
    RequestTimeoutError,
    ServerUnavailableError,
    UnknownServerError,
)

__all__ = ["Backend", "LoadBalancer", "RemoteBackend", "Strategy", "Target", "mcp_url"]

log = logging.getLogger("mcpfleet.loadbalancer")


# Requests that only describe a server: answered even while it drains or is in maintenance, and
# not counted as calls in flight.
DESCRIBING = frozenset({"tools/list", "prompts/list", "resources/list", "resources/templates/list"})


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"
    RANDOM = "random"
    WEIGHTED = "weighted"
    SESSION_HASH = "session_hash"  # a session keeps its instance while that instance can take calls


@dataclass(eq=False)
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
    active: int = field(default=0)  # calls in flight through this target
    breaker: CircuitBreaker = field(default_factory=lambda: CircuitBreaker())
    _idle: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def available(self) -> bool:
        return (
            self.healthy
            and not self.draining
            and not self.maintenance
            and self.backend.accepting()
            and self.breaker.allows()
        )

    def why_not(self) -> str:
        if self.maintenance:
            return "maintenance"
        if self.draining:
            return "draining"
        if not self.healthy:
            return "unhealthy"
        if not self.backend.accepting():
            return "not ready"
        return "circuit open" if not self.breaker.allows() else "available"

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        counted = method not in DESCRIBING  # a list is no work to drain or to balance by
        self.calls += counted
        self.active += counted
        if counted:
            self._idle.clear()
        self.breaker.started()
        try:
            result = await self.backend.call(method, params or {}, timeout=timeout)
        except (ConnectionClosedError, RequestTimeoutError, ServerUnavailableError):
            self.breaker.failed()  # the instance failed; a tool's own error does not count
            raise
        except BaseException:
            self.breaker.ended()
            raise
        else:
            self.breaker.succeeded()
            return result
        finally:
            self.active -= counted
            if not self.active:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no call is in flight through this target."""
        if self.active:
            await self._idle.wait()

    async def execute(
        self, tool: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Call a tool on this instance and return its ``CallToolResult``."""
        return await self.request(
            "tools/call", {"name": tool, "arguments": dict(params or {})}, timeout=timeout
        )


class LoadBalancer:
    """Spreads each server's calls over its targets by ``strategy`` (per server if set)."""

    def __init__(
        self,
        strategy: Strategy | str = Strategy.ROUND_ROBIN,
        health_check_interval: float = 10.0,
        *,
        seed: int | None = None,
    ) -> None:
        if health_check_interval <= 0:
            raise ValueError(f"health_check_interval must be positive, got {health_check_interval}")
        self.strategy = Strategy(strategy)
        self.health_check_interval = health_check_interval
        self._targets: dict[str, dict[str, Target]] = {}
        self._strategies: dict[str, Strategy] = {}
        self._counters: dict[str, itertools.count[int]] = {}
        self._redirects: dict[str, list[str]] = {}
        self._backups: dict[str, str] = {}
        self._modes: dict[str, str] = {}
        self._random = random.Random(seed)
        self._health_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ membership

    def add_instance(
        self,
        server: str,
        instance_id: str,
        address: str | Backend | None,
        *,
        weight: int = 1,
        headers: Mapping[str, str] | None = None,
        pool: Any = None,
    ) -> Target:
        """Add (or replace) a target: an address (``host:port`` or URL) or a backend object.

        ``None`` (the ``url`` of a local instance) keeps the target already there: a local
        instance's ``update()`` or ``rollback()`` has put it back in rotation itself.
        """
        if weight < 1:
            raise ValueError(f"weight must be at least 1, got {weight}")
        if address is None:
            existing = self._targets.get(server, {}).get(instance_id)
            if existing is None:
                raise ValueError(
                    f"{server}/{instance_id} has no address: pass host:port, an MCP URL or the instance "
                    "itself (a local instance returns to rotation through its update() or rollback())"
                )
            return existing
        if isinstance(address, str):
            url = mcp_url(address)
            backend: Backend = RemoteBackend(server, url, headers=headers, pool=pool)
            target = Target(server, instance_id, url, backend, weight)
        else:
            target = Target(server, instance_id, getattr(address, "url", None), address, weight)
        self._targets.setdefault(server, {})[instance_id] = target
        return target

    def remove_instance(self, server: str, instance_id: str) -> Target | None:
        targets = self._targets.get(server, {})
        target = targets.pop(instance_id, None)
        if not targets:
            self._targets.pop(server, None)
        return target

    def targets(self, server: str) -> list[Target]:
        return list(self._targets.get(server, {}).values())

    def servers(self) -> list[str]:
        return [s for s in self._targets if "@" not in s]

    def set_strategy(self, server: str, strategy: Strategy | str) -> None:
        self._strategies[server] = Strategy(strategy)

    async def set_backups(
        self,
        server: str,
        addresses: Sequence[str],
        *,
        headers: Mapping[str, str] | None = None,
        pool: Any = None,
    ) -> list[Target]:
        """Addresses that take ``server``'s calls while none of its own targets can."""
        group = f"{server}@backup"
        await self._drop(group)
        targets = [self.add_instance(group, mcp_url(a), a, headers=headers, pool=pool) for a in addresses]
        if targets:
            self._backups[server] = group
        else:
            self._backups.pop(server, None)
        return targets

    def backups(self, server: str) -> list[Target]:
        group = self._backups.get(server)
        return self.targets(group) if group else []

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

    def set_mode(self, server: str, mode: str | None) -> None:
        """Take a whole server out of rotation (``"draining"``, ``"maintenance"``) or back (``None``).

        Unlike a target's own flags this also covers instances that start later.
        """
        if mode is None:
            self._modes.pop(server, None)
        elif mode in ("draining", "maintenance"):
            self._modes[server] = mode
        else:
            raise ValueError(f"mode must be 'draining', 'maintenance' or None, got {mode!r}")

    def mode(self, server: str) -> str | None:
        return self._modes.get(server)

    def in_flight(self, server: str) -> int:
        return sum(t.active for t in self.targets(server))

    async def wait_idle(self, server: str, timeout: float) -> int:
        """Wait up to ``timeout`` for the server's calls in flight to end; returns how many remain."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for target in self.targets(server):
                    await target.wait_idle()
        return self.in_flight(server)

    # ------------------------------------------------------------------ traffic

    async def redirect_traffic(self, server: str, to: str | Sequence[str]) -> None:
        """Send ``server``'s calls to other servers or addresses (e.g. its backups) until restored."""
        groups: list[str] = []
        for other in [to] if isinstance(to, str) else list(to):
            if other in self._targets:
                groups.append(other)
            elif "://" in other or ":" in other:  # an address: it becomes a target of its own
                await self._drop(f"{server}@redirect")
                self.add_instance(f"{server}@redirect", mcp_url(other), other)
                groups.append(f"{server}@redirect")
            else:
                raise UnknownServerError(other, self.servers(), where="the load balancer")
        self._redirects[server] = list(dict.fromkeys(groups))

    async def restore_traffic(self, server: str) -> None:
        """Undo ``redirect_traffic``: the server's own targets take its calls again."""
        self._redirects.pop(server, None)
        await self._drop(f"{server}@redirect")

    async def _drop(self, group: str) -> None:
        """Forget a group of targets, closing the connections of remote ones."""
        for target in self._targets.pop(group, {}).values():
            if isinstance(target.backend, RemoteBackend):
                await target.backend.aclose()

    def get_instance(
        self,
        server: str,
        *,
        session_key: str | None = None,
        exclude: Iterable[str] = (),
        prefer: str | None = None,
        describe: bool = False,
    ) -> Target:
        """The target for the next call; raises :class:`ServerUnavailableError` if none can take it.

        Order: a redirect if one is set; else the server's own available targets (none while the
        server is draining or in maintenance, unless the request only ``describe``s it: a list
        of its tools, prompts or resources); else its backups. ``prefer`` (a target id) wins
        while it can take calls: a multi-round call returns to the instance that holds its state.
        """
        usual = not exclude and prefer is None and server not in self._redirects
        if usual and (describe or server not in self._modes):
            target = self._next_in_turn(server)
            if target is not None:
                return target
        excluded = set(exclude)
        redirect = self._redirects.get(server)
        groups = redirect if redirect is not None else [server]
        if redirect is not None or server not in self._modes or describe:
            candidates = self._candidates(groups, excluded)
            if candidates:
                return self._pick(server, candidates, session_key, prefer)
        if redirect is None and server in self._backups:
            candidates = self._candidates([self._backups[server]], excluded)
            if candidates:
                return self._pick(server, candidates, session_key, prefer)
        raise self._unavailable(server, groups, excluded)

    def _next_in_turn(self, server: str) -> Target | None:
        """Round robin's next target if it can take the call: the usual case, with no list of
        candidates built (None: the full pick decides, among those that can)."""
        if self._strategies.get(server, self.strategy) is not Strategy.ROUND_ROBIN:
            return None
        group = self._targets.get(server)
        if not group:
            return None
        targets = list(group.values())
        target = targets[self._turn(server) % len(targets)]
        return target if target.available() else None

    def _turn(self, server: str) -> int:
        """The server's next round-robin number."""
        counter = self._counters.get(server)
        if counter is None:
            counter = self._counters[server] = itertools.count()
        return next(counter)

    def _candidates(self, groups: Iterable[str], excluded: set[str]) -> list[Target]:
        return [
            t
            for g in groups
            for t in self._targets.get(g, {}).values()
            if t.available() and t.id not in excluded
        ]

    def _unavailable(self, server: str, groups: list[str], excluded: set[str]) -> Exception:
        mode = self._modes.get(server)
        if mode == "maintenance":
            return ServerUnavailableError(
                server,
                "in maintenance mode, with no backup that can take calls; calls resume when "
                "maintenance ends (set_maintenance_mode(server, False), or `mcpfleet maintenance "
                f"{server} off`)",
            )
        if mode == "draining":
            return ServerUnavailableError(
                server,
                "draining (taking no new calls), with no backup that can take calls; "
                "end it with set_maintenance_mode(server, False)",
            )
        known = [
            t for g in [*groups, self._backups.get(server, "")] for t in self._targets.get(g, {}).values()
        ]
        if not known:
            return UnknownServerError(server, self.servers(), where="the load balancer")
        states = ", ".join(f"{t.id}: {'already tried' if t.id in excluded else t.why_not()}" for t in known)
        return ServerUnavailableError(server, f"no instance can take calls ({states})")

    def _pick(
        self, server: str, candidates: list[Target], session_key: str | None, prefer: str | None = None
    ) -> Target:
        if prefer is not None:
            for target in candidates:
                if target.id == prefer:
                    return target
        strategy = self._strategies.get(server, self.strategy)
        if strategy is Strategy.SESSION_HASH and session_key is not None:
            # Rendezvous hashing: a session keeps its target while that target stays available.
            return max(
                candidates,
                key=lambda t: hashlib.blake2b(f"{session_key}/{t.id}".encode(), digest_size=8).digest(),
            )
        if strategy is Strategy.LEAST_CONNECTIONS:
            return min(candidates, key=lambda t: (t.active, t.calls))
        if strategy is Strategy.RANDOM:
            return self._random.choice(candidates)
        if strategy is Strategy.WEIGHTED:
            return self._random.choices(candidates, weights=[t.weight for t in candidates])[0]
        return candidates[self._turn(server) % len(candidates)]

    # ------------------------------------------------------------------ health

    async def check_health(
        self, timeout: float = 5.0, *, remote_only: bool = False
    ) -> dict[str, dict[str, bool]]:
        """Probe every target (or only those given by address) once; unhealthy ones take no calls
        until they pass again."""
        targets = [
            t
            for per in self._targets.values()
            for t in per.values()
            if t.backend.accepting() and (not remote_only or isinstance(t.backend, RemoteBackend))
        ]
        results = await asyncio.gather(*(t.backend.health_check(timeout) for t in targets))
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
            await asyncio.sleep(self.health_check_interval)
            try:
                await self.check_health(timeout=min(5.0, self.health_check_interval))
            except Exception:  # the loop must outlive one bad round
                log.exception("health check round failed")

    async def aclose(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        for group in list(self._targets):
            await self._drop(group)
