"""Answering one MCP request over streamable HTTP, its call running in the request's own task.

Most calls end within a few milliseconds with nothing said before their result: they get a
plain JSON answer, and cost no task, timer or future beyond the call's own. The rest is paid
only by the calls that need it:

- a notification about the request (progress, a log message, the upstream's own request)
  turns the answer into an SSE stream: a writer task opens it and sends each note as it comes,
  and the result is the stream's last event;
- a call still running ``WATCH_AFTER`` seconds after it began gets a task watching for its
  client to go away (one timer for all such calls). A client that leaves cancels its call
  upstream, unless it was a session client with a stream: that call goes on and what it says is
  kept, so the client can resume with ``Last-Event-ID`` within ``RESUME_WINDOW`` seconds;
- a call its client cancels (``notifications/cancelled``) stops upstream and gets no reply, as
  the specification asks: its stream ends, or its POST is answered ``202`` with no body.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from mcpfleet.gateway.context import ClientState
from mcpfleet.gateway.sse import (
    RESUME_WINDOW,
    EventStream,
    Receive,
    Send,
    disconnected,
    event,
    respond,
    start_stream,
)

__all__ = ["WATCH_AFTER", "Answer", "LateCalls", "open_stream"]

log = logging.getLogger("mcpfleet.gateway")

WATCH_AFTER = 0.05  # seconds a call runs before a task watches for its client going away


class LateCalls:
    """Calls still running WATCH_AFTER seconds after they began get their ``watch()`` called:
    one timer for all of them, not one per call (most calls never need it)."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[float, Callable[[], None]]] = {}
        self._ids = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, loop: asyncio.AbstractEventLoop, watch: Callable[[], None]) -> int:
        key = next(self._ids)
        self._calls[key] = (loop.time() + WATCH_AFTER, watch)
        if self._timer is None or self._loop is not loop:  # (a new loop: the old timer died with its own)
            self._loop, self._timer = loop, loop.call_later(WATCH_AFTER, self._tick)
        return key

    def discard(self, key: int) -> None:
        self._calls.pop(key, None)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for key in [k for k, (due, _) in self._calls.items() if due <= now]:
            _, watch = self._calls.pop(key)
            watch()
        self._timer = loop.call_later(WATCH_AFTER, self._tick) if self._calls else None


async def open_stream(send: Send, extra: list[tuple[bytes, bytes]], client: ClientState) -> EventStream:
    """Start a request's event stream; a session client's begins with a priming event."""
    await start_stream(send, extra)
    stream = EventStream()
    if not client.stateless:
        await send({"type": "http.response.body", "body": stream.priming(), "more_body": True})
    return stream


class Answer:
    """One request's answer while its call runs in this task (see the module docstring).

    ``emit`` takes the notes about the request; ``watch`` is for :class:`LateCalls`. After the
    call: ``abandoned`` (the client left, the call was cancelled: nothing to send), ``detached``
    (the client left a stream it may resume: the result goes to the stream), or ``finish()``
    and the result as the stream's last event when ``streaming``, else a plain answer.
    """

    __slots__ = (
        "_ending",
        "_gone",
        "_more",
        "_notes",
        "_writer",
        "abandoned",
        "client",
        "detached",
        "extra",
        "method",
        "receive",
        "send",
        "stream",
        "task",
    )

    def __init__(
        self, receive: Receive, send: Send, client: ClientState, extra: list[tuple[bytes, bytes]], method: Any
    ) -> None:
        self.receive = receive
        self.send = send
        self.client = client
        self.extra = extra
        self.method = method
        task = asyncio.current_task()
        assert task is not None, "an Answer lives in the task that serves the request"
        self.task = task
        self.stream: EventStream | None = None
        self.abandoned = False  # the client went away and the call was cancelled for it
        self.detached = False  # the client went away from a stream it may resume: the call goes on
        self._notes: list[dict[str, Any]] = []
        self._writer: asyncio.Task[None] | None = None  # sends the notes, once one comes
        self._more: asyncio.Future[None] | None = None  # wakes the writer
        self._ending = False
        self._gone: asyncio.Task[None] | None = None

    @property
    def streaming(self) -> bool:
        return self._writer is not None

    # ------------------------------------------------------------------ while the call runs

    def emit(self, note: dict[str, Any]) -> None:
        if self.detached:
            assert self.stream is not None
            self.stream.add(note, keep=True)  # the client is away: kept for its resume
            return
        self._notes.append(note)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_notes())
        else:
            self._wake()

    def _wake(self) -> None:
        more = self._more
        if more is not None and not more.done():
            more.set_result(None)

    async def _write_notes(self) -> None:
        """Notes came before the answer: an SSE stream, each note sent as it comes."""
        if self.stream is None:
            self.stream = await open_stream(self.send, self.extra, self.client)
        stream = self.stream
        notes = self._notes
        while True:
            while notes and not self.detached:
                note = notes.pop(0)
                await event(self.send, note, stream.add(note, keep=False))
            if self._ending or self.detached:
                return
            self._more = asyncio.get_running_loop().create_future()
            await self._more

    def watch(self) -> None:
        """The call is still running: from now on, notice the client leaving."""
        self._gone = asyncio.get_running_loop().create_task(disconnected(self.receive))
        self._gone.add_done_callback(self._left)

    def unwatch(self) -> None:
        if self._gone is not None:
            self._gone.cancel()
            self._gone = None

    def _left(self, gone: asyncio.Task[None]) -> None:
        if gone.cancelled() or gone.exception() is not None or self._gone is not gone:
            return
        self._gone = None
        if self.stream is not None and not self.client.stateless:
            self._detach(self.stream)
            return
        log.info("client went away during %s; cancelling it upstream", self.method)
        self._cancel()

    def _detach(self, stream: EventStream) -> None:
        """Keep what the call says from now on until the client resumes or RESUME_WINDOW passes."""
        self.detached = True
        for note in self._notes:
            stream.add(note, keep=True)
        self._notes.clear()
        self._wake()  # the writer stops
        self.client.streams[stream.id] = stream

        def expire() -> None:
            if self.client.streams.pop(stream.id, None) is not None:
                log.info("nobody resumed stream %s within %gs; cancelling its call", stream.id, RESUME_WINDOW)
                self._cancel()

        stream.expiry = asyncio.get_running_loop().call_later(RESUME_WINDOW, expire)

    def _cancel(self) -> None:
        self.abandoned = True
        self.task.cancel()
        if self._writer is not None:
            self._writer.cancel()

    # ------------------------------------------------------------------ once it ended

    def settle_abandoned(self) -> None:
        """The call ended after we cancelled it: take our cancellation back from the task."""
        if self.task.cancelling():
            self.task.uncancel()

    def keep_result(self, reply: dict[str, Any] | None) -> None:
        """A detached stream's result, for its resume."""
        assert self.stream is not None
        if reply is not None:
            self.stream.add(reply, keep=True)
        self.stream.finish()

    async def end_unanswered(self) -> None:
        """The client cancelled the request (``notifications/cancelled``): it gets no reply. A
        stream ends after the notes it has; a plain answer is ``202 Accepted`` with no body."""
        if self._writer is None:
            await respond(self.send, 202, b"", self.extra)
            return
        await self.finish()
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def finish(self) -> EventStream:
        """Let the writer send the notes it has; the stream, for the result."""
        self._ending = True
        self._wake()
        assert self._writer is not None
        await self._writer
        assert self.stream is not None
        return self.stream
