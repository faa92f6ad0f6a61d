"""The connection protocol's write path: a response's head goes out with its body, in one send.

The gateway's own behaviour under slow and greedy clients (deadlines, caps) is tested against a
real server in tests/system/test_slow_clients.py; here, the cork on its own, over a real
socket pair, counting what each send put on the wire.
"""

from __future__ import annotations

import asyncio
import socket

from mcpfleet.gateway.limits import _Cork


async def _pair() -> tuple[asyncio.Transport, socket.socket, list[bytes]]:
    """A real transport on one end of a socket pair; what it sends, one entry per write()."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    writes: list[bytes] = []
    write = transport.write

    def counted(data: bytes) -> None:
        writes.append(bytes(data))
        write(data)

    transport.write = counted  # type: ignore[method-assign,assignment]
    return transport, theirs, writes


def _read(sock: socket.socket, size: int) -> bytes:
    sock.settimeout(2)
    got = b""
    while len(got) < size:
        got += sock.recv(65536)
    return got


async def test_head_and_body_go_out_in_one_write() -> None:
    transport, peer, writes = await _pair()
    cork = _Cork(transport, asyncio.get_running_loop())
    cork.armed = True
    cork.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    cork.write(b"{}")
    assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await asyncio.sleep(0)
    assert len(writes) == 1  # nothing left to flush
    assert _read(peer, 40).endswith(b"\r\n\r\n{}")
    transport.close()
    peer.close()


async def test_a_head_with_no_body_yet_goes_out_by_the_end_of_the_turn() -> None:
    transport, peer, writes = await _pair()
    cork = _Cork(transport, asyncio.get_running_loop())
    cork.armed = True
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
    cork.write(head)  # a stream whose first event comes later
    assert writes == []
    await asyncio.sleep(0)
    assert writes == [head]
    assert _read(peer, len(head)) == head
    cork.write(b"data: 1\n\n")  # later chunks go straight out
    assert writes == [head, b"data: 1\n\n"]
    transport.close()
    peer.close()


async def test_close_sends_a_held_head_first_and_order_is_kept() -> None:
    transport, peer, writes = await _pair()
    cork = _Cork(transport, asyncio.get_running_loop())
    cork.armed = True
    cork.write(b"HEAD")
    cork.close()
    assert writes == [b"HEAD"]
    assert _read(peer, 4) == b"HEAD"
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert writes == [b"HEAD"]
    assert cork.is_closing()  # the rest is the transport's own
    peer.close()


async def test_a_head_with_a_length_waits_for_its_body_across_turns() -> None:
    transport, peer, writes = await _pair()
    cork = _Cork(transport, asyncio.get_running_loop())
    cork.armed = True
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    cork.write(head)  # a file response: its body is read in a thread first
    await asyncio.sleep(0.01)
    assert writes == []  # no timer, no turn-end flush: it waits for the body
    cork.write(b"hello")
    assert writes == [head + b"hello"]
    assert _read(peer, len(head) + 5) == head + b"hello"
    transport.close()
    peer.close()


async def test_a_head_whose_response_has_no_body_goes_out_when_the_response_ends() -> None:
    transport, peer, writes = await _pair()
    cork = _Cork(transport, asyncio.get_running_loop())
    cork.armed = True
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    cork.write(head)  # the answer to HEAD: uvicorn writes no body
    cork.flush()  # what the protocol does when uvicorn says the response is complete
    assert writes == [head]
    assert _read(peer, len(head)) == head
    transport.close()
    peer.close()
