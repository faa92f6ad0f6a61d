"""The gateway's tool-call pipeline: each concern on the request path is one middleware.

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        ...                                    # before: may refuse by raising, may change call.params
        result = await call_next(call)
        ...                                    # after: sees the result (or the exception)
        return result

:func:`chain` composes them once, when the gateway is built; the last step forwards the call to
the fleet. Order is the order given (outermost first): authentication and access control
before rate limits, the cache before the upstream hop, audit and metrics around everything
they record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mcpfleet.gateway.context import ToolCall

__all__ = ["CallNext", "Middleware", "ToolCall", "chain"]


CallNext = Callable[[ToolCall], Awaitable[dict[str, Any]]]


class Middleware:
    """One concern on the call path. Subclasses override the hooks they need."""

    name = "middleware"

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        return await call_next(call)


def chain(
    middlewares: Sequence[Middleware],
    last: CallNext,
    wrap: Callable[[Middleware, CallNext], CallNext] | None = None,
) -> CallNext:
    """``middlewares[0]`` outermost, ``last`` innermost. ``wrap`` may decorate each step (tracing)."""
    call_next = last
    for middleware in reversed(middlewares):
        call_next = _step(middleware, call_next)
        if wrap is not None:
            call_next = wrap(middleware, call_next)
    return call_next


def _step(middleware: Middleware, call_next: CallNext) -> CallNext:
    hook = middleware.on_call_tool

    async def step(call: ToolCall) -> dict[str, Any]:
        return await hook(call, call_next)

    return step
