"""What the dashboard reads of the gateway, and nothing more (as the admin API's ``AdminContext``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcpfleet.audit import AuditLogger
    from mcpfleet.gateway.ondemand import OnDemand
    from mcpfleet.gateway.views import ListCache
    from mcpfleet.manager import MCPManager
    from mcpfleet.metrics import MetricsCollector
    from mcpfleet.monitoring import HealthMonitor
    from mcpfleet.security import AccessControl, Authenticator, Principal

__all__ = ["CallTool", "DashboardContext"]

CallTool = Callable[..., Awaitable[dict[str, Any]]]  # (server, tool, arguments, *, principal, address)


@dataclass(frozen=True)
class DashboardContext:
    """The gateway's parts the dashboard uses.

    ``call_tool`` is the engine's: a playground call passes the same middlewares (access, rate
    limits, audit, metrics) as an MCP client's. ``authenticator`` is None when the fleet asks no
    one who they are; every visitor is then ``anonymous``.
    """

    manager: MCPManager
    lists: ListCache
    call_tool: CallTool
    on_demand: OnDemand
    monitor: HealthMonitor
    metrics: MetricsCollector
    authenticator: Authenticator | None
    access: AccessControl | None
    anonymous: Principal
    audit: AuditLogger | None
    separator: str = "__"
    secret: bytes | None = None  # signs session cookies; random per process when None
