"""MCPManager, the guide's facade, against real servers: npm, PyPI and our own."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from helpers import fleet, npm_server, own_server, pypi_server
from mcpfleet.config import CommandPackage, FleetConfig, ServerSpec
from mcpfleet.exceptions import ServerUnavailableError, UnknownServerError
from mcpfleet.manager import InstallStrategy, MCPManager
from mcpfleet.runtime import InstanceState
from mcpfleet.runtime.state import ServerState

pytestmark = pytest.mark.timeout(90)


def test_constructible_outside_an_event_loop(tmp_path: Path) -> None:
    manager = MCPManager(fleet(tmp_path, toy=own_server("toy.py")))
    assert manager.list_servers() == ["toy"]
    assert manager.get_all_configs()["toy"]["package"]["type"] == "command"


async def test_real_fleet_end_to_end(tmp_path: Path) -> None:
    config = fleet(
        tmp_path / "home",
        everything=npm_server("server-everything"),
        memory=npm_server("server-memory", env={"MEMORY_FILE_PATH": "${MCPFLEET_SERVER_DATA}/graph.json"}),
        filesystem=npm_server("server-filesystem", str(tmp_path)),
        time=pypi_server("mcp-server-time", "--local-timezone", "UTC", instances=2),
        git=pypi_server("mcp-server-git"),
        toy=own_server("toy.py"),
    )
    async with MCPManager(config) as manager:
        result = await manager.batch_install(strategy=InstallStrategy.PARALLEL, verify=True)
        assert result.ok, [o.reason for o in result.outcomes]
        assert set((await manager.start_all()).values()) == {"ready"}
        assert len(manager.get_server_instances("time")) == 2
        names = {t.name for t in await manager.list_tools("time")}
        assert "get_current_time" in names
        now = await manager.execute_tool("time", "get_current_time", {"timezone": "UTC"})
        assert "UTC" in now["content"][0]["text"]
        await manager.execute_tool(
            "memory",
            "create_entities",
            {"entities": [{"name": "Ada", "entityType": "person", "observations": ["first program"]}]},
        )
        graph = await manager.execute_tool("memory", "read_graph", {})
        assert "Ada" in graph["content"][0]["text"]
        assert (tmp_path / "home" / "data" / "memory" / "graph.json").exists()
        (tmp_path / "note.txt").write_text("hello fleet")
        text = await manager.execute_tool(
            "filesystem", "read_text_file", {"path": str(tmp_path / "note.txt")}
        )
        assert "hello fleet" in text["content"][0]["text"]
        echoed = await manager.execute_tool("everything", "echo", {"message": "hi"})
        assert "hi" in echoed["content"][0]["text"]
        assert await manager.health_check("time")
        pids = [i.pid for s in manager.list_servers() for i in manager.get_server_instances(s)]
    for pid in pids:  # aclose reaped every process
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_unknown_server_suggests_the_closest(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path, toy=own_server("toy.py"))) as manager:
        with pytest.raises(UnknownServerError, match="Did you mean 'toy'"):
            await manager.execute_tool("tot", "echo")


async def test_one_bad_server_leaves_the_rest_running(tmp_path: Path) -> None:
    config = fleet(
        tmp_path,
        good=own_server("toy.py"),
        dies=own_server("toy.py", "--mode", "exit"),
        hangs=own_server("toy.py", "--mode", "hang", startup_timeout=1.0),
        garbage=own_server("toy.py", "--mode", "garbage", startup_timeout=1.0),
    )
    async with MCPManager(config) as manager:
        await manager.batch_install()
        results = await manager.start_all()
        assert results["good"] == "ready"
        assert "exited with code 3" in results["dies"] and "missing configuration" in results["dies"]
        assert "no answer to the MCP handshake within 1s" in results["hangs"]
        assert "this is not json" in results["garbage"]
        assert (await manager.execute_tool("good", "echo", {"text": "fine"}))["content"][0]["text"] == "fine"


async def test_not_installed_without_auto_install(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path, toy=own_server("toy.py"))) as manager:
        with pytest.raises(ServerUnavailableError, match="mcpfleet install toy"):
            await manager.execute_tool("toy", "echo")
        # Given up on: the next calls are refused with the reason, without trying to start it again.
        with pytest.raises(ServerUnavailableError, match="it is unavailable: gave up: not installed"):
            await manager.execute_tool("toy", "echo")
        assert manager.server_state("toy").restarts == 0
        await manager.install("toy")  # what it lacked: it is idle again, and a call starts it
        assert manager.server_state("toy").state is ServerState.IDLE
        assert (await manager.execute_tool("toy", "echo", {"text": "x"}))["content"][0]["text"] == "x"


async def test_auto_install_on_first_call(tmp_path: Path) -> None:
    manager = MCPManager(fleet(tmp_path, toy=own_server("toy.py")), auto_install=True, install_timeout=60)
    async with manager:
        result = await manager.execute_tool("toy", "echo", {"text": "installed on demand"})
        assert result["content"][0]["text"] == "installed on demand"
        assert manager.lock.get("toy") is not None


async def test_restart_stop_and_apply_config(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path, toy=own_server("toy.py"))) as manager:
        await manager.batch_install()
        [first] = await manager.start_server("toy")
        old_pid = first.pid
        await manager.restart_server("toy")
        [again] = manager.get_server_instances("toy")
        assert again.state is InstanceState.READY and again.pid != old_pid
        await manager.apply_config("toy", {**manager.get_all_configs()["toy"], "instances": 2})
        await manager.stop_server("toy")
        await manager.start_server("toy")
        assert len(manager.get_server_instances("toy")) == 2
        assert (tmp_path / "configs" / "toy.yaml").exists()
        await manager.stop_server("toy")
        assert manager.get_server_instances("toy") == []


async def test_bad_config_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path, toy=own_server("toy.py"))) as manager:
        before = manager.get_all_configs()
        with pytest.raises(Exception, match="instances"):
            await manager.apply_config("toy", {**before["toy"], "instances": -1})
        assert manager.get_all_configs() == before


async def test_calls_spread_over_instances(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path, toy=own_server("toy.py", instances=3))) as manager:
        await manager.batch_install()
        await manager.start_server("toy")
        pids = await asyncio.gather(*(manager.execute_tool("toy", "pid") for _ in range(9)))
        assert len({p["content"][0]["text"] for p in pids}) == 3


def test_command_server_needs_no_install_tools(tmp_path: Path) -> None:
    spec = ServerSpec(package=CommandPackage(command="definitely-not-on-path-xyz"))
    manager = MCPManager(FleetConfig(home=str(tmp_path), servers={"x": spec}))
    result = asyncio.run(manager.batch_install())
    assert not result.ok and "not found" in (result.outcomes[0].reason or "")
