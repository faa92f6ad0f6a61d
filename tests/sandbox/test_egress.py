"""The egress proxy with real sockets on loopback: two HTTP servers, one allowed and one not,
reached through the proxy the way HTTP_PROXY clients do (plain HTTP and CONNECT)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from mcpfleet.sandbox.egress import EgressPolicy, EgressProxy
from sandbox_helpers import Origin, two_origins


@pytest.fixture
async def origins() -> AsyncIterator[tuple[Origin, Origin]]:
    async with two_origins() as pair:
        yield pair


@pytest.fixture
async def proxy(origins: tuple[Origin, Origin]) -> AsyncIterator[tuple[str, EgressProxy]]:
    allowed, _ = origins
    logged: list[str] = []
    egress = EgressProxy(EgressPolicy.parse([f"127.0.0.1:{allowed.port}"]), server="probe", log=logged.append)
    listener = socket.create_server(("127.0.0.1", 0))
    server = await asyncio.start_server(egress.handle, sock=listener)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", egress
    server.close()
    # Each refusal is logged (on stderr, by default), naming the server and the destination.
    expected = [f"mcpfleet egress: refused {d} for server 'probe' (not allowed)" for d in egress.refused]
    assert logged == expected


async def test_plain_http_reaches_only_the_allowed_destination(
    origins: tuple[Origin, Origin], proxy: tuple[str, EgressProxy]
) -> None:
    allowed, denied = origins
    url, egress = proxy
    async with httpx.AsyncClient(proxy=url, timeout=10) as client:
        ok = await client.get(f"http://127.0.0.1:{allowed.port}/path?q=1", headers={"Keep-Alive": "5"})
        refused = await client.get(f"http://127.0.0.1:{denied.port}/")
    assert (ok.status_code, ok.text) == (200, "hello from allowed")
    # The origin got an origin-form request, without proxy or hop-by-hop headers.
    head = allowed.requests[0].decode().lower()
    assert head.startswith("get /path?q=1 http/1.1\r\n")
    assert "keep-alive" not in head and "proxy-" not in head and "connection: close" in head
    assert refused.status_code == 403
    assert f"127.0.0.1:{denied.port} is not allowed for server 'probe'" in refused.text
    assert "servers.probe.network.allow" in refused.text
    assert denied.requests == []  # the proxy never connected there
    assert egress.refused == [f"127.0.0.1:{denied.port}"]


async def connect(proxy_url: str, target: str) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = proxy_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return await reader.readuntil(b"\r\n\r\n"), reader, writer


async def test_connect_tunnels_only_to_the_allowed_destination(
    origins: tuple[Origin, Origin], proxy: tuple[str, EgressProxy]
) -> None:
    allowed, denied = origins
    url, _ = proxy
    status, reader, writer = await connect(url, f"127.0.0.1:{allowed.port}")
    assert status.startswith(b"HTTP/1.1 200")
    writer.write(b"GET /through HTTP/1.1\r\nHost: x\r\n\r\n")  # inside the tunnel, as TLS would be
    answer = await reader.read()
    writer.close()
    assert answer.endswith(b"hello from allowed") and allowed.requests[0].startswith(b"GET /through")

    status, reader, writer = await connect(url, f"127.0.0.1:{denied.port}")
    assert status.startswith(b"HTTP/1.1 403")
    assert b"is not allowed" in await reader.read()
    writer.close()
    assert denied.requests == []


async def test_malformed_requests_get_400(proxy: tuple[str, EgressProxy]) -> None:
    url, egress = proxy
    async with httpx.AsyncClient(timeout=10) as client:  # no proxy: a request the proxy cannot forward
        direct = await client.get(f"{url}/")
    assert direct.status_code == 400 and "CONNECT for https" in direct.text
    status, _, writer = await connect(url, "no-port-here")
    writer.close()
    assert status.startswith(b"HTTP/1.1 400")
    assert egress.refused == []


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("api.github.com", 443, True),
        ("API.GitHub.com.", 443, True),  # case and a trailing dot do not matter
        ("api.github.com", 80, False),
        ("github.com", 443, False),
        ("a.example.com", 443, True),
        ("deep.a.example.com", 443, True),
        ("example.com", 443, False),  # *.example.com is its subdomains only
        ("evilexample.com", 443, False),
        ("::1", 8080, True),
        ("127.0.0.1", 8080, False),  # matched as written: no resolving
    ],
)
def test_policy_matching(host: str, port: int, expected: bool) -> None:
    policy = EgressPolicy.parse(["api.github.com:443", "*.example.com:443", "[::1]:8080"])
    assert policy.permits(host, port) is expected
