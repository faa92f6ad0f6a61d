"""The gateway's HTTP wire: ASGI replies, server-sent events, and streams a client can resume.

A session client's request whose answer becomes an event stream (something about it came before
the answer) gets a stream with an id: a priming event first (an event id, a ``retry`` delay,
empty data), then numbered events. If the client loses the connection before the answer, the
call goes on and its events are kept for ``RESUME_WINDOW`` seconds; a ``GET`` with
``Last-Event-ID`` picks the stream up where it broke off (SEP-1699). Nobody back in time: the
call is cancelled upstream.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from mcpfleet import jsonio

__all__ = [
    "RESUME_WINDOW",
    "EventStream",
    "Receive",
    "Scope",
    "Send",
    "disconnected",
    "dumps",
    "event",
    "respond",
    "start_stream",
    "text_response",
]

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

RESUME_WINDOW = 5.0  # seconds a broken stream's call runs on, waiting for its client to resume
RETRY_MS = 1000  # how long a client waits before it reconnects (the priming event's `retry`)
MAX_KEPT = 1000  # events kept per broken stream; older ones are dropped
_stream_ids = itertools.count(1)


def dumps(obj: Any) -> bytes:
    return jsonio.dumps(obj)  # json.dumps(obj, separators=(",", ":"), ensure_ascii=False), faster


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    head = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def text_response(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A refusal over HTTP, its body a JSON-RPC error any client can read (``id`` null: no
    request was taken)."""
    code = -32600 if 400 <= status < 500 else -32603
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": text}}
    await respond(send, status, dumps(body), headers)


async def disconnected(receive: Receive) -> None:
    """Return when the client goes away (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def start_stream(send: Send, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), *extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def event(send: Send, message: Any, event_id: str | None = None) -> None:
    """One ``message`` event (with an id when the stream can be resumed)."""
    head = b"id: " + event_id.encode() + b"\n" if event_id is not None else b""
    chunk = head + b"event: message\ndata: " + dumps(message) + b"\n\n"
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


class EventStream:
    """The events of one request's stream, numbered, so a client that lost it can resume it."""

    def __init__(self) -> None:
        self.id = f"s{next(_stream_ids)}"
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.sent = 0  # how many events the stream has had
        self.done = False
        self.changed = asyncio.Event()
        self.expiry: asyncio.TimerHandle | None = None

    def priming(self) -> bytes:
        return f"id: {self.id}-0\nretry: {RETRY_MS}\ndata: \n\n".encode()

    def add(self, message: dict[str, Any], keep: bool) -> str:
        """Number the next event; keep it (the client is away) for a resume. Returns its id."""
        self.sent += 1
        if keep:
            self.events.append((self.sent, message))
            del self.events[:-MAX_KEPT]
            self.changed.set()
        return f"{self.id}-{self.sent}"

    def finish(self) -> None:
        self.done = True
        self.changed.set()

    @staticmethod
    def parse(last_event_id: str) -> tuple[str, int] | None:
        stream, _, seq = last_event_id.strip().rpartition("-")
        return (stream, int(seq)) if stream and seq.isdigit() else None

    async def replay(self, send: Send, after: int) -> None:
        """Send what came after event ``after`` and what comes next, until the answer."""
        while True:
            self.changed.clear()
            for seq, message in self.events:
                if seq > after:
                    await event(send, message, f"{self.id}-{seq}")
                    after = seq
            if self.done:
                return
            await self.changed.wait()
