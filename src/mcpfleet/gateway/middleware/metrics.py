"""Counts and times every tool call for ``/metrics`` (``mcp_requests_total``, ``mcp_errors_total``,
``mcp_latency_seconds``), and every other request by method (``mcp_protocol_requests_total``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import ToolCallError
from mcpfleet.gateway.context import ListRequest, ReadRequest
from mcpfleet.gateway.middleware import CallNext, ListNext, Middleware, ReadNext, ToolCall

if TYPE_CHECKING:
    from mcpfleet.metrics import MetricsCollector

__all__ = ["MetricsMiddleware"]


class MetricsMiddleware(Middleware):
    """``knows(server, tool)`` says whether the server lists the tool (None if its list is not
    known yet): a name a client made up is counted as ``unlisted``, so callers cannot grow the
    label set at will."""

    name = "metrics"

    def __init__(
        self, metrics: MetricsCollector, knows: Callable[[str, str], bool | None] | None = None
    ) -> None:
        self.metrics = metrics
        self.knows = knows

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        started = time.perf_counter()
        error_type: str | None = "cancelled"
        try:
            result = await call_next(call)
            error_type = "tool_error" if result.get("isError") else None
            return result
        except ToolCallError:
            error_type = "protocol_error"
            raise
        except Exception as exc:
            error_type = getattr(exc, "error_type", None) or "refused"
            raise
        finally:
            self.metrics.track_request(
                call.server,
                self._tool_label(call, error_type),
                time.perf_counter() - started,
                error_type is None,
                error_type,
            )

    def _tool_label(self, call: ToolCall, error_type: str | None) -> str:
        if call.local is not None or self.knows is None:
            return call.tool
        known = self.knows(call.server, call.tool)
        if known is None:  # list not fetched yet: trust only a call the server answered
            return call.tool if error_type in (None, "tool_error", "cancelled") else "unlisted"
        return call.tool if known else "unlisted"

    async def on_list(self, request: ListRequest, call_next: ListNext) -> dict[str, Any]:
        return await self._counted(request.method, call_next(request))

    async def on_read(self, request: ReadRequest, call_next: ReadNext) -> dict[str, Any]:
        return await self._counted(request.method, call_next(request))

    async def _counted(self, method: str, reply: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            result = await reply
            outcome = "ok"
            return result
        except Exception as exc:
            outcome = getattr(exc, "error_type", None) or type(exc).__name__
            raise
        finally:
            self.metrics.track_protocol(method, time.perf_counter() - started, outcome)
