"""Calls through the manager's load balancer: failover, draining, maintenance, backups.

Real child processes of our own work_server.py (tools that say which process answered and how
long they take), killed with real signals; backups are the same server over HTTP on loopback.

The same through the gateway, with the official SDK's client calling while instances are
SIGKILLed or drained.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from helpers import fleet, own_server, serve_gateway, serve_http
from mcpfleet.config import GatewayConfig, RemotePackage, ServerSpec
from mcpfleet.exceptions import CallInterruptedError, ConfigError, ServerUnavailableError
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(90)


def text(result: dict) -> str:  # type: ignore[type-arg]
    return "".join(c.get("text", "") for c in result["content"])


def pid_of(result: dict) -> int:  # type: ignore[type-arg]
    return int(text(result).rsplit("@", 1)[1])


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[MCPManager]:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=3))
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        yield manager


async def test_calls_spread_round_robin_over_instances(manager: MCPManager) -> None:
    pids = [pid_of(await manager.execute_tool("work", "lookup", {"key": "k"})) for _ in range(6)]
    assert len(set(pids)) == 3
    assert pids[:3] == pids[3:]  # round robin: the same order twice


async def test_sigkill_during_read_only_stream_fails_no_call(manager: MCPManager) -> None:
    victim = manager.get_server_instances("work")[0].pid
    assert victim is not None

    async def one(i: int) -> int:
        return pid_of(await manager.execute_tool("work", "lookup", {"key": str(i), "delay": 0.05}))

    async def stream(n: int) -> list[int]:
        return [await one(i) for i in range(n)]

    streams = [asyncio.create_task(stream(40)) for _ in range(6)]
    await asyncio.sleep(0.4)
    os.killpg(victim, signal.SIGKILL)
    results = await asyncio.gather(*streams)  # would raise if any call failed
    assert sum(len(r) for r in results) == 240
    assert victim not in {p for r in results for p in r[-5:]}  # no new calls went to the dead one


async def test_unsafe_call_cut_off_is_not_repeated(manager: MCPManager) -> None:
    await manager.list_tools("work")  # the manager learns the tools' annotations
    calls = [
        asyncio.create_task(manager.execute_tool("work", "store", {"key": "x", "delay": 2})) for _ in range(3)
    ]
    idem = [asyncio.create_task(manager.execute_tool("work", "count", {"delay": 2})) for _ in range(3)]
    await asyncio.sleep(0.5)
    victim = manager.get_server_instances("work")[1]
    assert victim.pid is not None
    os.killpg(victim.pid, signal.SIGKILL)
    stored = await asyncio.gather(*calls, return_exceptions=True)
    failed = [r for r in stored if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], CallInterruptedError)
    assert "may or may not have run" in str(failed[0]) and "retry_tools" in str(failed[0])
    counted = await asyncio.gather(*idem)  # idempotentHint: repeated elsewhere, none fails
    assert victim.pid not in {pid_of(r) for r in counted}


async def test_retry_tools_in_config_make_a_tool_safe(tmp_path: Path) -> None:
    spec = own_server("work_server.py", instances=2, retry_tools=["store"])
    async with MCPManager(fleet(tmp_path / "home", work=spec), auto_install=True) as manager:
        await manager.start_server("work")  # annotations never listed: a kill still finds retry_tools
        calls = [
            asyncio.create_task(manager.execute_tool("work", "store", {"key": "x", "delay": 1.5}))
            for _ in range(2)
        ]
        await asyncio.sleep(0.5)
        victim = manager.get_server_instances("work")[0]
        assert victim.pid is not None
        os.killpg(victim.pid, signal.SIGKILL)
        assert all("stored x@" in text(r) for r in await asyncio.gather(*calls))


async def test_annotations_are_learned_on_failure_when_never_listed(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=2))
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        calls = [
            asyncio.create_task(manager.execute_tool("work", "lookup", {"key": "a", "delay": 1.5}))
            for _ in range(2)
        ]
        await asyncio.sleep(0.5)
        victim = manager.get_server_instances("work")[1]
        assert victim.pid is not None
        os.killpg(victim.pid, signal.SIGKILL)
        assert len({pid_of(r) for r in await asyncio.gather(*calls)}) == 1


async def test_drain_under_load_cuts_nothing_then_maintenance(manager: MCPManager) -> None:
    calls = [
        asyncio.create_task(manager.execute_tool("work", "store", {"key": str(i), "delay": 0.6}))
        for i in range(9)
    ]
    await asyncio.sleep(0.2)
    assert manager.load_balancer.in_flight("work") == 9
    left = await manager.drain_connections("work", timeout=10)
    assert left == 0
    assert all(text(r).startswith("stored") for r in await asyncio.gather(*calls))
    with pytest.raises(ServerUnavailableError, match="draining"):
        await manager.execute_tool("work", "lookup", {"key": "k"})
    await manager.set_maintenance_mode("work", True)
    with pytest.raises(ServerUnavailableError, match="maintenance mode"):
        await manager.execute_tool("work", "lookup", {"key": "k"})
    assert manager.status()[0]["mode"] == "maintenance"
    await manager.set_maintenance_mode("work", False)  # healthy: back in rotation
    assert text(await manager.execute_tool("work", "lookup", {"key": "k"})).startswith("k@")
    assert manager.maintenance_mode("work") is None


async def test_drain_timeout_reports_calls_still_in_flight(manager: MCPManager) -> None:
    slow = asyncio.create_task(manager.execute_tool("work", "lookup", {"key": "k", "delay": 2}))
    await asyncio.sleep(0.2)
    assert await manager.drain_connections("work", timeout=0.2) == 1
    assert text(await slow).startswith("k@")  # still not cut


async def test_unhealthy_server_stays_in_maintenance(manager: MCPManager) -> None:
    await manager.set_maintenance_mode("work", True)
    stopped = [i.pid for i in manager.get_server_instances("work") if i.pid]
    for pid in stopped:
        os.killpg(pid, signal.SIGSTOP)  # alive but not answering
    try:
        with pytest.raises(ServerUnavailableError, match="stays in maintenance"):
            await manager.set_maintenance_mode("work", False)
        assert manager.maintenance_mode("work") == "maintenance"
    finally:
        for pid in stopped:
            os.killpg(pid, signal.SIGCONT)


async def test_maintenance_sends_calls_to_backups(tmp_path: Path) -> None:
    async with serve_http("work_server.py", "--http", "{port}") as backup:
        spec = own_server("work_server.py", instances=1)
        async with MCPManager(fleet(tmp_path / "home", work=spec), auto_install=True) as manager:
            await manager.configure_failover("work", None, [backup.url])
            assert manager.spec("work").backups == [backup.url]
            assert (tmp_path / "home" / "configs" / "work.yaml").read_text().count(backup.url) == 1
            local = pid_of(await manager.execute_tool("work", "lookup", {"key": "k"}))
            await manager.drain_connections("work", timeout=5)
            await manager.set_maintenance_mode("work", True)
            assert pid_of(await manager.execute_tool("work", "lookup", {"key": "k"})) == backup.process.pid
            await manager.set_maintenance_mode("work", False)
            assert pid_of(await manager.execute_tool("work", "lookup", {"key": "k"})) == local
            # A local server that dies for good: its backup takes the calls.
            for instance in manager.get_server_instances("work"):
                await instance.stop()
            assert pid_of(await manager.execute_tool("work", "lookup", {"key": "k"})) == backup.process.pid


async def test_remote_server_fails_over_and_switches_url(tmp_path: Path) -> None:
    async with (
        serve_http("work_server.py", "--http", "{port}") as primary,
        serve_http("work_server.py", "--http", "{port}") as backup,
        MCPManager(fleet(tmp_path / "home"), auto_install=True) as manager,
    ):
        await manager.configure_failover("search", primary.url, [backup.url])  # added as remote
        assert manager.spec("search").package == RemotePackage(url=primary.url)
        assert pid_of(await manager.execute_tool("search", "lookup", {"key": "k"})) == primary.process.pid
        primary.kill()
        await primary.process.wait()
        assert pid_of(await manager.execute_tool("search", "lookup", {"key": "k"})) == backup.process.pid
        await manager.switch_server_url("search", backup.url)
        assert manager.spec("search").package == RemotePackage(url=backup.url)
        assert manager.spec("search").backups == [primary.url]  # the old primary is now the backup
        assert pid_of(await manager.execute_tool("search", "lookup", {"key": "k"})) == backup.process.pid
        with pytest.raises(ServerUnavailableError, match="does not answer"):
            await manager.switch_server_url("search", primary.url)
        assert manager.spec("search").package == RemotePackage(url=backup.url)


async def test_local_server_switch_and_restore(manager: MCPManager) -> None:
    async with serve_http("work_server.py", "--http", "{port}") as elsewhere:
        await manager.switch_server_url("work", elsewhere.url)
        assert pid_of(await manager.execute_tool("work", "lookup", {"key": "k"})) == elsewhere.process.pid
        await manager.restore_traffic("work")
        assert pid_of(await manager.execute_tool("work", "lookup", {"key": "k"})) != elsewhere.process.pid


async def test_failover_config_errors_say_what_to_do(manager: MCPManager) -> None:
    with pytest.raises(ConfigError, match="runs locally"):
        await manager.configure_failover("work", "http://127.0.0.1:1/mcp", [])
    with pytest.raises(ConfigError, match="not MCP URLs"):
        await manager.configure_failover("work", None, ["ftp://x"])
    assert manager.spec("work").backups == []


async def test_session_hash_keeps_a_session_on_one_instance(tmp_path: Path) -> None:
    spec = own_server("work_server.py", instances=3, balancing="session_hash")
    async with MCPManager(fleet(tmp_path / "home", work=spec), auto_install=True) as manager:
        await manager.start_server("work")
        for key in ("alice", "bob", "carol"):
            pids = {
                pid_of(await manager.execute_tool("work", "lookup", {"key": "k"}, session_key=key))
                for _ in range(4)
            }
            assert len(pids) == 1


def test_balancing_in_config_is_validated() -> None:
    with pytest.raises(ValueError, match="round_robin"):
        ServerSpec.model_validate({"package": {"type": "command", "command": "x"}, "balancing": "fastest"})


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, MCPManager]]:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=3))
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        async with serve_gateway(manager) as url:
            yield url, manager


def sdk_text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_sigkill_under_a_stream_of_read_only_calls(gateway: tuple[str, MCPManager], mode: str) -> None:
    url, manager = gateway
    victim = manager.get_server_instances("work")[1].pid
    assert victim is not None

    async def stream(client: Client, n: int) -> list[str]:
        out = []
        for i in range(n):
            result = await client.call_tool("lookup", {"key": str(i), "delay": 0.03})
            assert not result.is_error, sdk_text(result)
            out.append(sdk_text(result))
        return out

    async with Client(f"{url}/servers/work/mcp", mode=mode) as client:  # type: ignore[arg-type]
        streams = [asyncio.create_task(stream(client, 30)) for _ in range(4)]
        await asyncio.sleep(0.3)
        os.killpg(victim, signal.SIGKILL)
        answers = await asyncio.gather(*streams)
    assert sum(len(a) for a in answers) == 120


async def test_drain_under_load_through_the_gateway(gateway: tuple[str, MCPManager]) -> None:
    url, manager = gateway
    async with Client(f"{url}/servers/work/mcp", mode="legacy") as client:  # type: ignore[arg-type]
        calls = [
            asyncio.create_task(client.call_tool("store", {"key": str(i), "delay": 0.8})) for i in range(6)
        ]
        for _ in range(100):
            if manager.load_balancer.in_flight("work") == 6:
                break
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            drained = (await http.post("/api/v1/servers/work/drain", json={"timeout": 10})).json()
        assert drained == {"mode": "draining", "in_flight": 0}
        results = await asyncio.gather(*calls)
        assert all(sdk_text(r).startswith("stored") for r in results)  # none was cut
        refused = await client.call_tool("lookup", {"key": "k"})
        assert refused.is_error and "draining" in sdk_text(refused)
