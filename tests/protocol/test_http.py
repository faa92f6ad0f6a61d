"""ClientSession over streamable HTTP against a real server built with the official SDK."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from helpers import free_port, serve_everything_http, serve_http
from mcpfleet.exceptions import ServerUnavailableError, ToolCallError
from mcpfleet.loadbalancer import LoadBalancer
from mcpfleet.protocol import MODERN_VERSION, ClientSession

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["sse", "json"])
async def url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    extra = ["--json"] if request.param == "json" else []
    async with serve_http("http_server.py", "{port}", *extra) as server:
        yield server.url


async def test_stateless_generation_by_default(url: str) -> None:
    session = await ClientSession.over_http(url, server="h", headers={"Authorization": "Bearer abc"})
    try:
        assert session.protocol_version == MODERN_VERSION
        assert session.server_info["name"] == "http-toy"
        assert (await session.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
        assert (await session.call_tool("whoami"))["content"][0]["text"] == "Bearer abc"
        tools = {t["name"] for t in await session.list_tools()}
        assert tools == {"echo", "add", "whoami"}
        await session.ping(timeout=5)
    finally:
        await session.aclose()


async def test_session_generation_with_session_id(url: str) -> None:
    session = await ClientSession.over_http(url, server="h", protocol="session")
    try:
        assert session.protocol_version == "2025-11-25"
        assert getattr(session.transport, "session_id", None)
        results = await asyncio.gather(*(session.call_tool("echo", {"text": str(i)}) for i in range(20)))
        assert [r["content"][0]["text"] for r in results] == [str(i) for i in range(20)]
        await session.ping(timeout=5)
        with pytest.raises(ToolCallError):
            await session.request("no/such/method")
    finally:
        await session.aclose()


async def test_unreachable_url_is_a_clear_error() -> None:
    with pytest.raises(ServerUnavailableError, match="ConnectError"):
        await ClientSession.over_http(f"http://127.0.0.1:{free_port()}/mcp", server="gone", timeout=5)


async def test_a_typescript_sdk_server_that_answers_with_id_null_is_not_waited_for() -> None:
    # It answers a POST without a session (our server/discover probe) with a JSON-RPC error
    # whose id is null: that is the answer to the one request on that POST, so the handshake
    # falls back to initialize at once instead of waiting for its timeout.
    async with serve_everything_http() as url:
        address = url.removeprefix("http://").removesuffix("/mcp")
        started = time.monotonic()
        session = await ClientSession.over_http(url, server="ev", timeout=10)
        try:
            assert time.monotonic() - started < 5
            assert session.protocol_version == "2025-11-25"
            echoed = await session.call_tool("echo", {"message": "hi"})
            assert echoed["content"][0]["text"] == "Echo: hi"
        finally:
            await session.aclose()

        # The guide's spelling: an instance run elsewhere, behind the LoadBalancer.
        balancer = LoadBalancer()
        balancer.add_instance("everything", "ev-1", address)
        try:
            instance = balancer.get_instance("everything")
            result = await instance.execute("echo", {"message": "balanced"})
            assert result["content"][0]["text"] == "Echo: balanced"
        finally:
            await balancer.aclose()
