"""The gateway as one ASGI app: MCP endpoints on the hot path, the admin REST API beside them.

    /mcp                       every running server, names namespaced (server__tool)
    /servers/{name}/mcp        one server, names untouched
    /virtual/{name}/mcp        a named subset of tools from config
    /api/v1/...                admin REST API (JSON; OpenAPI at /api/v1/openapi.json)
    /ui/...                    the web dashboard (``/`` redirects there; see mcpfleet.ui)
    /registry/v0.1/...         the fleet's registry mirror, in the MCP Registry's API (any caller)

MCP paths go straight to :class:`~mcpfleet.gateway.http.MCPHttpApp` without a router in front,
so the hot path pays for no framework it does not use.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

from mcpfleet import __version__
from mcpfleet.audit import AuditLogger
from mcpfleet.cache import MCPCache
from mcpfleet.catalog.mirror import RegistryMirror
from mcpfleet.catalog.serving import registry_app
from mcpfleet.config import GatewayConfig
from mcpfleet.exceptions import AuthenticationError
from mcpfleet.gateway.admin import AdminContext, admin_app
from mcpfleet.gateway.engine import Engine
from mcpfleet.gateway.http import PRINCIPAL, VIEW, MCPHttpApp, Receive, Scope, Send, text_response
from mcpfleet.gateway.middleware import Middleware
from mcpfleet.gateway.middleware.access import AccessMiddleware
from mcpfleet.gateway.middleware.audit import AuditMiddleware
from mcpfleet.gateway.middleware.cache import CacheMiddleware
from mcpfleet.gateway.middleware.metrics import MetricsMiddleware
from mcpfleet.gateway.middleware.ratelimit import RateLimitMiddleware
from mcpfleet.gateway.ondemand import OnDemand
from mcpfleet.gateway.security import HostOriginPolicy
from mcpfleet.gateway.sessions import SessionStore
from mcpfleet.gateway.trust import trust_for
from mcpfleet.gateway.views import FleetView, ListCache, ServerView, View, VirtualView
from mcpfleet.manager import MCPManager
from mcpfleet.metrics import MetricsCollector
from mcpfleet.monitoring import HealthMonitor, LogAlerts, WebhookAlerts
from mcpfleet.ratelimit import BaseRateLimiter, create_rate_limiter
from mcpfleet.security import AccessControl, Authenticator, Permission, Principal
from mcpfleet.security.metadata import unauthorized_response
from mcpfleet.ui import Dashboard, DashboardContext
from mcpfleet.ui import serves as serves_ui

__all__ = ["Gateway"]

PUBLIC = frozenset({"/healthz", "/readyz"})  # probes answer without credentials; so does /.well-known/


_CREDENTIALS = (b"authorization", b"x-api-key")


def _headers(scope: Scope) -> dict[str, str]:
    """The request's credential headers (all authentication reads)."""
    return {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _CREDENTIALS}


