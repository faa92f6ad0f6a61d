"""The gateway's trust features, built from the fleet file: tool pins and per-caller credentials.

:func:`trust_for` makes what the fleet asks for and nothing else: the tool pins
(:mod:`mcpfleet.security.pins`, unless every server says ``pin: off``), the per-caller
upstream credentials (:mod:`mcpfleet.security.upstream_credentials`, when a server uses
``${user:...}`` headers or ``token_exchange``), their middlewares, an alert for each drift
through the fleet's alert sinks, and two metrics:

- ``mcpfleet_tool_drift_total{server, kind}``: tool definitions that changed, appeared, or were
  flagged for poisoning patterns;
- ``mcpfleet_tools_held{server}``: tools held back right now (``pin: strict``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError

from mcpfleet.database import Database
from mcpfleet.gateway.middleware.credentials import CredentialsMiddleware
from mcpfleet.gateway.middleware.pins import PinMiddleware
from mcpfleet.monitoring import Alert
from mcpfleet.security.pins import PinPolicy, PinStore, ToolPins
from mcpfleet.security.upstream_credentials import UpstreamCredentials

if TYPE_CHECKING:
    from mcpfleet.gateway.middleware import Middleware
    from mcpfleet.gateway.views import ListCache
    from mcpfleet.manager import MCPManager

__all__ = ["Trust", "trust_for"]

log = logging.getLogger("mcpfleet.gateway")

AlertSink = Callable[[Alert], Awaitable[None] | None]


@dataclass
class Trust:
    """What :func:`trust_for` built; ``middlewares()`` go after access control."""

    cache: ListCache
    pins: ToolPins | None = None
    credentials: UpstreamCredentials | None = None
    database: Database | None = None
    _tasks: set[asyncio.Future[Any]] = field(default_factory=set)

    def middlewares(self) -> list[Middleware]:
        out: list[Middleware] = []
        if self.pins is not None:
            out.append(PinMiddleware(self.pins, self.cache.fetch_tool))
        if self.credentials is not None:
            out.append(CredentialsMiddleware(self.credentials))
        return out

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        if self.credentials is not None:
            await self.credentials.aclose()
        if self.database is not None:
            self.database.dispose()


def trust_for(
    manager: MCPManager, cache: ListCache, alerts: Sequence[AlertSink], registry: CollectorRegistry
) -> Trust:
    """The fleet's pins and per-caller credentials, hooked to ``cache`` (the gateway's lists)."""
    config = manager.config
    trust = Trust(cache)
    policies = {name: spec.pin for name, spec in config.servers.items()}
    needs_db = any(p != "off" for p in policies.values()) or any(
        "${user:" in v for spec in config.servers.values() for v in spec.headers.values()
    )
    if not needs_db:
        return trust
    trust.database = Database.for_fleet(config)
    trust.credentials = UpstreamCredentials.for_fleet(config, trust.database, manager.environ)
    if all(p == "off" for p in policies.values()):
        return trust
    drift = Counter(
        "mcpfleet_tool_drift_total",
        "Tool definitions that changed, appeared or were flagged since they were pinned",
        ["server", "kind"],
        registry=registry,
    )
    held = Gauge(
        "mcpfleet_tools_held", "Tools held back until an operator accepts them", ["server"],
        registry=registry, multiprocess_mode="livesum",
    )  # fmt: skip

    def alert(server: str, message: str) -> None:
        for sink in alerts:
            try:
                result = sink(Alert("tool_drift", server, "-", message))
            except Exception:  # one broken sink must not silence the others
                log.exception("alert sink %r failed", sink)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                trust._tasks.add(task)
                task.add_done_callback(trust._tasks.discard)

    def policy(server: str) -> PinPolicy:
        spec = config.servers.get(server)
        return spec.pin if spec is not None else "warn"  # servers added on demand: the default

    pins = trust.pins = ToolPins(
        PinStore(trust.database),
        policy,
        alert=alert,
        on_drift=lambda server, _tool, kind: drift.labels(server, kind).inc(),
    )

    def review(server: str, tools: list[dict[str, Any]]) -> None:
        supervisor = manager.supervisor(server)
        spec = config.servers.get(server)
        version = supervisor.version if supervisor is not None else spec.package.version if spec else "-"
        try:
            pins.review(server, str(version), tools)
        except SQLAlchemyError as exc:  # the fleet database is away: serve, and say so
            log.error("cannot check the tool pins of %s (fleet database: %s)", server, type(exc).__name__)
        for name, count in pins.held_count().items():
            held.labels(name).set(count)

    cache.on_tools = review
    return trust
