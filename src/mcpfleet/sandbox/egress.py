"""An HTTP proxy that lets a sandboxed server reach only the destinations on its allow-list.

The proxy speaks the two forms clients send through ``HTTP_PROXY`` / ``HTTPS_PROXY``:
``CONNECT host:port`` (a tunnel, for TLS) and ``GET http://host:port/path`` (plain HTTP). A
destination not on the list gets ``403 Forbidden`` and a line on stderr; the proxy itself
never connects there. Names are matched as the client wrote them (``localhost:80`` does not
allow ``127.0.0.1:80``) and resolved by the proxy, outside the sandbox.

    policy = EgressPolicy.parse(["api.github.com:443", "*.example.com:443"])
    server = await asyncio.start_server(EgressProxy(policy, server="fetch").handle, sock=listener)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mcpfleet.sandbox.config import parse_destination

__all__ = ["EgressPolicy", "EgressProxy"]

_HEAD_LIMIT = 64 * 1024
_HEAD_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 15.0
_HOP_HEADERS = {b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"}


@dataclass(frozen=True)
class EgressPolicy:
    """The destinations allowed: exact ``(host, port)`` pairs, and ``*.domain`` suffixes by port."""

    exact: frozenset[tuple[str, int]] = frozenset()
    suffixes: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, destinations: Iterable[str]) -> EgressPolicy:
        exact, suffixes = set(), set()
        for text in destinations:
            host, port = parse_destination(text)
            if host.startswith("*."):
                suffixes.add((host[1:], port))  # ".example.com"
            else:
                exact.add((host, port))
        return cls(frozenset(exact), frozenset(suffixes))

    def permits(self, host: str, port: int) -> bool:
        host = host.strip("[]").lower().rstrip(".")
        if (host, port) in self.exact:
            return True
        return any(host.endswith(suffix) and p == port for suffix, p in self.suffixes)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class EgressProxy:
    """Serves one sandboxed server's connections (``handle`` is an asyncio client callback)."""

    policy: EgressPolicy
    server: str
    log: Callable[[str], None] = _stderr
    refused: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
        if len(head) > _HEAD_LIMIT:
            return await _answer(writer, 431, "request head too large")
        request_line, _, rest = head.partition(b"\r\n")
        parts = request_line.decode("latin-1").split(" ")
        if len(parts) != 3:
            return await _answer(writer, 400, "malformed request line")
        method, target, version = parts
        if method == "CONNECT":
            try:
                host, port = parse_destination(target)
            except ValueError:
                return await _answer(writer, 400, f"CONNECT needs host:port, not {target!r}")
            forward = b""
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                return await _answer(writer, 400, "send http://host/path here, or CONNECT for https")
            host, port = url.hostname, url.port or 80
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            forward = f"{method} {path} {version}\r\n".encode("latin-1") + _without_hop_headers(rest)
        if not self.policy.permits(host, port):
            destination = f"{host}:{port}"
            self.refused.append(destination)
            self.log(f"mcpfleet egress: refused {destination} for server {self.server!r} (not allowed)")
            return await _answer(
                writer,
                403,
                f"{destination} is not allowed for server {self.server!r}; "
                f"add it to servers.{self.server}.network.allow in the fleet file",
            )
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), _CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            return await _answer(writer, 502, f"cannot reach {host}:{port}: {exc}")
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            upstream_writer.write(forward)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            upstream_writer.close()


def _without_hop_headers(rest: bytes) -> bytes:
    """The header block minus proxy and hop-by-hop headers, with ``Connection: close`` (one
    request per connection, so every request's destination is checked)."""
    kept = [
        line
        for line in rest.split(b"\r\n")
        if line and line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS
    ]
    return b"\r\n".join([*kept, b"Connection: close", b"", b""])


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    reasons = {400: "Bad Request", 403: "Forbidden", 431: "Header Fields Too Large", 502: "Bad Gateway"}
    body = f"mcpfleet egress proxy: {text}\n".encode()
    writer.write(
        f"HTTP/1.1 {status} {reasons[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except ConnectionError:
        writer.close()
