"""Access control: the guide's example verbatim, then the whole matrix of roles, servers and tools.

The rule: a role's grant on a server is its exact allow list there; with no grant, a tool marked
readOnlyHint needs READ and any other EXECUTE; a role with ADMIN is bound by its permissions only."""

from __future__ import annotations

import pytest

from mcpfleet.config import parse_config
from mcpfleet.exceptions import ConfigError, PermissionDeniedError
from mcpfleet.security import AccessControl, Permission, Principal

FS_TOOLS = ["read_file", "write_file", "list_directory", "delete_file"]


def guide() -> AccessControl:
    # From "Security Best Practices / Access Control" in the guide, verbatim.
    ac = AccessControl()
    # Define roles
    ac.add_role("admin", [Permission.ALL])
    ac.add_role("developer", [Permission.READ, Permission.EXECUTE, Permission.LIST])
    ac.add_role("viewer", [Permission.READ, Permission.LIST])
    # Assign permissions to servers
    ac.set_server_permissions(
        "filesystem",
        {"admin": ["*"], "developer": ["read_file", "list_directory"], "viewer": ["list_directory"]},
    )
    return ac


def test_the_guides_example() -> None:
    ac = guide()
    assert ac.check_permission("developer", "filesystem", "write_file") is False
    assert ac.check_permission("developer", "filesystem", "read_file") is True
    assert ac.check_permission("admin", "filesystem", "write_file") is True
    # The viewer's grant names list_directory: the operator allowed it, though viewer has no EXECUTE.
    assert ac.check_permission("viewer", "filesystem", "list_directory") is True
    assert ac.check_permission("viewer", "filesystem", "read_file") is False


@pytest.mark.parametrize(
    ("role", "tool", "execute", "listed"),
    [
        ("admin", "read_file", True, True),
        ("admin", "delete_file", True, True),
        ("developer", "read_file", True, True),
        ("developer", "list_directory", True, True),
        ("developer", "write_file", False, False),
        ("developer", "delete_file", False, False),
        ("viewer", "list_directory", True, True),  # granted: called without EXECUTE
        ("viewer", "read_file", False, False),
        ("stranger", "list_directory", False, False),  # an undeclared role has nothing
    ],
)
def test_matrix_on_a_server_with_an_entry(role: str, tool: str, execute: bool, listed: bool) -> None:
    ac = guide()
    assert ac.check_permission(role, "filesystem", tool) is execute
    assert ac.check_permission(role, "filesystem", tool, Permission.LIST) is listed
    assert (tool in ac.visible_tools(role, "filesystem", FS_TOOLS)) is listed


def test_without_a_grant_read_only_tools_need_read_and_others_execute() -> None:
    ac = guide()
    assert ac.check_permission("admin", "github", "create_issue")
    assert ac.check_permission("developer", "github", "create_issue")
    assert not ac.check_permission("viewer", "github", "create_issue")
    assert not ac.check_permission("viewer", "github", "get_issue")
    assert ac.check_permission("viewer", "github", "get_issue", read_only=True)
    ac.add_role("lister", [Permission.LIST])
    assert not ac.check_permission("lister", "github", "get_issue", read_only=True)
    assert ac.visible_tools("viewer", "github", ["get_issue", "create_issue"]) == [
        "get_issue",
        "create_issue",
    ]
    # A role left out of a server's entry keeps what its permissions give there.
    ac.add_role("tester", [Permission.READ, Permission.EXECUTE, Permission.LIST])
    assert ac.check_permission("tester", "filesystem", "write_file")
    # A grant overrides the permissions both ways: it allows what it names and nothing else,
    # read-only or not; an empty grant closes the server to the role.
    assert not ac.check_permission("developer", "filesystem", "write_file", read_only=True)
    ac.set_server_permissions("github", {"developer": []})
    assert not ac.check_permission("developer", "github", "get_issue", read_only=True)
    assert ac.visible_tools("developer", "github", ["get_issue"]) == []


def test_the_default_entry_applies_to_servers_without_their_own() -> None:
    ac = guide()
    ac.set_server_permissions("*", {"developer": ["get_*"], "viewer": []})
    assert ac.check_permission("developer", "github", "get_issue")
    assert not ac.check_permission("developer", "github", "create_issue")
    assert not ac.check_permission("viewer", "github", "get_issue", read_only=True)
    assert not ac.check_server("viewer", "github", Permission.READ)
    # A server's own entry replaces the default rather than adding to it.
    assert not ac.check_permission("developer", "filesystem", "get_stats")


def test_globs_and_several_roles() -> None:
    ac = guide()
    ac.set_server_permissions("filesystem", {"developer": ["read_*", "list_*"], "viewer": ["list_*"]})
    assert ac.check_permission("developer", "filesystem", "read_multiple_files")
    assert not ac.check_permission("developer", "filesystem", "Read_file")  # case matters
    both = Principal("carol", ("viewer", "developer"), "jwt")
    assert ac.check_permission(both, "filesystem", "read_file")  # any role grants
    assert ac.check_permission(["viewer", "developer"], "filesystem", "read_file")
    assert ac.visible_tools(both, "filesystem", FS_TOOLS) == ["read_file", "list_directory"]
    # Permissions are not pooled across roles: LIST from one, the grant from another.
    ac.add_role("runner", [Permission.EXECUTE])
    ac.set_server_permissions("filesystem", {"runner": ["read_file"], "viewer": ["list_*"]})
    assert ac.check_permission(["runner", "viewer"], "filesystem", "read_file")  # runner's grant
    assert not ac.check_permission(["runner", "viewer"], "filesystem", "read_file", Permission.LIST)


