"""Refuses tool calls the caller's roles do not allow (``access:`` in the fleet YAML)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import PermissionDeniedError
from mcpfleet.gateway.middleware import CallNext, Middleware, ToolCall
from mcpfleet.security import Permission

if TYPE_CHECKING:
    from mcpfleet.security import AccessControl

__all__ = ["AccessMiddleware", "local_permission"]


def local_permission(tool: str) -> Permission:
    """The gateway's own tools: finding servers is a call, adding one changes the fleet."""
    return Permission.WRITE if tool == "add_server" else Permission.EXECUTE


class AccessMiddleware(Middleware):
    name = "access"

    def __init__(self, access: AccessControl) -> None:
        self.access = access

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        # No principal: an in-process caller (the stdio front, run by the fleet's owner).
        if call.principal is not None:
            if call.local is None:
                self.access.require(call.principal, call.server, call.tool, Permission.EXECUTE)
            else:
                needed = local_permission(call.tool)
                if not self.access.has_permission(call.principal, needed):
                    raise PermissionDeniedError(
                        f"Permission denied for {call.params['name']!r}: it needs the "
                        f"{needed.value.upper()} permission; add {needed.value!r} to one of the "
                        "caller's roles under access.roles"
                    )
        return await call_next(call)
