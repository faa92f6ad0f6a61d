"""What the caller's roles allow (``access:`` in the fleet YAML): calls are refused, lists
filtered, reads checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import PermissionDeniedError
from mcpfleet.gateway.context import ListRequest, ReadRequest
from mcpfleet.gateway.middleware import CallNext, ListNext, Middleware, ReadNext, ToolCall
from mcpfleet.security import Permission

if TYPE_CHECKING:
    from mcpfleet.security import AccessControl

__all__ = ["AccessMiddleware", "local_permission"]


def local_permission(tool: str) -> Permission:
    """The gateway's own tools: finding servers is a call, adding one changes the fleet."""
    return Permission.WRITE if tool == "add_server" else Permission.EXECUTE


class AccessMiddleware(Middleware):
    """``tool(server, name)`` gives the server's tools/list entry, whose ``readOnlyHint`` lets a
    role without a grant there call the tool with READ alone; asked only when that matters."""

    name = "access"

    def __init__(
        self,
        access: AccessControl,
        tool: Callable[[str, str], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> None:
        self.access = access
        self.tool = tool

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        # No principal: an in-process caller (the stdio front, run by the fleet's owner).
        if call.principal is not None:
            if call.local is None:
                read_only = await self._read_only(call)
                self.access.require(call.principal, call.server, call.tool, read_only=read_only)
            else:
                needed = local_permission(call.tool)
                if not self.access.has_permission(call.principal, needed):
                    raise PermissionDeniedError(
                        f"Permission denied for {call.params['name']!r}: it needs the "
                        f"{needed.value.upper()} permission; add {needed.value!r} to one of the "
                        "caller's roles under access.roles"
                    )
        return await call_next(call)

    async def _read_only(self, call: ToolCall) -> bool:
        """Whether the tool is marked readOnlyHint, looked up only if that would change the answer."""
        access, principal = self.access, call.principal
        if self.tool is None or principal is None:
            return False
        if access.check_permission(principal, call.server, call.tool):
            return False
        if not access.check_permission(principal, call.server, call.tool, read_only=True):
            return False
        listed = await self.tool(call.server, call.tool)
        annotations = listed.get("annotations") if listed is not None else None
        return isinstance(annotations, dict) and annotations.get("readOnlyHint") is True

    async def on_list(self, request: ListRequest, call_next: ListNext) -> dict[str, Any]:
        principal = request.principal
        if principal is not None:
            access = self.access

            def allow(server: str, method: str, item: dict[str, Any]) -> bool:
                """Tools it may list; the prompts, resources and templates of servers it may read."""
                if method == "tools/list":
                    if server == "fleet" and item.get("name") in ("find_servers", "add_server"):
                        return access.has_permission(principal, local_permission(str(item["name"])))
                    return access.check_permission(principal, server, str(item.get("name")), Permission.LIST)
                if method == "prompts/list":
                    return access.check_permission(principal, server, str(item.get("name")), Permission.READ)
                return access.check_server(principal, server, Permission.READ)

            request.allows.append(allow)
        return await call_next(request)

    async def on_read(self, request: ReadRequest, call_next: ReadNext) -> dict[str, Any]:
        principal = request.principal
        if principal is not None:
            if request.name is None:
                if not self.access.check_server(principal, request.server, Permission.READ):
                    self.access.require(principal, request.server, None, Permission.READ)
            else:
                self.access.require(principal, request.server, request.name, Permission.READ)
        return await call_next(request)
