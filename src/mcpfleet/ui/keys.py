"""``/ui/keys``: API keys of the fleet database: create (the key is shown once), list, revoke.

Uses the gateway's own key store when it checks API keys, so a key revoked here is refused at
once by this gateway (other gateways see it within ``auth.api_key_cache_ttl``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import cached_property
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mcpfleet.database import Database
from mcpfleet.durations import parse_duration
from mcpfleet.exceptions import FleetError
from mcpfleet.security.keys import ApiKeyStore
from mcpfleet.ui.context import DashboardContext
from mcpfleet.ui.guard import Visitor, form_of
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]


class _Store:
    """The gateway's key store, or one on the fleet database when the gateway checks no keys."""

    def __init__(self, context: DashboardContext) -> None:
        self.context = context

    @cached_property
    def keys(self) -> ApiKeyStore:
        authenticator = self.context.authenticator
        if authenticator is not None and authenticator.keys is not None:
            return authenticator.keys
        return ApiKeyStore(Database.for_fleet(self.context.manager.config))


def routes(kit: Kit) -> list[Route]:
    store = _Store(kit.context)
    config = kit.context.manager.config

    async def render(
        request: Request,
        visitor: Visitor,
        *,
        created: str | None = None,
        problem: str | None = None,
        status: int = 200,
    ) -> Response:
        try:
            keys = await asyncio.to_thread(store.keys.list_keys)
        except FleetError as exc:
            keys, problem = [], f"Cannot read the API keys: {exc}"
        now = datetime.now(UTC)
        return kit.pages.render(
            request, visitor, "keys.html", status=status, title="API keys", page="keys",
            keys=[(k, k.state(now)) for k in reversed(keys)], created=created, create_problem=problem,
            roles=sorted(config.access.roles), accepts_keys=config.auth.accepts_api_keys,
        )  # fmt: skip

    async def keys_page(request: Request, visitor: Visitor) -> Response:
        return await render(request, visitor)

    async def create(request: Request, visitor: Visitor) -> Response:
        fields = await form_of(request)
        name, role = fields.get("name", "").strip(), fields.get("role", "").strip()
        expires = fields.get("expires", "").strip()
        try:
            lifetime = timedelta(seconds=parse_duration(expires)) if expires else None
            key, _ = await asyncio.to_thread(store.keys.create, name, role, expires_in=lifetime)
        except (FleetError, ValueError) as exc:
            return await render(request, visitor, problem=str(exc), status=400)
        return await render(request, visitor, created=key)  # shown on this page only, never in a URL

    async def revoke(request: Request, visitor: Visitor) -> Response:
        key_id = request.path_params["id"]
        try:
            revoked = await asyncio.to_thread(store.keys.revoke, key_id)
        except FleetError as exc:
            return RedirectResponse(f"/ui/keys?problem={quote(str(exc))}", status_code=303)
        authenticator = kit.context.authenticator
        for info in revoked:
            if authenticator is not None:
                authenticator.forget(info.id)  # refused from the next request on, not in 5 s
        names = ", ".join(f"{k.name} ({k.prefix})" for k in revoked)
        return RedirectResponse(f"/ui/keys?notice={quote(f'Revoked {names}.')}", status_code=303)

    return [
        Route("/ui/keys", kit.guard.wrap(keys_page)),
        Route("/ui/keys", kit.guard.wrap(create, "act"), methods=["POST"]),
        Route("/ui/keys/{id}/revoke", kit.guard.wrap(revoke, "act"), methods=["POST"]),
    ]
