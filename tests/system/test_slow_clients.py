"""Slow and greedy clients (issue #14): header and body deadlines, keep-alive, connection caps.

Attackers connect from other loopback addresses (127.0.0.2 and up, which Linux routes to lo) so the
per-address cap they hit is not the one of the MCP client on 127.0.0.1, whose calls must keep
their latency meanwhile. Every loop is bounded in count and time; bounds are 1 s so the test
stays short.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from helpers import fleet, own_server
from mcpfleet.config import ConnectionsConfig, GatewayConfig
from mcpfleet.exceptions import FleetError
from mcpfleet.gateway import Gateway, GatewayServer
from mcpfleet.gateway.limits import check_uvicorn
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(90)

BOUND = 1.0  # header, body and keep-alive timeouts of the gateway under test
PER_ADDRESS = 50
SLACK = 1.0  # how late a closure may come on a loaded machine (the bound itself is 1 s)
LIMITS = ConnectionsConfig(
    header_timeout=BOUND,
    body_timeout=BOUND,
    body_min_rate=16384,
    keep_alive_timeout=BOUND,
    max_per_address=PER_ADDRESS,
)


def _other_loopback_addresses() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


requires_loopback_range = pytest.mark.skipif(
    not _other_loopback_addresses(), reason="needs 127.0.0.2 and up routed to loopback (Linux)"
)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[GatewayServer]:
    config = fleet(tmp_path / "home", work=own_server("work_server.py"))
    config.gateway = GatewayConfig(port=0, connections=LIMITS)
    async with MCPManager(config, auto_install=True) as manager:
        results = await manager.start_all()
        assert set(results.values()) == {"ready"}, results
        server = GatewayServer(Gateway(manager))
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


@dataclass
class Closed:
    """What a slow client saw: seconds from its reference moment to the server's close, and the
    bytes it was answered (empty if the connection was just closed)."""

    after: float
    answer: bytes

    @property
    def status(self) -> int | None:
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def _connect(server: GatewayServer, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))


async def _until_closed(reader: asyncio.StreamReader, since: float, within: float) -> Closed:
    """Read until the server closes (EOF or reset), at most ``within`` seconds."""
    answer = b""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(within):
            for _ in range(1000):  # bounded: each read returns data or EOF
                chunk = await reader.read(65536)
                if not chunk:
                    break
                answer += chunk
    return Closed(time.monotonic() - since, answer)


def _head(server: GatewayServer, method: str = "GET", path: str = "/healthz", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{server.port}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def partial_headers(server: GatewayServer, source: str, trickle: bool) -> Closed:
    """Headers never completed: sent in part, or trickled a byte every 0.2 s."""
    started = time.monotonic()  # before the connect the server times from: never later than it
    reader, writer = await _connect(server, source)
    try:
        writer.write(f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\nx-slow: ".encode())
        if not trickle:
            return await _until_closed(reader, started, BOUND + SLACK + 1)
        watch = asyncio.ensure_future(_until_closed(reader, started, BOUND + SLACK + 1))
        for _ in range(int((BOUND + SLACK + 1) / 0.2)):
            if watch.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b"a")
                await writer.drain()
            await asyncio.sleep(0.2)
        return await watch
    finally:
        writer.close()


async def silent(server: GatewayServer, source: str) -> Closed:
    """Connects and sends nothing."""
    started = time.monotonic()  # before the connect the server times from: never later than it
    reader, writer = await _connect(server, source)
    try:
        return await _until_closed(reader, started, BOUND + SLACK + 1)
    finally:
        writer.close()


async def trickled_body(server: GatewayServer, source: str) -> Closed:
    """Full headers, then a byte of a 10 000-byte body every 0.1 s; timed from the last header."""
    reader, writer = await _connect(server, source)
    try:
        started = time.monotonic()  # before the last header is sent: never later than the server
        writer.write(
            _head(
                server,
                "POST",
                "/mcp",
                content_type="application/json",
                accept="application/json, text/event-stream",
                content_length="10000",
            )
        )
        await writer.drain()
        watch = asyncio.ensure_future(_until_closed(reader, started, BOUND + SLACK + 1))
        for _ in range(int((BOUND + SLACK + 1) / 0.1)):
            if watch.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b" ")
                await writer.drain()
            await asyncio.sleep(0.1)
        return await watch
    finally:
        writer.close()


async def idle_keep_alive(server: GatewayServer, source: str) -> Closed:
    """One complete request, answered, then nothing: timed from the answer."""
    reader, writer = await _connect(server, source)
    try:
        started = time.monotonic()  # before the request: never later than the answer the server times from
        writer.write(_head(server))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:] if b":" in line)
        length = int(fields[b"content-length"])
        await asyncio.wait_for(reader.readexactly(length), 5)
        return await _until_closed(reader, started, BOUND + SLACK + 1)
    finally:
        writer.close()


async def refused_or_held(server: GatewayServer, source: str) -> Closed:
    """A connection among many from one address: answered at once if refused."""
    reader, writer = await _connect(server, source)
    try:
        return await _until_closed(reader, time.monotonic(), BOUND + SLACK + 1)
    finally:
        writer.close()


def _elsewhere(*clients: Coroutine[Any, Any, Closed]) -> asyncio.Future[list[Closed]]:
    """Run slow clients on an event loop of their own (another thread), so the time they take to
    run is not taken from the gateway's loop and the calls' latency shows the gateway's work."""

    async def together() -> list[Closed]:
        return list(await asyncio.gather(*clients))

    return asyncio.ensure_future(asyncio.to_thread(asyncio.run, together()))


