"""What travels between a client and an upstream besides the answer: progress, log messages,
cancellation when the client goes away, and one client's calls kept on one instance."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, types

from helpers import fleet, npm_server, own_server, routing_headers, serve_gateway
from mcpfleet.config import GatewayConfig
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(90)

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, MCPManager]]:
    config = fleet(
        tmp_path / "home",
        everything=npm_server("server-everything"),
        work=own_server("work_server.py", instances=2),
        conformance=own_server("conformance_server.py", instances=2),
    )
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config, auto_install=True) as manager:
        assert set((await manager.start_all()).values()) == {"ready"}
        async with serve_gateway(manager) as url:
            yield url, manager


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_progress_reaches_the_client_that_asked(gateway: tuple[str, MCPManager], mode: str) -> None:
    url, _ = gateway
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with Client(f"{url}/mcp", mode=mode) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "everything__trigger-long-running-operation",
            {"duration": 0.6, "steps": 3},
            progress_callback=on_progress,
        )
    assert not result.is_error
    assert [p for p, _ in seen] == [1, 2, 3] and {t for _, t in seen} == {3}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_log_messages_of_a_call_reach_its_client(gateway: tuple[str, MCPManager], mode: str) -> None:
    url, _ = gateway
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    async with Client(
        f"{url}/servers/conformance/mcp",
        mode=mode,  # type: ignore[arg-type]
        logging_callback=on_log,
        log_level="info",
    ) as client:
        await client.call_tool("test_tool_with_logging", {})
    assert logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]


async def test_a_call_without_notifications_is_plain_json(gateway: tuple[str, MCPManager]) -> None:
    url, _ = gateway
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "lookup", "arguments": {"key": "k"}},
    }
    body["params"]["_meta"] = {  # type: ignore[index]
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {**HEADERS, "mcp-protocol-version": "2026-07-28", **routing_headers(body)}
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(f"{url}/servers/work/mcp", json=body, headers=headers)
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["result"]["content"][0]["text"].startswith("k@")


async def test_client_that_goes_away_cancels_the_call_upstream(gateway: tuple[str, MCPManager]) -> None:
    url, manager = gateway
    async with Client(f"{url}/servers/work/mcp", mode="legacy") as client:  # type: ignore[arg-type]
        call = asyncio.create_task(client.call_tool("lookup", {"key": "k", "delay": 30}))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if manager.load_balancer.in_flight("work") == 1:
                break
        assert manager.load_balancer.in_flight("work") == 1
        call.cancel()  # the SDK client drops the POST: the connection closes
        await asyncio.gather(call, return_exceptions=True)
        # A stream it could resume waits RESUME_WINDOW (5 s) for it; then the call is cancelled.
        for _ in range(200):
            await asyncio.sleep(0.05)
            if manager.load_balancer.in_flight("work") == 0:
                break
        assert manager.load_balancer.in_flight("work") == 0  # cancelled upstream, not left for 30 s
        assert [i.state.value for i in manager.get_server_instances("work")] == ["ready", "ready"]


async def test_one_client_session_stays_on_one_instance(gateway: tuple[str, MCPManager]) -> None:
    url, manager = gateway
    for instance in manager.get_server_instances("work"):
        assert instance.pid is not None
    manager.load_balancer.set_strategy("work", "session_hash")
    pids = []
    for _ in range(3):
        async with Client(f"{url}/servers/work/mcp", mode="legacy") as client:  # type: ignore[arg-type]
            answers = [(await client.call_tool("lookup", {"key": "k"})).content[0] for _ in range(4)]
            pids.append({json.dumps(a.model_dump()).rsplit("@", 1)[1] for a in answers})
    assert all(len(p) == 1 for p in pids)


async def test_sampling_asked_by_an_upstream_reaches_the_session_client(
    gateway: tuple[str, MCPManager],
) -> None:
    url, _ = gateway
    asked: list[str] = []

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(str(getattr(params.messages[0].content, "text", "")))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="test-llm"
        )

    async with Client(f"{url}/servers/conformance/mcp", mode="legacy", sampling_callback=sample) as client:  # type: ignore[arg-type]
        result = await client.call_tool("test_sampling", {"prompt": "what is six times seven?"})
    assert not result.is_error
    assert asked == ["what is six times seven?"]
    assert "forty-two" in "".join(getattr(c, "text", "") for c in result.content)

    async with Client(f"{url}/servers/conformance/mcp", mode="legacy") as client:  # type: ignore[arg-type]
        refused = await client.call_tool("test_sampling", {"prompt": "x"})
    assert refused.is_error
    assert "did not declare the sampling capability" in "".join(
        getattr(c, "text", "") for c in refused.content
    )


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_every_round_of_a_call_returns_to_its_instance(
    gateway: tuple[str, MCPManager], mode: str
) -> None:
    # Two instances, each sealing its requestState with its own random key: a round that went
    # to the other instance would be refused and the call asked again, forever.
    url, _ = gateway

    async def confirm(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"ok": True})

    async with Client(f"{url}/servers/conformance/mcp", mode=mode, elicitation_callback=confirm) as client:  # type: ignore[arg-type]
        for _ in range(4):
            result = await client.call_tool("test_input_required_result_request_state", {})
            assert "state-ok: confirmed=True" in "".join(getattr(c, "text", "") for c in result.content), (
                result
            )


async def test_errors_carry_a_request_id_for_the_logs(gateway: tuple[str, MCPManager]) -> None:
    url, _ = gateway
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "no_such_tool",
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {**HEADERS, "mcp-protocol-version": "2026-07-28", **routing_headers(body)}
    async with httpx.AsyncClient(timeout=30) as http:
        reply = (await http.post(f"{url}/mcp", json=body, headers=headers)).json()
    assert reply["id"] == 7 and "Unknown tool" in reply["error"]["message"]
    assert len(reply["error"]["data"]["requestId"]) == 12


async def test_a_stream_the_client_lost_is_resumed_with_last_event_id(
    gateway: tuple[str, MCPManager],
) -> None:
    url, _ = gateway
    endpoint = f"{url}/servers/everything/mcp"
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(
            endpoint,
            headers=HEADERS,
            json={
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
            },
        )
        session = {**HEADERS, "mcp-session-id": opened.headers["mcp-session-id"]}
        await http.post(
            endpoint, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "trigger-long-running-operation",
                "arguments": {"duration": 1.5, "steps": 3},
                "_meta": {"progressToken": "p"},
            },
        }
        seen: list[str] = []
        async with http.stream("POST", endpoint, headers=session, json=call) as stream:
            assert stream.headers["content-type"] == "text/event-stream"
            async for line in stream.aiter_lines():
                seen.append(line)
                if line.startswith("data: {"):
                    break  # the first progress notification: now the connection drops
        priming, last = seen[0], next(line for line in reversed(seen) if line.startswith("id: "))
        assert priming.startswith("id: ") and "retry: 1000" in seen
        resumed = await http.get(
            endpoint, headers={**session, "accept": "text/event-stream", "last-event-id": last[4:]}
        )
    messages = [json.loads(line[6:]) for line in resumed.text.splitlines() if line.startswith("data: {")]
    assert [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"] == [
        2,
        3,
    ]
    assert messages[-1]["id"] == 7 and not messages[-1]["result"].get("isError")


async def test_a_call_its_client_cancels_ends_without_a_reply_and_stops_upstream(
    gateway: tuple[str, MCPManager], caplog: pytest.LogCaptureFixture
) -> None:
    """notifications/cancelled: the call stops upstream and its POST ends with no JSON-RPC
    reply (202, no body), as the spec asks of a cancelled request; nothing is logged as an error."""
    url, manager = gateway
    endpoint = f"{url}/servers/work/mcp"
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(
            endpoint,
            headers=HEADERS,
            json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init},
        )
        session = {**HEADERS, "mcp-session-id": opened.headers["mcp-session-id"]}
        await http.post(
            endpoint, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        slow = {"name": "lookup", "arguments": {"key": "k", "delay": 30}}
        call = asyncio.create_task(
            http.post(
                endpoint,
                headers=session,
                json={"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": slow},
            )
        )
        for _ in range(100):
            await asyncio.sleep(0.05)
            if manager.load_balancer.in_flight("work") == 1:
                break
        assert manager.load_balancer.in_flight("work") == 1
        cancelled = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
        assert (await http.post(endpoint, headers=session, json=cancelled)).status_code == 202
        reply = await asyncio.wait_for(call, 10)
    assert (reply.status_code, reply.content) == (202, b"")
    for _ in range(100):
        if manager.load_balancer.in_flight("work") == 0:
            break
        await asyncio.sleep(0.05)
    assert manager.load_balancer.in_flight("work") == 0  # cancelled upstream, not left for 30 s
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