def test_read_write_and_admin_permissions() -> None:
    ac = guide()
    ac.add_role("ops", [Permission.ADMIN, Permission.LIST])
    assert ac.check_server("viewer", "filesystem", Permission.READ)
    assert ac.check_server("viewer", "github", Permission.READ)  # no grant: READ decides
    ac.set_server_permissions("github", {"viewer": []})
    assert not ac.check_server("viewer", "github", Permission.READ)  # an empty grant closes it
    assert ac.is_admin("admin") and ac.is_admin("ops") and not ac.is_admin("developer")
    assert ac.has_permission("admin", Permission.WRITE) and not ac.has_permission(
        "developer", Permission.WRITE
    )
    # ADMIN is not limited by server entries, but still needs EXECUTE to call.
    assert ac.check_permission("ops", "github", "anything", Permission.LIST)
    assert not ac.check_permission("ops", "github", "anything")
    assert ac.roles["admin"] == frozenset(Permission) - {Permission.ALL}


def test_denial_reasons_name_what_is_missing() -> None:
    ac = guide()
    assert ac.denial_reason("developer", "filesystem", "read_file") is None
    assert ac.denial_reason("viewer", "filesystem", "list_directory") is None
    assert "needs the EXECUTE permission, which role(s) viewer lack (they have: list, read)" in str(
        ac.denial_reason("viewer", "github", "create_issue")
    )
    assert "or grant the tool under access.servers.github" in str(
        ac.denial_reason("viewer", "github", "create_issue")
    )
    ac.add_role("lister", [Permission.LIST])
    assert "calling a tool marked readOnlyHint needs the READ permission" in str(
        ac.denial_reason("lister", "github", "get_issue", read_only=True)
    )
    reason = str(ac.denial_reason("developer", "filesystem", "write_file"))
    assert "access.servers.filesystem does not grant it to role(s) developer" in reason
    assert "it allows list_directory, read_file" in reason
    assert "the caller has no role" in str(ac.denial_reason(Principal.anonymous(), "filesystem", "x"))
    assert "reading resources and prompts on 'github'" in str(
        ac.denial_reason("lister", "github", None, Permission.READ)
    )
    with pytest.raises(PermissionDeniedError, match="does not grant it to role"):
        ac.require("viewer", "filesystem", "read_file")
    with pytest.raises(PermissionDeniedError, match="EXECUTE"):
        ac.require("viewer", "github", "create_issue")
    ac.require("viewer", "github", "get_issue", read_only=True)
    ac.require("admin", "filesystem", "delete_file")


def test_declared_in_the_fleet_file() -> None:
    config = parse_config(
        """
access:
  roles:
    admin: [all]
    developer: [read, execute, list]
    viewer: [read, list]
  servers:
    filesystem: {admin: ["*"], developer: [read_file, list_directory], viewer: [list_directory]}
    "*": {developer: ["*"]}
"""
    )
    assert config.access.enabled
    ac = AccessControl.from_config(config.access)
    assert not ac.check_permission("developer", "filesystem", "write_file")
    assert ac.check_permission("developer", "github", "create_issue")
    assert ac.visible_tools("viewer", "filesystem", FS_TOOLS) == ["list_directory"]
    assert not parse_config("servers: {}").access.enabled


def test_bad_access_declarations_are_refused_with_their_path() -> None:
    with pytest.raises(ConfigError, match=r"role 'develper' is not declared under access.roles"):
        parse_config("access: {roles: {developer: [read]}, servers: {fs: {develper: ['*']}}}")
    with pytest.raises(ConfigError, match=r"access.roles.viewer.0 .*Input should be 'read'"):
        parse_config("access: {roles: {viewer: [look]}}")
    with pytest.raises(ConfigError, match="not a server name"):
        parse_config("access: {roles: {a: [read]}, servers: {'../etc': {a: ['*']}}}")
    with pytest.raises(ValueError, match="permissions are read, write"):
        AccessControl().add_role("x", ["sudo"])


def test_each_mcp_request_maps_to_the_permission_it_needs() -> None:
    from mcpfleet.security.access import METHOD_PERMISSIONS

    assert METHOD_PERMISSIONS["tools/call"] is Permission.EXECUTE
    assert METHOD_PERMISSIONS["tools/list"] is Permission.LIST
    assert METHOD_PERMISSIONS["resources/read"] is METHOD_PERMISSIONS["prompts/get"] is Permission.READ
    assert "initialize" not in METHOD_PERMISSIONS and "ping" not in METHOD_PERMISSIONS