async def _call(client: Client, key: str, delay: float = 0.0) -> float:
    started = time.monotonic()
    result = await client.call_tool("work__lookup", {"key": key, "delay": delay})
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert text.startswith(f"{key}@"), result
    return time.monotonic() - started


async def _latencies(client: Client, count: int, pause: float = 0.0) -> list[float]:
    timings = []
    for i in range(count):
        timings.append(await _call(client, f"k{i}"))
        await asyncio.sleep(pause)
    return timings


async def _released(server: GatewayServer, *addresses: str) -> None:
    """The gate forgets the addresses once their connections are gone (bounded wait)."""
    for _ in range(50):
        if not any(a in server.connections.by_address for a in addresses):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still counted: {server.connections.by_address}")


@requires_loopback_range
async def test_slow_clients_are_cut_while_calls_keep_their_latency(gateway: GatewayServer) -> None:
    async with Client(f"{gateway.url}/mcp", mode="legacy") as client:
        await _latencies(client, 5)  # warm up: session, upstream, connection pool
        calm = await _latencies(client, 30)
        attack = _elsewhere(
            *[partial_headers(gateway, "127.0.0.2", trickle=i % 4 == 0) for i in range(40)],
            *[silent(gateway, "127.0.0.3") for _ in range(10)],
            *[trickled_body(gateway, "127.0.0.4") for _ in range(30)],
            *[idle_keep_alive(gateway, "127.0.0.5") for _ in range(30)],
        )
        await asyncio.sleep(0.2)  # the attack is under way
        slow_call = asyncio.ensure_future(_call(client, "long", delay=BOUND + 1.5))
        stormy = await _latencies(client, 40, pause=0.05)  # about as long as the attack
        closed = await attack
        assert await slow_call >= BOUND + 1.5  # a call longer than every timeout is not cut
        after = await _latencies(client, 5)

    headers, quiet, bodies, kept = closed[:40], closed[40:50], closed[50:80], closed[80:]
    # Not at once, and within the bound. Each client starts its clock before the moment the server
    # times from, so a busy machine can make it read long (SLACK), never short.
    for seen in (*headers, *quiet, *bodies, *kept):
        assert BOUND / 2 <= seen.after <= BOUND + SLACK, seen
    assert all(seen.status == 408 for seen in headers), headers
    assert all(seen.answer == b"" for seen in quiet), quiet  # sent nothing, answered nothing
    assert all(seen.status == 408 for seen in bodies), bodies
    assert all(seen.answer == b"" for seen in kept), kept
    p50_calm, p50_stormy = statistics.median(calm), statistics.median(stormy)
    print(
        f"\ntools/call p50 calm {p50_calm * 1000:.1f} ms, under attack {p50_stormy * 1000:.1f} ms "
        f"(max {max(stormy) * 1000:.1f} ms), after {statistics.median(after) * 1000:.1f} ms"
    )
    assert p50_stormy <= 3 * p50_calm + 0.05, (calm, stormy)
    assert max(stormy) < BOUND, stormy  # no call waited on a slow client's timeout
    await _released(gateway, "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


@requires_loopback_range
async def test_connections_over_the_per_address_cap_are_refused(gateway: GatewayServer) -> None:
    many = 70
    async with Client(f"{gateway.url}/mcp", mode="legacy") as client:
        calm = await _latencies(client, 10)
        flood = _elsewhere(*[refused_or_held(gateway, "127.0.0.6") for _ in range(many)])
        for _ in range(16):  # all connected well before the held ones time out
            if gateway.connections.by_address.get("127.0.0.6") == PER_ADDRESS:
                break
            await asyncio.sleep(0.05)
        assert gateway.connections.by_address.get("127.0.0.6") == PER_ADDRESS
        stormy = await _latencies(client, 10)  # 127.0.0.1 has its own count
        closed = await flood
    refused = [seen for seen in closed if seen.status == 429]
    held = [seen for seen in closed if seen.status != 429]
    assert len(refused) == many - PER_ADDRESS and len(held) == PER_ADDRESS
    assert all(seen.after < BOUND / 2 for seen in refused), refused  # refused at once
    assert all(b"retry-after: 1" in seen.answer for seen in refused)
    assert all(BOUND / 2 <= seen.after <= BOUND + SLACK and seen.answer == b"" for seen in held), held
    assert statistics.median(stormy) <= 3 * statistics.median(calm) + 0.05
    await _released(gateway, "127.0.0.6")
    again = await refused_or_held(gateway, "127.0.0.6")  # its connections gone, it is let in again
    assert again.answer == b"" and again.after >= BOUND / 2


@requires_loopback_range
async def test_a_large_body_at_a_decent_rate_outlives_the_body_timeout(gateway: GatewayServer) -> None:
    """48 KiB in 4 KiB pieces every 0.1 s takes 1.2 s > body_timeout; at 16 KiB/s min rate it has
    1 + 3 s, so the gateway reads it all and answers it."""
    pad = "x" * (48 * 1024)
    body = (
        '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", '
        f'"capabilities": {{}}, "clientInfo": {{"name": "slow", "version": "1"}}, "pad": "{pad}"}}}}'
    ).encode()
    reader, writer = await _connect(gateway, "127.0.0.7")
    try:
        writer.write(
            _head(
                gateway,
                "POST",
                "/mcp",
                content_type="application/json",
                accept="application/json, text/event-stream",
                content_length=str(len(body)),
            )
        )
        started = time.monotonic()
        for i in range(0, len(body), 4096):
            writer.write(body[i : i + 4096])
            await writer.drain()
            await asyncio.sleep(0.1)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert time.monotonic() - started > BOUND
    assert not head.startswith(b"HTTP/1.1 408"), head


@requires_loopback_range
async def test_a_body_already_answered_earns_no_more_time(gateway: GatewayServer) -> None:
    """Refused at once (415), the rest of a 1 MB body comes fast enough for the min rate, but
    nobody wants it any more: cut at body_timeout."""
    reader, writer = await _connect(gateway, "127.0.0.8")
    try:
        writer.write(_head(gateway, "POST", "/mcp", content_type="text/plain", content_length="1000000"))
        started = time.monotonic()
        watch = asyncio.ensure_future(_until_closed(reader, started, BOUND + SLACK + 1))
        for _ in range(int((BOUND + SLACK + 1) / 0.1)):  # 40 KiB/s, above the 16 KiB/s min rate
            if watch.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b" " * 4096)
                await writer.drain()
            await asyncio.sleep(0.1)
        seen = await watch
    finally:
        writer.close()
    assert seen.status == 415, seen
    assert BOUND / 2 <= seen.after <= BOUND + SLACK, seen


