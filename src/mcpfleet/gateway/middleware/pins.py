"""Hides held tools from lists and refuses calls to them (see :mod:`mcpfleet.security.pins`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcpfleet.gateway.jsonrpc import tool_error
from mcpfleet.gateway.middleware import CallNext, ListNext, Middleware, ToolCall

if TYPE_CHECKING:
    from mcpfleet.gateway.context import ListRequest
    from mcpfleet.security.pins import ToolPins

__all__ = ["PinMiddleware"]

FetchTool = Callable[[str, str], Awaitable[dict[str, Any] | None]]


class PinMiddleware(Middleware):
    name = "pins"

    def __init__(self, pins: ToolPins, fetch_tool: FetchTool) -> None:
        self.pins = pins
        self.fetch_tool = fetch_tool  # lists the server's tools (and so reviews them) if not yet done

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        pins = self.pins
        if call.local is None and pins.policy(call.server) == "strict":
            if not pins.reviewed(call.server):
                await self.fetch_tool(call.server, call.tool)
            if pins.held(call.server, call.tool):
                return tool_error(pins.refusal(call.server, call.tool))
        return await call_next(call)

    async def on_list(self, request: ListRequest, call_next: ListNext) -> dict[str, Any]:
        if request.method == "tools/list":
            held = self.pins.held

            def allow(server: str, method: str, item: dict[str, Any]) -> bool:
                return not held(server, str(item.get("name")))

            request.allows.append(allow)
        return await call_next(request)
