"""The gateway: one MCP endpoint for the whole fleet, plus the admin REST API."""

from __future__ import annotations

from mcpfleet.gateway.app import Gateway
from mcpfleet.gateway.server import GatewayServer

__all__ = ["Gateway", "GatewayServer"]
