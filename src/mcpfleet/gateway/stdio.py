"""The gateway on stdin/stdout, so a desktop client can use the whole fleet as one MCP server.

    {"mcpServers": {"fleet": {"command": "mcpfleet",
                              "args": ["-c", "/path/mcpfleet.yaml", "gateway", "--stdio"]}}}

Requests are answered concurrently; replies and list_changed notifications are written one
line each. Nothing but MCP goes to stdout (logs go to stderr).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, BinaryIO

from mcpfleet.gateway.app import Gateway
from mcpfleet.gateway.context import ClientState
from mcpfleet.gateway.jsonrpc import SUPPORTED_SESSION_VERSIONS, BadMessage, check_message, is_modern, parse

__all__ = ["serve_stdio"]


async def serve_stdio(
    gateway: Gateway, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> None:
    """Serve until stdin closes; in-flight requests are then cancelled."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin or sys.stdin.buffer)
    out = stdout or sys.stdout.buffer
    client = ClientState(protocol_version=SUPPORTED_SESSION_VERSIONS[0])
    gateway.sessions.add(client)
    write_lock = asyncio.Lock()

    async def write(message: dict[str, Any]) -> None:
        async with write_lock:
            out.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            out.flush()

    def emit(note: dict[str, Any]) -> None:
        if not client.notifications.full():  # a client that does not read loses notes, not memory
            client.notifications.put_nowait(note)

    async def forward_notifications() -> None:
        while True:
            await write(await client.notifications.get())

    async def answer(message: Any) -> None:
        try:
            check_message(message)
        except BadMessage as exc:
            await write(exc.reply)
            return
        if is_modern(message):
            client.stateless = True
        reply = await gateway.engine.handle(message, gateway.fleet_view, client, emit)
        if reply is not None:
            await write(reply)

    tasks: set[asyncio.Task[None]] = set()
    notifier = asyncio.create_task(forward_notifications())
    try:
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                message = parse(line)
            except BadMessage as exc:
                await write(exc.reply)
                continue
            task = asyncio.create_task(answer(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        notifier.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(notifier, *tasks, return_exceptions=True)
        gateway.sessions.remove(client.id)
        await gateway.aclose()  # queued audit records are written before we go
