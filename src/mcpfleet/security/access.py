"""Role-based access control: which roles may list, call and read what on which server.

    from mcpfleet.security import AccessControl, Permission

    ac = AccessControl()
    ac.add_role("admin", [Permission.ALL])
    ac.add_role("developer", [Permission.READ, Permission.EXECUTE, Permission.LIST])
    ac.add_role("viewer", [Permission.READ, Permission.LIST])
    ac.set_server_permissions("filesystem", {"admin": ["*"], "developer": ["read_*", "list_directory"],
                                             "viewer": ["list_directory"]})
    ac.check_permission("developer", "filesystem", "write_file")   # False: not in its grant
    ac.check_permission("viewer", "filesystem", "list_directory")  # True: its grant names it

The rules, in the order they are applied:

1. Permissions belong to roles. ``EXECUTE`` calls a tool, ``LIST`` shows it in ``tools/list``,
   ``READ`` reads resources and prompts (and calls tools marked ``readOnlyHint``, see 4),
   ``WRITE`` changes the fleet through MCP (adding a server on demand), ``ADMIN`` uses the admin
   API. ``ALL`` is every one of them.
2. A role with ``ADMIN`` (or ``ALL``) is not limited by grants: it can reconfigure the fleet
   anyway. It still needs ``EXECUTE`` to call, ``LIST`` to list, ``READ`` to read.
3. A role's grant on a server is its entry in that server's ``set_server_permissions`` (or, when
   the server has no entry of its own, in the entry of the server named ``"*"``): tool names or
   glob patterns, ``"*"`` for every tool. A grant is the operator's explicit allow list: the
   role may call exactly the tools it names on that server, whatever its permissions, and no
   other (an empty grant closes the server to the role). Listing and reading there also need
   ``LIST`` and ``READ``, and only what the grant names is listed.
4. With no grant for the role on the server, its permissions decide: a tool marked
   ``readOnlyHint`` may be called with ``READ``, any other tool needs ``EXECUTE``; ``LIST``
   lists the server's tools and ``READ`` reads its resources and prompts.
5. A caller with several roles is allowed when any single one of its roles allows it.
6. An unknown role has no permissions.
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
        self._decided: dict[tuple[str, str, str | None, Permission, bool], bool] = {}

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
        """Which tools each role may call on ``server``: names or glob patterns, ``"*"`` for all.

        A role's grant is its exact allow list there (``[]``: nothing); roles left out keep
        what their permissions give. ``server`` ``"*"`` is the default for every server
        without an entry of its own.
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
        self,
        caller: Caller,
        server: str,
        tool: str,
        permission: Permission = Permission.EXECUTE,
        *,
        read_only: bool = False,
    ) -> bool:
        """Whether the caller may use ``tool`` on ``server`` (call it, by default).

        ``read_only``: the tool is marked ``readOnlyHint``, so a role without a grant on the
        server may call it with ``READ`` alone.
        """
        return any(self._role_allows(role, server, tool, permission, read_only) for role in _roles(caller))

    def check_server(self, caller: Caller, server: str, permission: Permission = Permission.READ) -> bool:
        """Whether the caller has ``permission`` on ``server`` at all (for resources and prompts).

        A role needs the permission, and when it has a grant on the server, a grant naming
        something; ``ADMIN`` needs the permission only.
        """
        return any(self._role_allows(role, server, None, permission, False) for role in _roles(caller))

    def visible_tools(self, caller: Caller, server: str, tool_names: Iterable[str]) -> list[str]:
        """The tools of ``server`` to show the caller in ``tools/list``, in the given order."""
        return [t for t in tool_names if self.check_permission(caller, server, t, Permission.LIST)]

    def denial_reason(
        self,
        caller: Caller,
        server: str,
        tool: str | None,
        permission: Permission = Permission.EXECUTE,
        *,
        read_only: bool = False,
    ) -> str | None:
        """``None`` when allowed; else why not and what to change, fit for a JSON-RPC error message."""
        roles = _roles(caller)
        if any(self._role_allows(role, server, tool, permission, read_only) for role in roles):
            return None
        what = f"{_DOING[permission]} on {server!r}" if tool is None else f"{tool!r} on {server!r}"
        if not roles:
            return (
                f"Permission denied for {what}: the caller has no role. Give its API key a role, "
                "or set auth.default_role for tokens that carry none"
            )
        calling = permission is Permission.EXECUTE and tool is not None
        entry_name = server if server in self._servers else DEFAULT_SERVER
        entry = self._servers.get(entry_name, {})
        with_grant = [r for r in roles if r in entry and Permission.ADMIN not in self._roles.get(r, ())]
        if calling and with_grant:
            return self._not_granted(what, entry_name, entry, with_grant)
        needed = Permission.READ if calling and read_only else permission
        holders = [r for r in roles if needed in self._roles.get(r, ())]
        if not holders:
            doing = "calling a tool marked readOnlyHint" if needed is not permission else _DOING[permission]
            have = sorted({p.value for r in roles for p in self._roles.get(r, ())}) or ["none"]
            grant = f", or grant the tool under access.servers.{server}" if calling else ""
            return (
                f"Permission denied for {what}: {doing} needs the {needed.value.upper()} permission, "
                f"which role(s) {', '.join(roles)} lack (they have: {', '.join(have)}). "
                f"Add {needed.value!r} to one of them under access.roles{grant}"
            )
        return self._not_granted(what, entry_name, entry, holders)

    @staticmethod
    def _not_granted(
        what: str, entry_name: str, entry: Mapping[str, tuple[str, ...]], roles: list[str]
    ) -> str:
        allowed = sorted({p for r in roles for p in entry.get(r, ())})
        listing = f"it allows {', '.join(allowed)}" if allowed else "it lists none of them"
        return (
            f"Permission denied for {what}: access.servers.{entry_name} does not grant it to role(s) "
            f"{', '.join(roles)} ({listing}). Add the tool or a pattern under that entry"
        )

    def require(
        self,
        caller: Caller,
        server: str,
        tool: str | None,
        permission: Permission = Permission.EXECUTE,
        *,
        read_only: bool = False,
    ) -> None:
        """Raise :class:`PermissionDeniedError` with :meth:`denial_reason` unless allowed."""
        reason = self.denial_reason(caller, server, tool, permission, read_only=read_only)
        if reason is not None:
            raise PermissionDeniedError(reason)

    def _role_allows(
        self, role: str, server: str, tool: str | None, permission: Permission, read_only: bool
    ) -> bool:
        key = (role, server, tool, permission, read_only)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decide(role, server, tool, permission, read_only)
            if len(self._decided) < 100_000:  # tool names come from clients: keep it bounded
                self._decided[key] = decided
        return decided

    def _decide(
        self, role: str, server: str, tool: str | None, permission: Permission, read_only: bool
    ) -> bool:
        granted = self._roles.get(role)
        if granted is None:
            return False
        if Permission.ADMIN in granted:
            return permission in granted
        entry = self._servers.get(server, self._servers.get(DEFAULT_SERVER))
        grant = None if entry is None else entry.get(role)
        if permission is Permission.EXECUTE and tool is not None:
            if grant is not None:  # the operator's explicit allow list, whatever the role's permissions
                return any(fnmatchcase(tool, pattern) for pattern in grant)
            return (Permission.READ if read_only else Permission.EXECUTE) in granted
        if permission not in granted:
            return False
        if grant is None:
            return True
        if tool is None:
            return bool(grant)
        return any(fnmatchcase(tool, pattern) for pattern in grant)
