"""The dashboard as one ASGI app, mounted by the gateway at ``/ui`` (``/`` redirects there).

    dashboard = Dashboard(DashboardContext(manager=..., ...))
    dashboard.start()            # the charts' sampler (the gateway server does this)
    await dashboard.app(scope, receive, send)
    await dashboard.stop()

Pages are rendered on the server; a little JavaScript of our own (``static/app.js``) polls
JSON endpoints every 2 seconds for live figures. Nothing is fetched from another site.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from mcpfleet.operations import Rollouts
from mcpfleet.ui import approvals, audit, catalog, keys, login, overview, playground, servers
from mcpfleet.ui.context import DashboardContext
from mcpfleet.ui.guard import Guard, security_headers
from mcpfleet.ui.kit import Kit
from mcpfleet.ui.render import Pages
from mcpfleet.ui.samples import Samples, error_totals
from mcpfleet.ui.session import UISessions

__all__ = ["Dashboard", "serves"]


def serves(path: str) -> bool:
    """Whether a request path belongs to the dashboard: ``/``, ``/ui`` and below."""
    return path in ("/", "/ui") or path.startswith("/ui/")


class Dashboard:
    """The fleet's web face: overview, servers, playground, audit, approvals, API keys, catalog."""

    def __init__(self, context: DashboardContext, *, sample_interval: float = 2.0) -> None:
        self.context = context
        self.sessions = UISessions(context.secret)
        manager = context.manager
        self.samples = Samples(
            manager.latencies,
            servers=manager.list_servers,
            errors=lambda: error_totals(context.metrics),
            interval=sample_interval,
        )
        self.kit = Kit(context, Guard(context, self.sessions), Pages(), self.samples, Rollouts(manager))
        modules = (login, overview, servers, playground, audit, approvals, keys, catalog)
        self.app = Starlette(
            routes=[
                Route("/", self._home),
                *(route for module in modules for route in module.routes(self.kit)),
                Mount("/ui/static", StaticFiles(packages=[("mcpfleet.ui", "static")]), name="static"),
            ]
        )
        self.app.add_exception_handler(404, self._not_found)

    async def _home(self, request: Request) -> Response:
        return RedirectResponse("/ui", status_code=307)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return security_headers(
            PlainTextResponse(f"Nothing at {request.url.path}; the dashboard starts at /ui", status_code=404)
        )

    def start(self) -> None:
        """Start sampling the fleet for the charts (needs a running event loop)."""
        self.samples.start()

    async def stop(self) -> None:
        await self.samples.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
