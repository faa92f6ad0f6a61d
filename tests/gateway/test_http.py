"""The gateway over real HTTP on loopback, in front of real servers, with real MCP clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from helpers import fleet, npm_server, own_server, pypi_server, serve_gateway
from mcpfleet.config import GatewayConfig
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(90)

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.fixture
async def gateway_url(tmp_path: Path) -> AsyncIterator[str]:
    config = fleet(
        tmp_path / "home",
        everything=npm_server("server-everything"),
        time=pypi_server("mcp-server-time", "--local-timezone", "UTC"),
        echo=own_server("echo_server.py"),
    )
    config.gateway = GatewayConfig(port=0, virtual_servers={"clock": ["time__*", "echo__echo"]})
    async with MCPManager(config) as manager:
        assert (await manager.batch_install()).ok
        results = await manager.start_all()
        assert set(results.values()) == {"ready"}, results
        async with serve_gateway(manager) as url:
            yield url


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_fleet_endpoint_aggregates_and_routes(gateway_url: str, mode: str) -> None:
    async with Client(f"{gateway_url}/mcp", mode=mode) as client:  # type: ignore[arg-type]
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"everything__echo", "time__get_current_time", "echo__echo", "echo__add"} <= tools
        result = await client.call_tool("echo__echo", {"text": "through the gateway"})
        assert _text(result) == "through the gateway"
        result = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert "UTC" in _text(result)
        result = await client.call_tool("everything__echo", {"message": "hi"})
        assert "hi" in _text(result)


async def test_one_server_endpoint_keeps_names(gateway_url: str) -> None:
    async with Client(f"{gateway_url}/servers/time/mcp", mode="legacy") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"get_current_time", "convert_time"}
        result = await client.call_tool(
            "convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        )
        assert "21:00" in _text(result)


async def test_virtual_server_shows_only_its_tools(gateway_url: str) -> None:
    async with Client(f"{gateway_url}/virtual/clock/mcp", mode="legacy") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"time__get_current_time", "time__convert_time", "echo__echo"}
        with pytest.raises(MCPError, match="Unknown tool: echo__add"):  # not in this view
            await client.call_tool("echo__add", {"a": 1, "b": 2})


async def test_everything_resources_and_prompts_pass_through(gateway_url: str) -> None:
    async with Client(f"{gateway_url}/mcp", mode="legacy") as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert any(p.startswith("everything__") for p in prompts)
        resources = (await client.list_resources()).resources
        assert resources
        read = await client.read_resource(str(resources[0].uri))
        assert read.contents


async def test_session_rules_of_streamable_http(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as http:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        r = await http.post("/mcp", json=init, headers=ACCEPT)
        assert r.status_code == 200
        session = r.headers["mcp-session-id"]
        assert r.json()["result"]["protocolVersion"] == "2025-11-25"
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        assert (await http.post("/mcp", json=listing, headers=ACCEPT)).status_code == 400  # no session id
        r = await http.post("/mcp", json=listing, headers={**ACCEPT, "mcp-session-id": "nope"})
        assert r.status_code == 404
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        r = await http.post("/mcp", json=note, headers={**ACCEPT, "mcp-session-id": session})
        assert r.status_code == 202
        r = await http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "nope__tool", "arguments": {}},
            },
            headers={**ACCEPT, "mcp-session-id": session},
        )
        assert r.json()["error"]["code"] == -32602
        r = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 4, "method": "no/such"},
            headers={**ACCEPT, "mcp-session-id": session},
        )
        assert r.json()["error"]["code"] == -32601
        r = await http.post("/mcp", content=b"{not json", headers={**ACCEPT, "mcp-session-id": session})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == -32700
        assert (await http.delete("/mcp", headers={"mcp-session-id": session})).status_code == 200
        r = await http.post("/mcp", json=listing, headers={**ACCEPT, "mcp-session-id": session})
        assert r.status_code == 404


async def _raw_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``body`` with ``headers`` written as given on the wire (httpx refuses header values with
    surrounding whitespace); the status and the JSON reply."""
    target = httpx.URL(url)
    content = json.dumps(body).encode()
    head = [
        f"POST {target.raw_path.decode()} HTTP/1.1",
        f"host: {target.netloc.decode()}",
        f"content-length: {len(content)}",
        "connection: close",
        *(f"{name}:{value}" for name, value in headers.items()),
    ]
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + content)
        await writer.drain()
        reply = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status, _, payload = reply.partition(b"\r\n\r\n")
    return int(status.split()[1]), json.loads(payload)


