"""Names that reach the file system or a process cannot escape the fleet home or inject commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpfleet.config import ServerSpec, parse_config
from mcpfleet.exceptions import ConfigError
from mcpfleet.home import FleetHome, check_server_name
from mcpfleet.manager import MCPManager
from mcpfleet.security import AccessControl, Permission

HOSTILE = [
    "../etc",
    "..",
    "a/b",
    "/abs",
    "a\0b",
    "x; rm -rf ~",
    "$(reboot)",
    "`id`",
    "a\nb",
    "ok\n",
    "Upper",
    "",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_home_paths_refuse_hostile_server_names(tmp_path: Path, name: str) -> None:
    home = FleetHome.at(tmp_path)
    for folder in (home.server_dir, home.data_dir, home.log_dir):
        with pytest.raises(ConfigError, match="is not a valid server name: use 1-63 lower-case letters"):
            folder(name)
    assert list(tmp_path.iterdir()) == []


def test_valid_names_stay_inside_the_home(tmp_path: Path) -> None:
    home = FleetHome.at(tmp_path)
    assert home.data_dir("my-server_2").parent == home.data
    assert check_server_name("a" * 63) == "a" * 63
    with pytest.raises(ConfigError):
        check_server_name("a" * 64)


@pytest.mark.parametrize("name", ["../etc", "a/b", "x;id", "a\nb"])
def test_the_fleet_file_refuses_them_with_the_rule(name: str) -> None:
    text = (
        f'servers: {{"{name.encode("unicode_escape").decode()}": {{package: {{type: command, command: x}}}}}}'
    )
    with pytest.raises(ConfigError, match="server names are lower-case letters, digits"):
        parse_config(text)


async def test_the_manager_refuses_to_write_a_config_for_them(tmp_path: Path) -> None:
    manager = MCPManager(parse_config(f"home: {tmp_path}"))
    spec = ServerSpec.model_validate({"package": {"type": "command", "command": "x"}})
    with pytest.raises(ConfigError, match=r"'\.\./\.\./escape' is not a valid server name"):
        await manager.apply_config("../../escape", spec)
    assert not (tmp_path / "escape.yaml").exists() and not (tmp_path.parent / "escape.yaml").exists()


def test_hostile_tool_names_are_only_strings_to_access_control() -> None:
    ac = AccessControl()
    ac.add_role("developer", [Permission.EXECUTE, Permission.LIST])
    ac.set_server_permissions("fs", {"developer": ["read_*"]})
    for tool in ("read_../../etc/passwd", "read_$(id)", "read_\0"):
        assert ac.check_permission("developer", "fs", tool)  # matched as text, never as a path
    assert not ac.check_permission("developer", "fs", "../read_x")
    assert ac.visible_tools("developer", "fs", ["read_a", "write_b; rm -rf /"]) == ["read_a"]
