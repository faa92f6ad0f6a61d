"""ClientSession over stdio against our toy server and real servers, both protocol generations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from helpers import NPM_BIN, PYPI_BIN, SERVERS
from mcpfleet.exceptions import (
    ConnectionClosedError,
    HandshakeTimeoutError,
    ProtocolError,
    RequestTimeoutError,
    ToolCallError,
)
from mcpfleet.protocol import MODERN_VERSION, ClientSession, StdioTransport

Opener = Callable[..., Any]


@pytest.fixture
async def open_session() -> AsyncIterator[Opener]:
    """Start a command and open a session on it; everything is stopped after the test."""
    started: list[tuple[ClientSession, asyncio.subprocess.Process]] = []

    async def open_(*argv: str, protocol: str = "auto", timeout: float = 20.0, **kw: Any) -> ClientSession:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stdin is not None
        session = ClientSession(
            StdioTransport(process.stdout, process.stdin, server="t"), server="t", protocol=protocol, **kw
        )  # type: ignore[arg-type]
        started.append((session, process))
        return await session.open(timeout)

    yield open_
    for session, process in started:
        await session.aclose()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def toy(*args: str) -> tuple[str, ...]:
    return (sys.executable, str(SERVERS / "toy.py"), *args)


async def test_session_protocol_handshake_and_call(open_session: Opener) -> None:
    session = await open_session(*toy("--protocol", "session"))
    assert session.protocol_version == "2025-11-25"
    assert session.server_info["name"] == "toy"
    result = await session.call_tool("echo", {"text": "hi"})
    assert result["content"][0]["text"] == "hi"
    assert result["structuredContent"]["meta"] is None  # no stateless envelope on the session protocol
    await session.ping(timeout=5)


async def test_stateless_protocol_carries_meta_on_every_request(open_session: Opener) -> None:
    session = await open_session(*toy("--protocol", "stateless"))
    assert session.protocol_version == MODERN_VERSION and session.stateless
    result = await session.call_tool("echo", {"text": "x"})
    meta = result["structuredContent"]["meta"]
    assert meta["io.modelcontextprotocol/protocolVersion"] == MODERN_VERSION
    assert "io.modelcontextprotocol/clientCapabilities" in meta
    await session.ping(timeout=5)  # no ping in 2026-07-28: answered through server/discover


async def test_auto_prefers_stateless_when_offered(open_session: Opener) -> None:
    session = await open_session(*toy("--protocol", "both"))
    assert session.protocol_version == MODERN_VERSION


async def test_forced_stateless_against_session_server_fails_clearly(open_session: Opener) -> None:
    with pytest.raises(ProtocolError, match="does not speak MCP 2026-07-28"):
        await open_session(*toy("--protocol", "session"), protocol="stateless")


async def test_many_concurrent_requests_on_one_connection(open_session: Opener) -> None:
    session = await open_session(*toy())
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(session.call_tool("sleep", {"seconds": 0.5}) for _ in range(20)))
    assert all(r["content"][0]["text"] == "slept 0.5" for r in results)
    assert asyncio.get_running_loop().time() - started < 5  # concurrent, not 20 x 0.5 s one by one


async def test_timeout_raises_and_session_stays_usable(open_session: Opener) -> None:
    session = await open_session(*toy())
    with pytest.raises(RequestTimeoutError, match=r"tools/call got no answer within 0\.2s"):
        await session.call_tool("sleep", {"seconds": 3}, timeout=0.2)
    assert (await session.call_tool("echo", {"text": "still here"}))["content"][0]["text"] == "still here"
    assert session.in_flight == 0


async def test_json_rpc_error_becomes_tool_call_error(open_session: Opener) -> None:
    session = await open_session(*toy())
    with pytest.raises(ToolCallError) as info:
        await session.call_tool("fail")
    assert info.value.code == -32000 and info.value.error_message == "toy failure"


async def test_notifications_reach_the_handler(open_session: Opener) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    session = await open_session(*toy(), on_notification=lambda m, p: seen.append((m, p)))
    await session.call_tool("notify", {"text": "hello"})
    assert ("notifications/message", {"level": "info", "data": "hello"}) in seen
    assert any(m == "notifications/tools/list_changed" for m, _ in seen)


async def test_crash_fails_requests_in_flight(open_session: Opener) -> None:
    session = await open_session(*toy())
    slow = asyncio.create_task(session.call_tool("sleep", {"seconds": 10}))
    await asyncio.sleep(0.1)
    with pytest.raises(ConnectionClosedError):
        await session.call_tool("crash", {"code": 9})
    with pytest.raises(ConnectionClosedError, match="may or may not have run"):
        await slow
    assert session.closed


async def test_banner_on_stdout_is_skipped(open_session: Opener) -> None:
    session = await open_session(*toy("--banner"))
    assert (await session.call_tool("echo", {"text": "ok"}))["content"][0]["text"] == "ok"


async def test_garbage_only_server_times_out_with_what_it_wrote(open_session: Opener) -> None:
    with pytest.raises(HandshakeTimeoutError, match="not MCP JSON-RPC, the first: 'this is not json'"):
        await open_session(*toy("--mode", "garbage"), timeout=1.0)


async def test_hung_server_times_out(open_session: Opener) -> None:
    with pytest.raises(HandshakeTimeoutError, match=r"no answer to the MCP handshake within 0\.5s"):
        await open_session(*toy("--mode", "hang"), timeout=0.5)


@pytest.mark.npm
async def test_real_server_everything(open_session: Opener) -> None:
    path = NPM_BIN / "mcp-server-everything"
    if not path.exists():
        pytest.skip("run scripts/test: it installs the npm test servers")
    session = await open_session(str(path))
    tools = {t["name"] for t in await session.list_tools()}
    assert {"echo", "get-sum"} <= tools or {"echo", "add"} <= tools
    result = await session.call_tool("echo", {"message": "fleet"})
    assert "fleet" in result["content"][0]["text"]
    await session.ping(timeout=5)


@pytest.mark.pypi
async def test_real_server_time(open_session: Opener) -> None:
    path = PYPI_BIN / "mcp-server-time"
    if not path.exists():
        pytest.skip("run scripts/test: it installs the PyPI test servers")
    session = await open_session(str(path))
    result = await session.call_tool("get_current_time", {"timezone": "UTC"})
    assert "UTC" in result["content"][0]["text"]
