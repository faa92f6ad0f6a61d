"""Role-based access control: which roles may list, call and read what on which server.

    from mcpfleet.security import AccessControl, Permission

    ac = AccessControl()
    ac.add_role("admin", [Permission.ALL])
    ac.add_role("developer", [Permission.READ, Permission.EXECUTE, Permission.LIST])
    ac.set_server_permissions("filesystem", {"admin": ["*"], "developer": ["read_*", "list_directory"]})
    ac.check_permission("developer", "filesystem", "write_file")   # False

The rules, in the order they are applied:

1. Permissions belong to roles. ``EXECUTE`` calls a tool, ``LIST`` shows it in ``tools/list``,
   ``READ`` reads resources and prompts, ``WRITE`` changes the fleet through MCP (adding a
   server on demand), ``ADMIN`` uses the admin API. ``ALL`` is every one of them.
2. A role with ``ADMIN`` (or ``ALL``) is not limited by server entries: it can reconfigure the
   fleet anyway. It still needs ``EXECUTE`` to call, ``LIST`` to list, ``READ`` to read.
3. Any other role reaches a server only through that server's entry (tool names or glob
   patterns per role, ``"*"`` for every tool) or, when the server has no entry of its own, the
   entry of the server named ``"*"``. A server with neither is closed to it: deny by default.
4. A caller with several roles is allowed when any single one of its roles allows it.
5. An unknown role has no permissions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, TypeAlias

from mcpfleet.exceptions import PermissionDeniedError
from mcpfleet.security.permissions import DEFAULT_SERVER, METHOD_PERMISSIONS, Permission
from mcpfleet.security.principal import Principal

if TYPE_CHECKING:
    from mcpfleet.security.config import AccessConfig

__all__ = ["METHOD_PERMISSIONS", "AccessControl", "Caller", "Permission"]

_EVERY = frozenset(Permission) - {Permission.ALL}
_DOING = {
    Permission.READ: "reading resources and prompts",
    Permission.WRITE: "changing the fleet",
    Permission.EXECUTE: "calling tools",
    Permission.LIST: "listing tools",
    Permission.ADMIN: "the admin API",
}

Caller: TypeAlias = "str | Principal | Iterable[str]"
"""A role name, a principal (any of its roles counts), or several role names."""


def _roles(caller: Caller) -> tuple[str, ...]:
    if isinstance(caller, str):
        return (caller,)
    if isinstance(caller, Principal):
        return caller.roles
    return tuple(caller)


class AccessControl:
    """Roles, their permissions, and per-server tool grants; see the module docstring for the rules."""

    def __init__(self) -> None:
        self._roles: dict[str, frozenset[Permission]] = {}
        self._servers: dict[str, dict[str, tuple[str, ...]]] = {}
        # Decisions by (role, server, tool, permission): the same few repeat on every call.
        self._decided: dict[tuple[str, str, str | None, Permission], bool] = {}

    @classmethod
    def from_config(cls, config: AccessConfig) -> AccessControl:
        """The rules declared under ``access:`` in the fleet file."""
        ac = cls()
        for name, permissions in config.roles.items():
            ac.add_role(name, permissions)
        for server, grants in config.servers.items():
            ac.set_server_permissions(server, grants)
        return ac

    @property
    def roles(self) -> dict[str, frozenset[Permission]]:
        """Each role and its effective permissions (``ALL`` expanded)."""
        return dict(self._roles)

    def add_role(self, name: str, permissions: Iterable[Permission | str]) -> None:
        """Declare (or replace) a role. ``Permission.ALL`` grants every permission."""
        try:
            granted = {Permission(p) for p in permissions}
        except ValueError as exc:
            known = ", ".join(p.value for p in Permission)
            raise ValueError(f"role {name!r}: {exc}; permissions are {known}") from None
        self._roles[name] = _EVERY if Permission.ALL in granted else frozenset(granted)
        self._decided.clear()

    def set_server_permissions(self, server: str, grants: Mapping[str, Iterable[str]]) -> None:
        """Which tools each role may use on ``server``: names or glob patterns, ``"*"`` for all.

        ``server`` ``"*"`` is the default for every server without an entry of its own.
        """
        self._servers[server] = {role: tuple(patterns) for role, patterns in grants.items()}
        self._decided.clear()

    def has_permission(self, caller: Caller, permission: Permission) -> bool:
        """Whether any of the caller's roles has ``permission``, whatever the server."""
        return any(permission in self._roles.get(role, ()) for role in _roles(caller))

    def is_admin(self, caller: Caller) -> bool:
        """Whether the caller may use the admin API."""
        return self.has_permission(caller, Permission.ADMIN)

    def check_permission(
        self, caller: Caller, server: str, tool: str, permission: Permission = Permission.EXECUTE
    ) -> bool:
        """Whether the caller may use ``tool`` on ``server`` (call it, by default)."""
        return any(self._role_allows(role, server, tool, permission) for role in _roles(caller))

    def check_server(self, caller: Caller, server: str, permission: Permission = Permission.READ) -> bool:
        """Whether the caller has ``permission`` on ``server`` at all (for resources and prompts).

        A role needs the permission and an entry for the server (any patterns) or ``ADMIN``.
        """
        return any(self._role_allows(role, server, None, permission) for role in _roles(caller))

    def visible_tools(self, caller: Caller, server: str, tool_names: Iterable[str]) -> list[str]:
        """The tools of ``server`` to show the caller in ``tools/list``, in the given order."""
        return [t for t in tool_names if self.check_permission(caller, server, t, Permission.LIST)]

    def denial_reason(
        self, caller: Caller, server: str, tool: str | None, permission: Permission = Permission.EXECUTE
    ) -> str | None:
        """``None`` when allowed; else why not and what to change, fit for a JSON-RPC error message."""
        roles = _roles(caller)
        if any(self._role_allows(role, server, tool, permission) for role in roles):
            return None
        what = f"{_DOING[permission]} on {server!r}" if tool is None else f"{tool!r} on {server!r}"
        if not roles:
            return (
                f"Permission denied for {what}: the caller has no role. Give its API key a role, "
                "or set auth.default_role for tokens that carry none"
            )
        names = ", ".join(roles)
        holders = [r for r in roles if permission in self._roles.get(r, ())]
        if not holders:
            have = sorted({p.value for r in roles for p in self._roles.get(r, ())}) or ["none"]
            return (
                f"Permission denied for {what}: {_DOING[permission]} needs the "
                f"{permission.value.upper()} permission, which role(s) {names} lack (they have: "
                f"{', '.join(have)}). Add {permission.value!r} to one of them under access.roles"
            )
        entry_name = server if server in self._servers else DEFAULT_SERVER
        entry = self._servers.get(entry_name)
        if entry is None:
            return (
                f"Permission denied for {what}: server {server!r} has no access entry. "
                f"Add access.servers.{server} (or a '*' default) granting role {holders[0]!r} its tools"
            )
        allowed = sorted({p for r in holders for p in entry.get(r, ())})
        listing = f"it allows {', '.join(allowed)}" if allowed else "it lists none of them"
        return (
            f"Permission denied for {what}: access.servers.{entry_name} does not grant it to role(s) "
            f"{', '.join(holders)} ({listing}). Add the tool or a pattern under that entry"
        )

    def require(
        self, caller: Caller, server: str, tool: str | None, permission: Permission = Permission.EXECUTE
    ) -> None:
        """Raise :class:`PermissionDeniedError` with :meth:`denial_reason` unless allowed."""
        reason = self.denial_reason(caller, server, tool, permission)
        if reason is not None:
            raise PermissionDeniedError(reason)

    def _role_allows(self, role: str, server: str, tool: str | None, permission: Permission) -> bool:
        key = (role, server, tool, permission)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decide(role, server, tool, permission)
            if len(self._decided) < 100_000:  # tool names come from clients: keep it bounded
                self._decided[key] = decided
        return decided

    def _decide(self, role: str, server: str, tool: str | None, permission: Permission) -> bool:
        granted = self._roles.get(role)
        if granted is None or permission not in granted:
            return False
        if Permission.ADMIN in granted:
            return True
        entry = self._servers.get(server, self._servers.get(DEFAULT_SERVER))
        if entry is None or role not in entry:
            return False
        if tool is None:
            return bool(entry[role])
        return any(fnmatchcase(tool, pattern) for pattern in entry[role])
