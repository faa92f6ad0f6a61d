"""StdoutPipe: lines read off a real pipe in its own callback, kept until a reader attaches."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable

import pytest

from helpers import until
from mcpfleet.protocol.stdout import LineTooLong, StdoutPipe

Writer = Callable[[bytes], None]
Pipe = tuple[StdoutPipe, Writer, Callable[[], None], asyncio.ReadTransport]


class Reader:
    """What a StdoutPipe handed on: lines, and the end's reason once it came."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.ends: list[BaseException | None] = []
        self.ended = asyncio.Event()

    def line(self, line: bytes) -> None:
        self.lines.append(line)

    def end(self, reason: BaseException | None) -> None:
        self.ends.append(reason)
        self.ended.set()

    async def until(self, count: int) -> None:
        await until(lambda: len(self.lines) >= count, 5)


@pytest.fixture
async def pipe() -> AsyncIterator[Pipe]:
    """A StdoutPipe on the read end of an OS pipe; write to the other end, close it for EOF."""
    read_fd, write_fd = os.pipe()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(asyncio.Protocol, os.fdopen(read_fd, "rb", buffering=0))
    lines = StdoutPipe(transport, limit=1024)
    state = {"open": True}

    def close() -> None:
        if state["open"]:
            state["open"] = False
            os.close(write_fd)

    yield lines, lambda data: os.write(write_fd, data) and None, close, transport
    close()
    transport.close()


async def test_lines_split_across_reads_and_several_per_read(pipe: Pipe) -> None:
    lines, write, _, _ = pipe
    reader = Reader()
    lines.attach(reader.line, reader.end)
    write(b'{"a":')
    await asyncio.sleep(0.02)
    assert reader.lines == []  # half a line is kept, not handed on
    write(b'1}\n{"b":2}\n{"c"')
    await reader.until(2)
    write(b":3}\n")
    await reader.until(3)
    assert reader.lines == [b'{"a":1}\n', b'{"b":2}\n', b'{"c":3}\n']
    assert not lines.ended and reader.ends == []


async def test_what_came_before_attach_is_kept_in_order(pipe: Pipe) -> None:
    lines, write, close, _ = pipe
    write(b"banner\n1\n2")
    await asyncio.sleep(0.05)  # the pipe reads it while nobody listens
    reader = Reader()
    lines.attach(reader.line, reader.end)
    assert reader.lines == [b"banner\n", b"1\n"]
    write(b"\n3\n")
    close()
    await asyncio.wait_for(reader.ended.wait(), 5)
    assert reader.lines == [b"banner\n", b"1\n", b"2\n", b"3\n"]
    assert reader.ends == [None] and lines.ended


async def test_end_of_file_hands_on_the_unfinished_last_line(pipe: Pipe) -> None:
    lines, write, close, _ = pipe
    reader = Reader()
    lines.attach(reader.line, reader.end)
    write(b'{"x":1}\n{"y":2}')
    close()
    await asyncio.wait_for(reader.ended.wait(), 5)
    assert reader.lines == [b'{"x":1}\n', b'{"y":2}'] and reader.ends == [None]


async def test_a_stream_that_ended_before_attach_is_read_then_ended(
    pipe: Pipe,
) -> None:
    lines, write, close, _ = pipe
    write(b"a\nb")
    close()
    await until(lambda: lines.ended, 5)
    reader = Reader()
    lines.attach(reader.line, reader.end)
    assert reader.lines == [b"a\n", b"b"] and reader.ends == [None]
    with pytest.raises(RuntimeError, match="already has a reader"):
        lines.attach(reader.line, reader.end)


async def test_a_line_past_the_limit_ends_the_stream(pipe: Pipe) -> None:
    lines, write, _, _ = pipe
    reader = Reader()
    lines.attach(reader.line, reader.end)
    write(b"ok\n" + b"x" * 1500)
    await asyncio.wait_for(reader.ended.wait(), 5)
    write(b"\nafter\n")
    await asyncio.sleep(0.05)
    assert reader.lines == [b"ok\n"]  # nothing past the long line: the stream cannot be followed
    assert len(reader.ends) == 1 and isinstance(reader.ends[0], LineTooLong)
    assert "longer than 1024 bytes" in str(reader.ends[0])


async def test_reading_pauses_while_nobody_reads_past_the_limit(
    pipe: Pipe,
) -> None:
    lines, write, _, transport = pipe
    line = b"y" * 300 + b"\n"
    write(line * 5)  # 1,505 bytes kept: past the limit of 1,024 while nobody reads
    await asyncio.sleep(0.05)
    assert not transport.is_reading()
    write(line * 2)  # waits in the OS pipe meanwhile
    await asyncio.sleep(0.05)
    reader = Reader()
    lines.attach(reader.line, reader.end)
    assert transport.is_reading()
    await reader.until(7)
    assert reader.lines == [line] * 7 and reader.ends == []


async def test_a_readers_error_does_not_lose_the_next_lines(
    pipe: Pipe, caplog: pytest.LogCaptureFixture
) -> None:
    lines, write, _, _ = pipe
    seen: list[bytes] = []

    def line(data: bytes) -> None:
        seen.append(data)
        if data == b"bad\n":
            raise KeyError("a bug in the reader")

    lines.attach(line, lambda _: None)
    with caplog.at_level(logging.ERROR, logger="mcpfleet.protocol"):
        write(b"one\nbad\ntwo\n")
        await until(lambda: len(seen) >= 3, 5)
    assert seen == [b"one\n", b"bad\n", b"two\n"]
    assert "handling a line from a server's stdout failed" in caplog.text


async def test_fed_by_hand_without_a_pipe() -> None:
    lines = StdoutPipe()
    reader = Reader()
    lines.data_received(b"early\n")
    lines.attach(reader.line, reader.end)
    lines.data_received(b"late\nrest")
    lines.end(ConnectionResetError("gone"))
    assert reader.lines == [b"early\n", b"late\n"]  # an error's end drops the unfinished line
    assert isinstance(reader.ends[0], ConnectionResetError)
    lines.end()  # only the first end counts
    assert len(reader.ends) == 1
