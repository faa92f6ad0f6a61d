"""Instances come and go under the gateway while real clients keep calling."""

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

from helpers import fleet, own_server, serve_gateway
from mcpfleet.config import GatewayConfig
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, MCPManager]]:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=3))
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        async with serve_gateway(manager) as url:
            yield url, manager


def text(result: Any) -> str:
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
            assert not result.is_error, text(result)
            out.append(text(result))
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
        assert all(text(r).startswith("stored") for r in results)  # none was cut
        refused = await client.call_tool("lookup", {"key": "k"})
        assert refused.is_error and "draining" in text(refused)
