"""Records every tool call in the audit log: who, from where, what (arguments masked), how it
ended and how long it took. Outermost but for metrics, so refused calls are recorded too.

It submits each call (:meth:`AuditLogger.submit`), which only notes it: with ``audit.writer:
process`` (the default) the notes of a few loop turns go to the audit process, which masks,
seals and stores them (:mod:`mcpfleet.audit.process`); with ``thread`` that happens here once
per loop turn, after the calls' answers are sent, and the writer thread stores them."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import PermissionDeniedError, RateLimitedError, ToolCallError
from mcpfleet.gateway.middleware import CallNext, Middleware, ToolCall

if TYPE_CHECKING:
    from mcpfleet.audit import AuditLogger

__all__ = ["AuditMiddleware"]


class AuditMiddleware(Middleware):
    name = "audit"

    def __init__(self, audit: AuditLogger) -> None:
        self.audit = audit

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        started = time.perf_counter()
        outcome, error = "error", None
        try:
            result = await call_next(call)
            outcome = "tool_error" if result.get("isError") else "success"
            return result
        except PermissionDeniedError as exc:
            outcome, error = "denied", str(exc)
            raise
        except RateLimitedError as exc:
            outcome, error = "rate_limited", str(exc)
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except (ToolCallError, Exception) as exc:
            error = str(exc)
            raise
        finally:
            principal = call.principal
            self.audit.submit(
                server=call.server,
                tool=call.tool,
                params=call.arguments,
                outcome=outcome,
                error=error,
                latency_ms=(time.perf_counter() - started) * 1000,
                user=principal.name if principal is not None else "local",
                role=",".join(principal.roles) if principal is not None else None,
                client=call.client.address,
                request_id=call.request_id,
            )
