"""What each endpoint shows when a server cannot start: down, with the reason, never empty."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from helpers import fleet, npm_server, own_server, serve_gateway
from mcpfleet.config import CommandPackage, GatewayConfig, ServerSpec
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(90)

CRASH = "import sys; sys.stderr.write('connecting with DB_PASSWORD=hunter2\\n'); sys.exit(3)"


@pytest.fixture
async def gateway_url(tmp_path: Path) -> AsyncIterator[str]:
    broken = ServerSpec(package=CommandPackage(command=sys.executable), args=["-c", CRASH])
    config = fleet(tmp_path / "home", echo=own_server("echo_server.py"), broken=broken)
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config) as manager:
        assert (await manager.batch_install()).ok
        results = await manager.start_all()
        assert results["echo"] == "ready" and results["broken"] != "ready"
        async with serve_gateway(manager) as url:
            yield url


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_server_that_cannot_start_answers_as_down(gateway_url: str, mode: str) -> None:
    async with Client(f"{gateway_url}/servers/broken/mcp", mode=mode) as client:  # type: ignore[arg-type]
        with pytest.raises(MCPError) as listed:
            await client.list_tools()
        assert "broken" in str(listed.value) and "unavailable" in str(listed.value)
        assert "exited with code 3" in str(listed.value)
        called = await client.call_tool("anything", {})
        assert called.is_error
        text = "".join(getattr(c, "text", "") for c in called.content)
        assert "unavailable" in text and "Unknown tool" not in text
        assert "hunter2" not in str(listed.value) + text  # its stderr is for operators only


async def test_the_fleet_endpoint_keeps_the_healthy_servers(gateway_url: str) -> None:
    async with Client(f"{gateway_url}/mcp", mode="legacy") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"echo__echo", "echo__add"} <= tools
        assert not any(name.startswith("broken__") for name in tools)
        called = await client.call_tool("broken__anything", {})
        assert called.is_error
        assert "unavailable" in "".join(getattr(c, "text", "") for c in called.content)


async def test_a_server_is_not_asked_for_what_it_does_not_offer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = npm_server("server-memory", env={"MEMORY_FILE_PATH": str(tmp_path / "memory.json")})
    config = fleet(tmp_path / "home", memory=memory)
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config) as manager:
        assert (await manager.batch_install()).ok
        assert await manager.start_all() == {"memory": "ready"}
        assert "prompts" not in (manager.server_capabilities("memory") or {})
        async with serve_gateway(manager) as url, Client(f"{url}/mcp", mode="legacy") as client:
            assert (await client.list_prompts()).prompts == []
            assert any(t.name == "memory__read_graph" for t in (await client.list_tools()).tools)
    assert not [r for r in caplog.records if "failed" in r.getMessage() and "list" in r.getMessage()]
