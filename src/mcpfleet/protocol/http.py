"""MCP over streamable HTTP, client side: each message is a POST; replies come back as JSON or SSE.

Session protocol: the server may give an ``Mcp-Session-Id`` on ``initialize``; it is sent on
every later request, a ``GET`` stream carries what the server sends unasked, and ``DELETE``
ends the session on close. The negotiated version goes in ``MCP-Protocol-Version``.
Stateless protocol (2026-07-28): the same POSTs, no session id, no GET stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from mcpfleet.exceptions import ConnectionClosedError, ProtocolError, ServerUnavailableError
from mcpfleet.protocol.channel import current_channel
from mcpfleet.protocol.credentials import caller_headers, is_per_caller
from mcpfleet.protocol.transport import Deliver, Lost, Transport

__all__ = ["HttpTransport"]

log = logging.getLogger("mcpfleet.protocol")


class _Stream:
    """Where a server-sent event stream stands: the last event id and the reconnection delay it
    asked for, so a stream the server closes before the answer can be resumed (SEP-1699)."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None


async def _sse_events(response: httpx.Response, stream: _Stream | None = None) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (an event with empty data, e.g. a priming one, is skipped)."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif stream is not None and line.startswith("id:"):
            stream.last_id = line[3:].removeprefix(" ")
        elif stream is not None and line.startswith("retry:") and line[6:].strip().isdigit():
            stream.retry_ms = int(line[6:].strip())
    if data:
        yield "\n".join(data)


MAX_RESUMES = 50  # reconnections of one request's stream before it is given up
PARAM_HEADER = "mcp-param-"  # 2026-07-28 (SEP-2243): arguments the client mirrors into headers


