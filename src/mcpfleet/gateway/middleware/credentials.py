"""Puts the caller's own credentials on the upstream requests of the servers that need them.

For a server with ``${user:NAME}`` headers or ``token_exchange:``, the caller's headers are
built (:mod:`mcpfleet.security.upstream_credentials`) and set for the forwarding task
(:data:`mcpfleet.protocol.credentials.caller_headers`). A call whose credentials cannot be had
gets a tool error that says what is missing and who can fix it; no value is ever in it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import FleetError
from mcpfleet.gateway.jsonrpc import tool_error
from mcpfleet.gateway.middleware import CallNext, Middleware, ReadNext, ToolCall
from mcpfleet.protocol.credentials import caller_headers

if TYPE_CHECKING:
    from mcpfleet.gateway.context import ReadRequest
    from mcpfleet.security.upstream_credentials import UpstreamCredentials

__all__ = ["CredentialsMiddleware"]

log = logging.getLogger("mcpfleet.gateway")


class CredentialsMiddleware(Middleware):
    name = "credentials"

    def __init__(self, credentials: UpstreamCredentials) -> None:
        self.credentials = credentials
        self.servers = credentials.servers()

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        if call.local is not None or call.server not in self.servers:
            return await call_next(call)
        try:
            headers = await self.credentials.headers_for(call.server, call.principal)
        except FleetError as exc:
            log.warning("tools/call %s of %s: no upstream credentials: %s", call.tool, call.server, exc)
            if call.via == "admin":
                raise
            return tool_error(str(exc))
        token = caller_headers.set({call.server: headers or {}})
        try:
            return await call_next(call)
        finally:
            caller_headers.reset(token)

    async def on_read(self, request: ReadRequest, call_next: ReadNext) -> dict[str, Any]:
        if request.server not in self.servers:
            return await call_next(request)
        headers = await self.credentials.headers_for(request.server, request.principal)
        token = caller_headers.set({request.server: headers or {}})
        try:
            return await call_next(request)
        finally:
            caller_headers.reset(token)
