"""Origins on loopback for the sandbox's egress tests (the proxy alone, and oci servers in it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Origin:
    """An HTTP server on loopback that answers with its name and keeps what it was sent."""

    name: str
    port: int = 0
    requests: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        body = f"hello from {self.name}".encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        writer.write(head + body)
        await writer.drain()
        writer.close()


@asynccontextmanager
async def two_origins() -> AsyncIterator[tuple[Origin, Origin]]:
    """An origin a policy allows and one it does not, listening until the block ends."""
    allowed, denied = Origin("allowed"), Origin("denied")
    servers = []
    for origin in (allowed, denied):
        server = await asyncio.start_server(origin.handle, "127.0.0.1", 0)
        origin.port = server.sockets[0].getsockname()[1]
        servers.append(server)
    try:
        yield allowed, denied
    finally:
        for server in servers:
            server.close()