class HttpTransport(Transport):
    """One MCP endpoint URL; ``headers`` go on every request (e.g. ``Authorization``)."""

    expectation = "streamable HTTP at this URL"
    answers_in_send = True  # the reply comes in the POST's own response, while send() waits

    def __init__(
        self,
        url: str,
        *,
        server: str,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.server = server
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
        self.headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            # ${user:...} templates are filled in per caller (caller_headers), never sent as they are
            **{k: v for k, v in (headers or {}).items() if not is_per_caller(v)},
        }
        self.session_id: str | None = None
        self._deliver: Deliver | None = None
        self._lost: Lost | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self, deliver: Deliver, lost: Lost) -> None:
        self._deliver = deliver
        self._lost = lost

    def set_protocol_version(self, version: str | None) -> None:
        if version is None:
            self.headers.pop("mcp-protocol-version", None)
            return
        self.headers["mcp-protocol-version"] = version
        if self.session_id is not None:
            self._spawn(self._listen())

    async def send(self, message: dict[str, Any]) -> None:
        """POST one message and deliver the replies (the request's reply may arrive on SSE)."""
        if self._closed:
            raise ConnectionClosedError(self.server, "the HTTP session is closed")
        headers = dict(self.headers)
        if self.session_id is not None:
            headers["mcp-session-id"] = self.session_id
        method = message.get("method")
        if isinstance(method, str):
            # Mirrored so proxies can route without reading the body (required by 2026-07-28).
            headers["mcp-method"] = method
            params = message.get("params") or {}
            name = params.get("name", params.get("uri"))
            if isinstance(name, str) and name.isascii() and name.isprintable():
                headers["mcp-name"] = name
            channel = current_channel.get() if "id" in message else None
            if channel is not None:  # what the client mirrored, as it sent it: the server checks it
                headers.update((k, v) for k, v in channel.headers.items() if k.startswith(PARAM_HEADER))
            caller = caller_headers.get()
            if caller is not None and self.server in caller:
                headers.update(caller[self.server])
        body = json.dumps(message, separators=(",", ":")).encode()
        try:
            async with self.client.stream("POST", self.url, content=body, headers=headers) as response:
                await self._handle(response, message)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnavailableError(
                self.server, f"cannot connect to {self.url} ({type(exc).__name__}: {exc}); nothing was sent"
            ) from None
        except httpx.HTTPError as exc:
            raise ConnectionClosedError(
                self.server,
                f"POST {self.url} failed ({type(exc).__name__}: {exc}); it may or may not have run",
            ) from None

    async def _handle(self, response: httpx.Response, sent: dict[str, Any]) -> None:
        if sent.get("method") == "initialize" and "mcp-session-id" in response.headers:
            self.session_id = response.headers["mcp-session-id"]
        if response.status_code == 202:
            return
        if response.status_code == 404 and self.session_id is not None:
            self._end(ConnectionClosedError(self.server, "the server ended the session (HTTP 404)"))
            raise ConnectionClosedError(self.server, "the server ended the session (HTTP 404)")
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        msg_id = sent.get("id") if "method" in sent else None  # our request's id (not a reply of ours)
        if response.status_code >= 400:
            text = (await response.aread()).decode("utf-8", "replace")
            if kind == "application/json" and msg_id is not None:
                self._deliver_text(text, msg_id)  # a JSON-RPC error object with an HTTP error status
                return
            raise ProtocolError(self.server, f"HTTP {response.status_code} from {self.url}: {text[:300]}")
        if kind == "text/event-stream":
            stream = _Stream()
            answered = False
            async for data in _sse_events(response, stream):
                answered = self._deliver_text(data, msg_id) or answered
            if msg_id is not None and not answered:
                await self._resume(stream, msg_id)
        elif kind == "application/json":
            self._deliver_text((await response.aread()).decode(), msg_id)
        elif msg_id is not None:
            raise ProtocolError(self.server, f"{self.url} answered with content type {kind or 'none'!r}")

    async def _resume(self, stream: _Stream, msg_id: int) -> None:
        """The server closed a request's stream before its answer: reconnect with ``GET`` and
        ``Last-Event-ID`` (after the ``retry`` delay it asked for) until the answer comes."""
        if stream.last_id is None:
            raise ConnectionClosedError(
                self.server,
                f"{self.url} closed the stream before answering, and gave no event id to resume from",
            )
        for _ in range(MAX_RESUMES):
            await asyncio.sleep((stream.retry_ms or 0) / 1000)
            headers = {**self.headers, "accept": "text/event-stream", "last-event-id": stream.last_id}
            headers.pop("content-type", None)
            if self.session_id is not None:
                headers["mcp-session-id"] = self.session_id
            async with self.client.stream("GET", self.url, headers=headers) as response:
                if response.status_code != 200:
                    text = (await response.aread()).decode("utf-8", "replace")
                    raise ConnectionClosedError(
                        self.server,
                        f"resuming the stream failed with HTTP {response.status_code}: {text[:200]}",
                    )
                async for data in _sse_events(response, stream):
                    if self._deliver_text(data, msg_id):
                        return
        raise ConnectionClosedError(self.server, f"no answer after {MAX_RESUMES} stream resumptions")

    def _deliver_text(self, text: str, related: int | None = None) -> bool:
        """Deliver what a POST's answer held; True if it was the reply to ``related``."""
        if not text.strip() or self._deliver is None:
            return False
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("%s sent something that is not JSON: %.200s", self.server, text)
            return False
        answered = False
        for item in message if isinstance(message, list) else [message]:
            if not isinstance(item, dict):
                continue
            if "method" not in item and related is not None:
                if item.get("id") is None and "error" in item:
                    # An error it could not tie to a request (id null), on the POST of our one
                    # request: that request's answer.
                    item = {**item, "id": related}
                answered = answered or item.get("id") == related
            self._deliver(item, related)
        return answered

    async def _listen(self) -> None:
        """The GET stream: what the server sends outside any request (session protocol only)."""
        headers = {**self.headers, "accept": "text/event-stream"}
        headers.pop("content-type", None)
        if self.session_id is not None:
            headers["mcp-session-id"] = self.session_id
        try:
            async with self.client.stream("GET", self.url, headers=headers) as response:
                if response.status_code != 200:
                    return  # 405: the server offers no stream; that is allowed
                async for data in _sse_events(response):
                    self._deliver_text(data)
        except httpx.HTTPError as exc:
            log.debug("%s: GET stream ended: %s", self.server, exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _end(self, reason: BaseException | None) -> None:
        if self._lost is not None:
            lost, self._lost = self._lost, None
            lost(reason)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session_id is not None:
            headers = {**self.headers, "mcp-session-id": self.session_id}
            with contextlib.suppress(httpx.HTTPError):  # the server may be gone; the session with it
                await self.client.delete(self.url, headers=headers)
        if self._own_client:
            await self.client.aclose()
        self._end(None)
