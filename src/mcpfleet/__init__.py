"""mcpfleet: run fleets of MCP servers in production."""

from __future__ import annotations

from mcpfleet.config import FleetConfig, ServerSpec, load_config
from mcpfleet.exceptions import FleetError

__all__ = ["FleetConfig", "FleetError", "ServerSpec", "load_config"]
__version__ = "0.1.0"