async def test_2026_requests_carry_headers_that_mirror_the_body(gateway_url: str) -> None:
    """SEP-2243: a 2026-07-28 request's Mcp-Method is its method, and a tools/call's Mcp-Name its
    tool, or it is refused (HTTP 400, -32020); names are case-insensitive, values exact but for
    surrounding whitespace."""
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN}}
    echo = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "echo__echo", "arguments": {"text": "hi"}, "_meta": MODERN}}  # fmt: skip
    modern = {**ACCEPT, "mcp-protocol-version": "2026-07-28"}
    refused = [  # (body, headers, the header it blames)
        (listing, {"mcp-method": "tools/call"}, "Mcp-Method"),  # another method
        (listing, {}, "Mcp-Method"),  # none
        (listing, {"mcp-method": "TOOLS/LIST"}, "Mcp-Method"),  # values are exact
        (echo, {"mcp-method": "tools/call", "mcp-name": "echo__add"}, "Mcp-Name"),  # another tool
    ]
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        for body, headers, blamed in refused:
            r = await http.post("/mcp", json=body, headers={**modern, **headers})
            assert r.status_code == 400, headers
            assert r.json()["id"] == body["id"] and r.json()["error"]["code"] == -32020, headers
            assert blamed in r.json()["error"]["message"], headers
        r = await http.post(
            "/mcp", json=echo, headers={**modern, "MCP-METHOD": "tools/call", "mcp-NAME": "echo__echo"}
        )
        assert r.status_code == 200 and r.json()["result"]["content"][0]["text"] == "hi"
    spaced = {
        **modern,
        "accept": "application/json",
        "Mcp-Method": "  tools/call\t",
        "Mcp-Name": " echo__echo  ",
    }
    status, reply = await _raw_post(f"{gateway_url}/mcp", echo, spaced)
    assert status == 200 and reply["result"]["content"][0]["text"] == "hi"


async def test_dns_rebinding_protection(gateway_url: str) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
    async with httpx.AsyncClient(base_url=gateway_url) as http:
        r = await http.post("/mcp", json=ping, headers={**ACCEPT, "host": "evil.example:8765"})
        assert r.status_code == 421
        r = await http.post("/mcp", json=ping, headers={**ACCEPT, "origin": "https://evil.example"})
        assert r.status_code == 403
        r = await http.post("/mcp", json=ping, headers={**ACCEPT, "origin": "http://localhost:3000"})
        assert r.status_code == 200
        assert r.json()["result"]["supportedVersions"] == ["2026-07-28"]
        r = await http.post("/api/v1/servers/time/stop", headers={"origin": "https://evil.example"})
        assert r.status_code == 403


async def test_admin_api(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        status = (await http.get("/api/v1/status")).json()
        assert {s["server"] for s in status["servers"]} == {"everything", "time", "echo"}
        tools = (await http.get("/api/v1/tools", params={"server": "echo"})).json()["tools"]
        assert {t["name"] for t in tools} >= {"echo", "add"}
        result = (await http.post("/api/v1/servers/echo/tools/add", json={"a": 2, "b": 3})).json()
        assert "5" in result["content"][0]["text"]
        missing = await http.post("/api/v1/servers/ech/tools/add", json={})
        assert missing.status_code == 404
        assert "Did you mean 'echo'" in missing.json()["error"]
        assert (await http.get("/api/v1/openapi.json")).json()["openapi"].startswith("3.")
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).json() == {"ready": True, "readiness": "all", "not_ready": {}}
        health = (await http.get("/api/v1/health")).json()["servers"]
        assert {name: h["healthy"] for name, h in health.items()} == {
            "everything": True,
            "time": True,
            "echo": True,
        }
        await http.post("/api/v1/servers/time/stop")
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["not_ready"] == {"time": "stopped"}
        await http.post("/api/v1/servers/time/start")
        assert (await http.get("/readyz")).status_code == 200


async def test_admin_drain_and_maintenance(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        drained = await http.post("/api/v1/servers/echo/drain", json={"timeout": 5})
        assert drained.json() == {"mode": "draining", "in_flight": 0}
        refused = await http.post("/api/v1/servers/echo/tools/echo", json={"text": "x"})
        assert refused.status_code == 503 and "draining" in refused.json()["error"]
        on = await http.post("/api/v1/servers/echo/maintenance", json={"enabled": True, "drain_timeout": 5})
        assert on.json() == {"mode": "maintenance", "in_flight": 0}
        async with Client(f"{gateway_url}/mcp") as client:  # an agent sees a readable tool error
            result = await client.call_tool("echo__echo", {"text": "x"})
            assert result.is_error and "maintenance mode" in _text(result)
        status = (await http.get("/api/v1/status")).json()["servers"]
        assert {s["server"]: s["mode"] for s in status}["echo"] == "maintenance"
        bad = await http.post("/api/v1/servers/echo/maintenance", json={"enabled": "yes"})
        assert bad.status_code == 400 and "enabled" in bad.json()["error"]
        off = await http.post("/api/v1/servers/echo/maintenance", json={"enabled": False})
        assert off.json() == {"mode": None, "in_flight": 0}
        back = await http.post("/api/v1/servers/echo/tools/echo", json={"text": "back"})
        assert back.json()["content"][0]["text"] == "back"
