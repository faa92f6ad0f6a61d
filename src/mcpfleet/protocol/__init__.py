"""The client side of MCP: a session over stdio or streamable HTTP, both protocol generations."""

from __future__ import annotations

from mcpfleet.protocol.http import HttpTransport
from mcpfleet.protocol.session import MODERN_VERSION, SESSION_VERSIONS, ClientSession
from mcpfleet.protocol.stdio import StdioTransport
from mcpfleet.protocol.transport import Transport

__all__ = [
    "MODERN_VERSION",
    "SESSION_VERSIONS",
    "ClientSession",
    "HttpTransport",
    "StdioTransport",
    "Transport",
]
