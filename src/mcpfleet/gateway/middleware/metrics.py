"""Counts and times every tool call for ``/metrics`` (``mcp_requests_total``, ``mcp_errors_total``,
``mcp_latency_seconds``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import ToolCallError
from mcpfleet.gateway.middleware import CallNext, Middleware, ToolCall

if TYPE_CHECKING:
    from mcpfleet.metrics import MetricsCollector

__all__ = ["MetricsMiddleware"]


class MetricsMiddleware(Middleware):
    name = "metrics"

    def __init__(self, metrics: MetricsCollector) -> None:
        self.metrics = metrics

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
                "mcpfleet" if call.local is not None else call.server,
                call.tool,
                time.perf_counter() - started,
                error_type is None,
                error_type,
            )
