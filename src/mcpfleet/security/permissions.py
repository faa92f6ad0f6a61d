"""The words of access control, shared by the rules (:mod:`~mcpfleet.security.access`), the fleet
file's ``auth:`` and ``access:`` sections (:mod:`~mcpfleet.security.config`) and API keys.

Imports nothing of the fleet's, so any of them may import it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEFAULT_SERVER", "METHOD_PERMISSIONS", "ROLE_NAME", "Permission"]

DEFAULT_SERVER = "*"
"""The ``access.servers`` entry for every server without one of its own."""

ROLE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Permission(StrEnum):
    """What a role may do; written in lower case in the fleet file (``[read, list]``)."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    LIST = "list"
    ADMIN = "admin"
    ALL = "all"


# The permission each MCP request needs; requests not listed (initialize, ping, notifications) need none.
METHOD_PERMISSIONS = {
    "tools/call": Permission.EXECUTE,
    "tools/list": Permission.LIST,
    "resources/list": Permission.LIST,
    "resources/templates/list": Permission.LIST,
    "prompts/list": Permission.LIST,
    "resources/read": Permission.READ,
    "resources/subscribe": Permission.READ,
    "prompts/get": Permission.READ,
    "completion/complete": Permission.READ,
}
