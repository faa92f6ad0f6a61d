"""``/ui``: the fleet at a glance, kept live by polling ``/ui/api/overview`` every 2 seconds."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcpfleet.ui.fleet import fleet_rows
from mcpfleet.ui.guard import Visitor
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]


def routes(kit: Kit) -> list[Route]:
    async def overview(request: Request, visitor: Visitor) -> Response:
        rows = fleet_rows(kit.context, kit.samples, charts=False)
        return kit.pages.render(request, visitor, "overview.html", title="Fleet", page="overview", rows=rows)

    async def overview_json(request: Request, visitor: Visitor) -> Response:
        rows = fleet_rows(kit.context, kit.samples)
        return JSONResponse({"now": time.time(), "interval": kit.samples.interval, "servers": rows})

    return [
        Route("/ui", kit.guard.wrap(overview)),
        Route("/ui/api/overview", kit.guard.wrap(overview_json)),
    ]
