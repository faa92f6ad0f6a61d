"""An agent on /mcp finds and adds servers itself, under the fleet's approval policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from helpers import fleet, own_server, serve_gateway
from mcpfleet.config import GatewayConfig, OnDemandConfig
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(120)

Fleet = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def gateway(tmp_path: Path) -> Fleet:
    @asynccontextmanager
    async def start(**on_demand: Any) -> AsyncIterator[str]:
        config = fleet(
            tmp_path / "home",
            echo=own_server("echo_server.py"),
            work=own_server("work_server.py", enabled=False),  # configured, not running
        )
        config.registry_url = "http://127.0.0.1:9"  # no registry: the built-in catalog only
        config.gateway = GatewayConfig(port=0, on_demand=OnDemandConfig(**on_demand))
        async with MCPManager(config, auto_install=True) as manager:
            await manager.start_server("echo")
            async with serve_gateway(manager) as url:
                yield url

    return start


def text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_find_and_add_with_auto_approval(gateway: Fleet, mode: str) -> None:
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if getattr(getattr(message, "root", message), "method", "") == "notifications/tools/list_changed":
            changed.set()

    async with (
        gateway(approval="auto") as url,
        Client(f"{url}/mcp", mode=mode, message_handler=on_message) as agent,
    ):
        names = {t.name for t in (await agent.list_tools()).tools}
        assert {"fleet__find_servers", "fleet__add_server", "echo__echo"} <= names
        found = await agent.call_tool("fleet__find_servers", {"query": "time"})
        assert "- time" in text(found) and "registry could not be searched" in text(found)
        if mode == "legacy":  # told on the session's GET stream
            added = await agent.call_tool("fleet__add_server", {"name": "work"})
            await asyncio.wait_for(changed.wait(), 10)
        else:  # told on a subscriptions/listen stream
            async with agent.listen(tools_list_changed=True) as subscription:
                assert subscription.honored.tools_list_changed
                added = await agent.call_tool("fleet__add_server", {"name": "work"})
                await asyncio.wait_for(anext(subscription), 10)
        assert not added.is_error, text(added)
        assert "work__lookup" in text(added)
        names = {t.name for t in (await agent.list_tools()).tools}
        assert {"work__lookup", "work__store"} <= names
        result = await agent.call_tool("work__lookup", {"key": "k"})
        assert text(result).startswith("k@")
        again = await agent.call_tool("fleet__add_server", {"name": "work"})
        assert "already running" in text(again)
        missing = await agent.call_tool("fleet__add_server", {"name": "no-such-server-at-all"})
        assert missing.is_error and "find_servers" in text(missing)


async def test_a_catalog_server_is_installed_from_pypi(gateway: Fleet) -> None:
    async with gateway(approval="auto") as url, Client(f"{url}/mcp") as agent:
        added = await agent.call_tool("fleet__add_server", {"name": "time"})
        assert not added.is_error, text(added)
        result = await agent.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert "UTC" in text(result)


async def test_approval_by_an_operator(gateway: Fleet) -> None:
    async with gateway(approval="approve") as url, Client(f"{url}/mcp") as agent:
        asking = asyncio.create_task(agent.call_tool("fleet__add_server", {"name": "work"}))
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            pending: list[dict[str, Any]] = []
            for _ in range(100):
                pending = (await http.get("/api/v1/approvals")).json()["approvals"]
                if pending:
                    break
                await asyncio.sleep(0.05)
            assert [p["server"] for p in pending] == ["work"]
            assert not asking.done()
            unknown = await http.post("/api/v1/approvals/nope", json={"approve": True})
            assert unknown.status_code == 404
            decided = await http.post(f"/api/v1/approvals/{pending[0]['id']}", json={"approve": True})
            assert decided.json()["approvals"][0]["approved"] is True
        added = await asking
        assert not added.is_error and "work__lookup" in text(added)


async def test_declined_and_timed_out_requests(gateway: Fleet) -> None:
    async with gateway(approval="approve", approval_timeout=0.5) as url, Client(f"{url}/mcp") as agent:
        timed_out = await agent.call_tool("fleet__add_server", {"name": "work"})
        assert timed_out.is_error and "mcpfleet approve" in text(timed_out)
        asking = asyncio.create_task(agent.call_tool("fleet__add_server", {"name": "work"}))
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for _ in range(100):
                pending = (await http.get("/api/v1/approvals")).json()["approvals"]
                if pending:
                    break
                await asyncio.sleep(0.02)
            await http.post(f"/api/v1/approvals/{pending[0]['id']}", json={"approve": False})
        declined = await asking
        assert declined.is_error and "declined" in text(declined)
        assert "work__lookup" not in {t.name for t in (await agent.list_tools()).tools}


async def test_deny_policy_and_switched_off(gateway: Fleet) -> None:
    async with gateway(approval="deny") as url, Client(f"{url}/mcp") as agent:
        refused = await agent.call_tool("fleet__add_server", {"name": "work"})
        assert refused.is_error and "switched off" in text(refused)
    async with gateway(enabled=False) as url, Client(f"{url}/mcp") as agent:
        assert not any(t.name.startswith("fleet__") for t in (await agent.list_tools()).tools)
