"""StdioTransport: how a stdout that cannot be followed ends the connection."""

from __future__ import annotations

import asyncio
import os
from asyncio.streams import FlowControlMixin
from typing import Any

from mcpfleet.exceptions import ConnectionClosedError
from mcpfleet.protocol import StdioTransport
from mcpfleet.protocol.stdout import StdoutPipe


async def test_a_line_past_the_limit_closes_the_connection_with_why() -> None:
    cat = await asyncio.create_subprocess_exec(
        "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
    )
    assert cat.stdin is not None
    transport = StdioTransport(StdoutPipe(limit=64), cat.stdin, server="big")
    got: list[dict[str, Any]] = []
    lost: list[BaseException | None] = []
    transport.start(lambda message, related=None: got.append(message), lost.append)
    transport.stdout.data_received(b'{"jsonrpc":"2.0","id":1,"result":{}}\n' + b"x" * 100)
    assert got == [{"jsonrpc": "2.0", "id": 1, "result": {}}]
    assert len(lost) == 1 and isinstance(lost[0], ConnectionClosedError)
    assert "big" in str(lost[0]) and "longer than 64 bytes" in str(lost[0])
    await transport.aclose()
    assert len(lost) == 1  # told once
    await cat.wait()


async def test_a_stream_reader_is_pumped_into_lines() -> None:
    proc = await asyncio.create_subprocess_exec(
        "printf", '{"jsonrpc":"2.0","method":"a"}\\nnot json\\n[{"jsonrpc":"2.0","method":"b"}]',
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    transport = StdioTransport(proc.stdout, proc.stdin, server="p")
    got: list[str] = []
    ended = asyncio.Event()
    transport.start(lambda message, related=None: got.append(message["method"]), lambda _: ended.set())
    await asyncio.wait_for(ended.wait(), 10)
    assert got == ["a", "b"]  # a batch's messages one by one; the last line needs no newline
    assert transport.garbage_lines == 1 and transport.first_garbage == "not json"
    await transport.aclose()
    await proc.wait()


async def test_a_line_is_in_the_pipe_when_send_returns() -> None:
    """No loop turn between a request and its server seeing it (a turn at one connection cost
    8-20% of the calls per second)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    loop = asyncio.get_running_loop()
    pipe, protocol = await loop.connect_write_pipe(FlowControlMixin, os.fdopen(write_fd, "wb", buffering=0))
    writer = asyncio.StreamWriter(pipe, protocol, None, loop)
    transport = StdioTransport(StdoutPipe(), writer, server="w")
    try:
        await transport.send({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        await transport.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
        assert os.read(read_fd, 4096) == (
            b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n{"jsonrpc":"2.0","id":2,"method":"ping"}\n'
        )
    finally:
        await transport.aclose()
        os.close(read_fd)