async def test_defaults_are_safe_and_bounds_are_validated() -> None:
    limits = GatewayConfig().connections
    assert (limits.header_timeout, limits.body_timeout, limits.keep_alive_timeout) == (10, 10, 5)
    assert limits.body_min_rate == 4096  # bytes a second: a 4 MiB body (MAX_BODY) gets 1034 s
    assert limits.max_per_address == 256 and limits.max_total is None  # None: 3/4 of the file limit
    for bad in ({"header_timeout": 0}, {"body_timeout": -1}, {"max_per_address": 0}, {"max_total": 0}):
        with pytest.raises(ValueError, match="greater than"):
            GatewayConfig.model_validate({"connections": bad})
    uncapped = GatewayConfig.model_validate({"connections": {"max_per_address": None}})
    assert uncapped.connections.max_per_address is None


def test_a_uvicorn_without_the_internals_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    check_uvicorn()  # this one is fine
    monkeypatch.delattr(HttpToolsProtocol, "on_body")
    with pytest.raises(FleetError, match=r"HttpToolsProtocol\.on_body"):
        check_uvicorn()


async def test_kept_alive_connections_get_whole_answers_heads_and_pipelines(gateway: GatewayServer) -> None:
    """Each response's head and body go out together (one send); a HEAD's head, with no body to
    carry it, still goes out, and pipelined requests are answered in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    host = f"Host: 127.0.0.1:{gateway.port}\r\n"

    async def head_of_answer() -> tuple[bytes, int]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
        return head, int(lengths[0].split(b":", 1)[1])

    writer.write(f"HEAD /healthz HTTP/1.1\r\n{host}\r\n".encode())
    head, _ = await head_of_answer()
    assert head.startswith(b"HTTP/1.1 200")  # no body follows a HEAD's answer
    writer.write(f"GET /healthz HTTP/1.1\r\n{host}\r\n".encode())
    head, size = await head_of_answer()
    body = await asyncio.wait_for(reader.readexactly(size), 5)
    assert head.startswith(b"HTTP/1.1 200") and body
    writer.write(f"GET /healthz HTTP/1.1\r\n{host}\r\nGET /nowhere HTTP/1.1\r\n{host}\r\n".encode())
    first, size = await head_of_answer()
    await asyncio.wait_for(reader.readexactly(size), 5)
    second, size = await head_of_answer()
    await asyncio.wait_for(reader.readexactly(size), 5)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 404")
    writer.close()
