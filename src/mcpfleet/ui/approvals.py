"""``/ui/approvals``: servers agents asked to add on demand, waiting for an operator's yes or no."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mcpfleet.exceptions import FleetError
from mcpfleet.ui.guard import Visitor, form_of
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]


def routes(kit: Kit) -> list[Route]:
    on_demand = kit.context.on_demand

    async def approvals(request: Request, visitor: Visitor) -> Response:
        pending = sorted(on_demand.pending.values(), key=lambda a: a.asked_at)
        return kit.pages.render(
            request, visitor, "approvals.html", title="Approvals", page="approvals", pending=pending,
            active=on_demand.active,
        )  # fmt: skip

    async def decide(request: Request, visitor: Visitor) -> Response:
        approve = (await form_of(request)).get("approve") == "yes"
        try:
            decided = on_demand.decide(request.path_params["id"], approve)
        except FleetError as exc:
            return RedirectResponse(f"/ui/approvals?problem={quote(str(exc))}", status_code=303)
        word = "approved" if approve else "declined"
        return RedirectResponse(f"/ui/approvals?notice={quote(f'{decided.server} {word}.')}", status_code=303)

    return [
        Route("/ui/approvals", kit.guard.wrap(approvals)),
        Route("/ui/approvals/{id}", kit.guard.wrap(decide, "act"), methods=["POST"]),
    ]
