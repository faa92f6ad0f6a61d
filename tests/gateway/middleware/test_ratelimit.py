"""Rate limits on the gateway's call path: MCP clients get a JSON-RPC error with retry_after, the
admin API a 429 with Retry-After, and /metrics counts the refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from helpers import fleet, own_server, routing_headers, serve_gateway
from mcpfleet.config import GatewayConfig
from mcpfleet.manager import MCPManager
from mcpfleet.ratelimit import RateLimitConfig

pytestmark = pytest.mark.timeout(60)

HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    limits = RateLimitConfig.model_validate({"servers": {"names": {"toy": {"rate": "2/hour"}}}})
    config.gateway = GatewayConfig(port=0, rate_limits=limits)
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_all()
        async with serve_gateway(manager) as gateway_url:
            yield gateway_url


def _call(n: int) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": n,
        "method": "tools/call",
        "params": {
            "name": "toy__echo",
            "arguments": {"text": str(n)},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }


async def test_calls_over_the_limit_are_refused_with_when_to_retry(url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        headers = {**HEADERS, **routing_headers(_call(0))}  # each call is tools/call toy__echo
        replies = [(await http.post(f"{url}/mcp", json=_call(n), headers=headers)).json() for n in range(3)]
        admin = await http.post(f"{url}/api/v1/servers/toy/tools/echo", json={"text": "x"})
        metrics = (await http.get(f"{url}/metrics")).text
    assert [("result" in r) for r in replies] == [True, True, False]
    error = replies[2]["error"]
    assert error["code"] == -32029 and "server 'toy'" in error["message"]
    assert 1700 < error["data"]["retry_after"] <= 1800 and error["data"]["requestId"]
    assert admin.status_code == 429 and 1700 < int(admin.headers["retry-after"]) <= 1800
    assert 'mcp_errors_total{error_type="rate_limited",server="toy"} 2.0' in metrics
    assert "mcp_rate_limited_total 2.0" in metrics
