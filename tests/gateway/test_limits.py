"""The connection protocol's write path: a response's head goes out with its body, in one send.

The gateway's own behaviour under slow and greedy clients (deadlines, caps) is tested against a
real server in tests/system/test_slow_clients.py; here, the cork on its own, over a real
socket pair, counting what each send put on the wire.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from mcpfleet.gateway.limits import _Cork

LENGTH_HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"


@dataclass
class Wire:
    cork: _Cork
    writes: list[bytes]  # one entry per write() the transport got
    peer: socket.socket

    def read(self, size: int) -> bytes:
        self.peer.settimeout(2)
        got = b""
        while len(got) < size:
            got += self.peer.recv(65536)
        return got


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    """A cork armed for a response's head, on a real transport over a socket pair."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    writes: list[bytes] = []
    write = transport.write

    def counted(data: bytes) -> None:
        writes.append(bytes(data))
        write(data)

    transport.write = counted  # type: ignore[method-assign,assignment]
    cork = _Cork(transport, loop)
    cork.armed = True
    yield Wire(cork, writes, theirs)
    transport.close()
    theirs.close()


async def test_head_and_body_go_out_in_one_write(wire: Wire) -> None:
    wire.cork.write(LENGTH_HEAD)
    wire.cork.write(b"hello")
    assert wire.writes == [LENGTH_HEAD + b"hello"]
    await asyncio.sleep(0)
    assert len(wire.writes) == 1  # nothing left to flush
    assert wire.read(len(LENGTH_HEAD) + 5) == LENGTH_HEAD + b"hello"


async def test_a_stream_head_goes_out_by_the_end_of_the_turn(wire: Wire) -> None:
    wire.cork.write(STREAM_HEAD)  # a stream whose first event comes later
    assert wire.writes == []
    await asyncio.sleep(0)
    assert wire.writes == [STREAM_HEAD]
    assert wire.read(len(STREAM_HEAD)) == STREAM_HEAD
    wire.cork.write(b"data: 1\n\n")  # later chunks go straight out
    assert wire.writes == [STREAM_HEAD, b"data: 1\n\n"]


async def test_a_head_with_a_length_waits_for_its_body_across_turns(wire: Wire) -> None:
    wire.cork.write(LENGTH_HEAD)  # a file response: its body is read in a thread first
    await asyncio.sleep(0.01)
    assert wire.writes == []  # no timer, no turn-end flush: it waits for the body
    wire.cork.write(b"hello")
    assert wire.writes == [LENGTH_HEAD + b"hello"]


async def test_a_head_whose_response_has_no_body_goes_out_when_the_response_ends(wire: Wire) -> None:
    wire.cork.write(LENGTH_HEAD)  # the answer to HEAD: uvicorn writes no body
    wire.cork.flush()  # what the protocol does when uvicorn says the response is complete
    assert wire.writes == [LENGTH_HEAD]
    assert wire.read(len(LENGTH_HEAD)) == LENGTH_HEAD


async def test_close_sends_a_held_head_first(wire: Wire) -> None:
    wire.cork.write(STREAM_HEAD)
    wire.cork.close()
    assert wire.writes == [STREAM_HEAD]
    assert wire.read(len(STREAM_HEAD)) == STREAM_HEAD
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert wire.writes == [STREAM_HEAD]
    assert wire.cork.is_closing()  # the rest is the transport's own
