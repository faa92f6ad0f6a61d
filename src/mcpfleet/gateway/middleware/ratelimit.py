"""Refuses calls over a token-bucket limit (per principal, server and tool) before they are sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpfleet.gateway.middleware import CallNext, Middleware, ToolCall

if TYPE_CHECKING:
    from mcpfleet.ratelimit import BaseRateLimiter

__all__ = ["RateLimitMiddleware"]

ANONYMOUS = "anonymous"  # the principal of calls made without authentication


class RateLimitMiddleware(Middleware):
    name = "rate_limit"

    def __init__(self, limiter: BaseRateLimiter) -> None:
        self.limiter = limiter

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        principal = call.principal
        if principal is None:
            await self.limiter.acquire(ANONYMOUS, (), call.server, call.tool)
        else:
            await self.limiter.acquire(principal.name, principal.roles, call.server, call.tool)
        return await call_next(call)