class Gateway:
    """The fleet's client-facing endpoint. ``gateway.app`` is the ASGI application."""

    def __init__(self, manager: MCPManager, config: GatewayConfig | None = None) -> None:
        self.manager = manager
        fleet = manager.config
        self.auth_config = fleet.auth
        self.authenticator: Authenticator | None = None
        if fleet.auth.mode not in (None, "none"):
            self.authenticator = Authenticator.for_fleet(fleet, environ=manager.environ)
        self.anonymous = Principal.anonymous(fleet.auth.anonymous_role)
        self.access = AccessControl.from_config(fleet.access) if fleet.access.enabled else None
        self.config = config or manager.config.gateway
        self.cache = ListCache(manager)
        secret = None
        if self.config.session_secret:
            secret = manager.resolve_values(
                {"s": self.config.session_secret}, where="gateway.session_secret"
            )["s"]
        self.sessions = SessionStore(
            idle_timeout=self.config.session_idle_timeout,
            max_sessions=self.config.max_sessions,
            max_per_owner=self.config.max_sessions_per_caller,
            data_limit=self.config.session_data_limit,
            secret=secret,
        )
        self.on_demand = OnDemand(manager, self.config.on_demand, self.config.separator)
        health = manager.config.health
        alerts: list[Any] = [LogAlerts()]
        if health.webhook_url:
            alerts.append(WebhookAlerts(health.webhook_url, slack=health.webhook_slack))
        self.monitor = HealthMonitor(
            manager,
            interval=manager.config.health_check_interval,
            timeout=health.timeout,
            degraded_ms=health.degraded_ms,
            alert_threshold=health.alert_threshold,
            max_recoveries=health.max_recoveries,
            recovery_window=health.recovery_window,
            alerts=alerts,
        )
        self.metrics = MetricsCollector(manager, monitor=self.monitor)
        # Tool pins and per-caller upstream credentials, as the fleet file asks.
        self.trust = trust_for(manager, self.cache, alerts, self.metrics.registry)
        tracing = None
        if manager.config.tracing.otlp_endpoint:
            from mcpfleet.tracing import Tracing  # imported only when on: no cost otherwise

            settings = manager.config.tracing
            headers = manager.resolve_values(settings.headers, where="tracing.headers")
            tracing = Tracing(settings.model_copy(update={"headers": headers}))
        self.limiter: BaseRateLimiter | None = None
        if self.config.rate_limits.active:
            self.limiter = create_rate_limiter(self.config.rate_limits)
        cache = manager.config.cache
        self.results: MCPCache | None = None  # cached tool results (self.cache holds the lists)
        if cache.enabled and cache.servers:  # no server policy: nothing could be cached
            self.results = MCPCache.from_config(cache)
        self._background: set[asyncio.Task[Any]] = set()
        self.audit = AuditLogger.from_config(manager.config) if manager.config.audit.enabled else None
        self.metrics.audit, self.metrics.limiter, self.metrics.cache = self.audit, self.limiter, self.results
        servers, sep = ", ".join(manager.list_servers()), self.config.separator
        self.engine = Engine(
            manager,
            version=__version__,
            instructions=f"mcpfleet gateway. Tools are named <server>{sep}<tool>; servers: {servers}.",
            middlewares=self._middlewares(),
            tracing=tracing,
            metrics=self.metrics if self.config.metrics else None,
            tool_info=self.cache.tool,
        )
        self.fleet_view = FleetView(self.cache, self.config.separator, self.on_demand)
        self._server_views: dict[str, ServerView] = {}
        self._virtual_views = {
            name: VirtualView(self.cache, patterns, self.config.separator)
            for name, patterns in self.config.virtual_servers.items()
        }
        self.policy = HostOriginPolicy(self.config.allowed_hosts, self.config.allowed_origins)
        self.mcp = MCPHttpApp(self.engine, self.view_for, sessions=self.sessions)
        self.admin = admin_app(
            AdminContext(
                manager=manager,
                sessions=self.sessions,
                lists=self.cache,
                call_tool=self.engine.call_tool,
                on_demand=self.on_demand,
                metrics=self.metrics,
                monitor=self.monitor,
                auth=self.auth_config,
            )
        )
        mirror = manager.catalog.mirror or RegistryMirror.for_fleet(fleet)
        self.registry = registry_app(mirror, prefix="/registry")
        self.dashboard = Dashboard(
            DashboardContext(
                manager=manager, lists=self.cache, call_tool=self.engine.call_tool, on_demand=self.on_demand,
                monitor=self.monitor, metrics=self.metrics, authenticator=self.authenticator,
                access=self.access, anonymous=self.anonymous, audit=self.audit,
                separator=self.config.separator, secret=secret.encode() if secret else None,
            )
        )  # fmt: skip
        manager.add_listener(self._on_upstream_event)

    def _middlewares(self) -> list[Middleware]:
        """The request path, outermost first: what counts and records every call (refusals
        too) comes before what may refuse one."""
        middlewares: list[Middleware] = []
        if self.config.metrics:
            middlewares.append(MetricsMiddleware(self.metrics, self.cache.knows))
        if self.audit is not None:
            middlewares.append(AuditMiddleware(self.audit))
        if self.access is not None:
            middlewares.append(AccessMiddleware(self.access, self.cache.fetch_tool))
        middlewares.extend(self.trust.middlewares())
        if self.limiter is not None:
            middlewares.append(RateLimitMiddleware(self.limiter))
        if self.results is not None:
            cache = self.manager.config.cache
            middlewares.append(CacheMiddleware(self.results, cache, self.cache.fetch_tool))
        return middlewares

    async def aclose(self) -> None:
        """Release what the middlewares hold (Redis connections, queued records)."""
        if self.limiter is not None:
            await self.limiter.aclose()
        if self.results is not None:
            await self.results.aclose()
        if self.authenticator is not None:
            await self.authenticator.aclose()
        if self.audit is not None:
            await self.audit.aclose()  # what is queued is written (or spilled) before we go
        await self.trust.aclose()

    def view_for(self, path: str) -> View | None:
        path = path.rstrip("/")
        if path == "/mcp":
            return self.fleet_view
        parts = path.split("/")
        if len(parts) == 4 and parts[3] == "mcp":
            if parts[1] == "servers" and parts[2] in self.manager.config.servers:
                view = self._server_views.get(parts[2])
                if view is None:
                    view = self._server_views[parts[2]] = ServerView(self.cache, parts[2])
                return view
            if parts[1] == "virtual":
                return self._virtual_views.get(parts[2])
        return None

    def _unknown_endpoint(self, path: str, principal: Principal) -> str | None:
        """What to say of an MCP path that names no server or virtual server (None: not one)."""
        parts = path.rstrip("/").split("/")
        if len(parts) != 4 or parts[3] != "mcp" or parts[1] not in ("servers", "virtual"):
            return None
        if parts[1] == "virtual":
            names = sorted(self.config.virtual_servers)
            return f"No virtual server {parts[2]!r}; virtual servers: {', '.join(names) or 'none'}"
        access = self.access
        names = [
            name
            for name in self.manager.list_servers()
            if access is None
            or access.check_server(principal, name, Permission.READ)
            or access.check_server(principal, name, Permission.LIST)
        ]
        return (
            f"No server {parts[2]!r} in this fleet; servers you may use: {', '.join(names) or 'none'} "
            f"(at /servers/NAME/mcp), or all of them at /mcp"
        )

    def _on_upstream_event(self, server: str, method: str, params: dict[str, Any]) -> None:
        """Upstream list changes and restarts drop cached lists and tell connected clients."""
        kinds = {
            "notifications/tools/list_changed": "tools/list",
            "notifications/prompts/list_changed": "prompts/list",
            "notifications/resources/list_changed": "resources/list",
        }
        if method in kinds:
            self.cache.invalidate(server, kinds[method])
            if method == "notifications/tools/list_changed" and self.results is not None:
                # Its tools changed: results cached under the old ones may not hold any more.
                task = asyncio.get_running_loop().create_task(self.results.invalidate(server=server))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            self.broadcast(method)
        elif method == "notifications/resources/updated":
            self.engine.subscriptions.deliver(server, params)
        elif method in {"mcpfleet/started", "mcpfleet/stopped"}:
            self.cache.invalidate(server)
            for note in kinds:
                self.broadcast(note)

    def broadcast(self, method: str) -> None:
        self.mcp.publish(method)
        for client in self.sessions.all():
            if client.notifications.full():
                continue  # a client that does not read its stream loses notifications, not memory
            client.notifications.put_nowait({"jsonrpc": "2.0", "method": method})

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = origin = None
            for key, value in scope["headers"]:
                if key == b"host":
                    host = value.decode("latin-1")
                elif key == b"origin":
                    origin = value.decode("latin-1")
            problem = self.policy.check(host, origin)
            if problem is not None:
                await text_response(send, *problem)
                return
            path = scope["path"]
            if serves_ui(path):  # the dashboard: its own login and session cookie (mcpfleet.ui.guard)
                await self.dashboard(scope, receive, send)  # type: ignore[arg-type]
                return
            if path not in PUBLIC and not path.startswith("/.well-known/"):
                principal = self.anonymous
                if self.authenticator is not None:
                    try:
                        principal = await self.authenticator.authenticate(_headers(scope))
                    except AuthenticationError as exc:
                        response = unauthorized_response(self.auth_config, exc, Request(scope))
                        await response(scope, receive, send)  # type: ignore[arg-type]
                        return
                scope[PRINCIPAL] = principal
                view = self.view_for(path)
                if view is not None:
                    scope[VIEW] = view
                    await self.mcp(scope, receive, send)
                    return
                if path.startswith("/registry/"):  # public catalog data: no admin role needed
                    await self.registry(scope, receive, send)  # type: ignore[arg-type]
                    return
                unknown = self._unknown_endpoint(path, principal)
                if unknown is not None:
                    await text_response(send, 404, unknown)
                    return
                if path != "/metrics" and self.access is not None and not self.access.is_admin(principal):
                    await text_response(
                        send,
                        403,
                        f"The admin API needs the ADMIN permission, which {principal.name!r} (roles: "
                        f"{', '.join(principal.roles) or 'none'}) lacks; use a key with an admin role",
                    )
                    return
        await self.admin(scope, receive, send)  # type: ignore[arg-type]  # Starlette's own ASGI aliases
