"""A lean MCP echo server over streamable HTTP (standard library only), the direct baseline.

    python bench/servers/echo_http.py [--host 127.0.0.1] [--port 0]

Prints ``listening http://HOST:PORT/mcp`` on stdout once it accepts connections. It answers the
same messages as ``echo.py`` (its stdio twin) with plain JSON bodies on keep-alive HTTP/1.1
connections: a minimal ``asyncio.Protocol`` parser and no framework, so a benchmark measures what
sits in front of it, not the server. ``initialize`` gets an ``Mcp-Session-Id``; later requests
are not checked against it. GET answers 405 (no server-to-client stream); DELETE answers 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import contextlib

from echo import answer

MAX_HEAD = 64 * 1024


def _response(status: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


class EchoHTTP(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._close(b"431 Request Header Fields Too Large")
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            method = head[0].split(" ", 1)[0]
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self._handle(method, body))

    def _handle(self, method: str, body: bytes) -> bytes:
        if method == "DELETE":
            return _response(b"200 OK", b"")
        if method != "POST":
            return _response(b"405 Method Not Allowed", b"", b"allow: POST, DELETE\r\n")
        try:
            message = json.loads(body)
        except ValueError:
            return _response(
                b"400 Bad Request",
                b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
            )
        if isinstance(message, list):
            replies = [r for r in map(answer, message) if r is not None]
            reply: object = replies or None
        else:
            reply = answer(message)
        if reply is None:
            return _response(b"202 Accepted", b"")
        extra = b""
        if isinstance(message, dict) and message.get("method") == "initialize":
            extra = b"mcp-session-id: " + secrets.token_urlsafe(16).encode() + b"\r\n"
        return _response(b"200 OK", json.dumps(reply, separators=(",", ":")).encode(), extra)

    def _close(self, status: bytes) -> None:
        if self.transport is not None:
            self.transport.write(_response(status, b""))
            self.transport.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(EchoHTTP, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    print(f"listening http://{host}:{bound[1]}/mcp", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
