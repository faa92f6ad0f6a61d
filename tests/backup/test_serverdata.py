"""A running server's data: exported after the call in flight, the server paused (its calls wait),
and names that would leave the data folder refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backup_helpers import until, write_fleet
from helpers import own_server
from mcpfleet.backup import ServerData
from mcpfleet.backup.serverdata import paused
from mcpfleet.exceptions import UnsafeArchiveError
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


async def test_export_waits_for_the_call_in_flight(tmp_path: Path) -> None:
    async with MCPManager(write_fleet(tmp_path, "servers: {}\n")) as manager:
        await manager.apply_config("toy", own_server("toy.py"))
        assert (await manager.batch_install()).ok
        await manager.start_server("toy")
        (manager.home.data_dir("toy") / "state.txt").write_text("v1")
        call = asyncio.create_task(manager.execute_tool("toy", "sleep", {"seconds": 0.3}))
        await until(lambda: manager.load_balancer.in_flight("toy") > 0)
        data = await manager.export_server_data("toy")
        assert call.done() and not call.result().get("isError")
        assert data.files == {"state.txt": b"v1"}
        echoed = await manager.execute_tool("toy", "echo", {"text": "still here"})
        assert echoed["content"][0]["text"] == "still here"


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def test_paused_server_is_stopped_and_its_calls_wait_instead_of_failing(tmp_path: Path) -> None:
    async with MCPManager(write_fleet(tmp_path, "servers: {}\n")) as manager:
        await manager.apply_config("toy", own_server("toy.py"))
        assert (await manager.batch_install()).ok
        await manager.start_server("toy")
        pid = manager.get_server_instances("toy")[0].pid
        assert pid is not None
        async with paused(manager, "toy"):
            assert process_state(pid) == "T"
            call = asyncio.create_task(manager.execute_tool("toy", "echo", {"text": "queued"}))
            await until(lambda: manager.load_balancer.in_flight("toy") > 0)
        assert (await call)["content"][0]["text"] == "queued"
        assert process_state(pid) in ("S", "R")


def test_server_data_refuses_paths_that_leave_the_folder() -> None:
    with pytest.raises(UnsafeArchiveError):
        ServerData("x", {"../escape": b""})
