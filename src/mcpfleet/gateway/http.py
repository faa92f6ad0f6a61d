"""Streamable HTTP, server side: the MCP endpoints of the gateway as one lean ASGI app.

Both protocol generations on the same URL:

- session protocol (2025-11-25 and older): ``initialize`` opens a session whose id comes back
  in ``Mcp-Session-Id``; later requests must carry it (400 without, 404 when unknown); ``GET``
  opens the session's server-to-client SSE stream; ``DELETE`` ends the session.
- stateless protocol (2026-07-28): every POST stands alone, its ``_meta`` and
  ``MCP-Protocol-Version`` header name the revision; no session, no GET stream.

The :class:`~mcpfleet.gateway.app.Gateway` checks Host and Origin (DNS rebinding) before a
request reaches this app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from mcpfleet.gateway.answering import Answer, LateCalls
from mcpfleet.gateway.context import ClientState
from mcpfleet.gateway.engine import CANCELLED_BY_CLIENT, Engine
from mcpfleet.gateway.envelope import envelope_problem, header_problem
from mcpfleet.gateway.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    MODERN,
    SUPPORTED_SESSION_VERSIONS,
    UNSUPPORTED_PROTOCOL_VERSION,
    BadMessage,
    check_message,
    error_reply,
    is_modern,
    parse,
)
from mcpfleet.gateway.listen import Listeners
from mcpfleet.gateway.sessions import SessionLimitError, SessionStore
from mcpfleet.gateway.sse import (
    EventStream,
    Receive,
    Scope,
    Send,
    dumps,
    event,
    respond,
    start_stream,
    text_response,
)
from mcpfleet.gateway.views import View

__all__ = ["PRINCIPAL", "VIEW", "MCPHttpApp", "Receive", "Scope", "Send", "text_response"]

log = logging.getLogger("mcpfleet.gateway")

MAX_BODY = 4 * 1024 * 1024
BATCHING_VERSIONS = frozenset({"2025-03-26"})  # the one revision with JSON-RPC batches


class _TooLarge(Exception):
    """A request body over MAX_BODY."""


PRINCIPAL = "mcpfleet.principal"  # the ASGI scope key where the gateway puts the authenticated caller
VIEW = "mcpfleet.view"  # where it puts the view of the fleet the path named, once it resolved it


def _address(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def _same_caller(owner: Any, caller: Any) -> bool:
    if owner is None or caller is None:
        return owner is caller
    return bool(owner.name == caller.name and owner.method == caller.method)


# The HTTP status a 2026-07-28 error reply goes out with (SEP-2575); other errors stay 200.
_STATELESS_ERROR_STATUS = {
    METHOD_NOT_FOUND: 404,
    INVALID_REQUEST: 400,
    HEADER_MISMATCH: 400,
    MISSING_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
}


class MCPHttpApp:
    """ASGI app for every MCP path of the gateway; ``resolve(path)`` gives the view or None (404)."""

    def __init__(
        self, engine: Engine, resolve: Callable[[str], View | None], *, sessions: SessionStore
    ) -> None:
        self.engine = engine
        self.resolve = resolve
        self.sessions = sessions
        self.listeners = Listeners(engine)  # 2026-07-28 subscriptions/listen streams
        self._late = LateCalls()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        view = scope.get(VIEW) or self.resolve(scope["path"])
        if view is None:
            await text_response(
                send, 404, f"No MCP endpoint at {scope['path']}; try /mcp or /servers/NAME/mcp"
            )
            return
        method = scope["method"]
        if method == "POST":
            await self._post(scope, receive, send, headers, view)
        elif method == "GET":
            await self._get(scope, send, headers)
        elif method == "DELETE":
            await self._delete(scope, send, headers)
        else:
            allow = [(b"allow", b"GET, POST, DELETE")]
            await text_response(send, 405, f"Method Not Allowed: {method}; use POST, GET or DELETE", allow)

    # ------------------------------------------------------------------ POST

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The request body; None when the client went away. Raises _TooLarge past MAX_BODY."""
        chunks, size = [], 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                return None
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise _TooLarge
            chunks.append(chunk)
            if not event.get("more_body"):
                return b"".join(chunks)

    async def _post(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], view: View
    ) -> None:
        content_type = headers.get("content-type", "")
        if not content_type.lower().startswith("application/json"):
            await text_response(send, 415, "Content-Type must be application/json")
            return
        accept = headers.get("accept", "*/*")
        if "application/json" not in accept and "text/event-stream" not in accept and "*/*" not in accept:
            await text_response(send, 406, "Accept must include application/json and text/event-stream")
            return
        try:
            body = await self._read_body(receive)
        except _TooLarge:
            too_large = error_reply(
                None, INVALID_REQUEST, f"Invalid request: the body is over {MAX_BODY} bytes"
            )
            await respond(send, 413, dumps(too_large))
            return
        if body is None:
            return
        try:
            message = parse(body)
            batch = isinstance(message, list)
            messages = message if batch else [message]
            if not messages:
                raise BadMessage(INVALID_REQUEST, "Invalid request: an empty batch")
            for one in messages:
                check_message(one)
        except BadMessage as exc:
            await respond(send, 400, dumps(exc.reply))
            return
        header_version = headers.get("mcp-protocol-version")
        first = messages[0]
        extra: list[tuple[bytes, bytes]] = []
        if is_modern(first, header_version):
            if batch:
                await respond(
                    send, 400, dumps(error_reply(None, INVALID_REQUEST, f"{MODERN} has no batches"))
                )
                return
            problem = envelope_problem(first, header_version)
            if problem is None and (header_version is not None or "_meta" in (first.get("params") or {})):
                mismatch = header_problem(first, headers)
                problem = None if mismatch is None else (HEADER_MISMATCH, mismatch, None)
            if problem is not None:
                await respond(send, 400, dumps(error_reply(first.get("id"), *problem)))
                return
            client = ClientState(
                MODERN, stateless=True, principal=scope.get(PRINCIPAL), address=_address(scope)
            )
        elif first.get("method") == "initialize" and not batch:
            client = ClientState(
                SUPPORTED_SESSION_VERSIONS[0], principal=scope.get(PRINCIPAL), address=_address(scope)
            )
            params = first.get("params")
            try:
                self.sessions.open(client, params if isinstance(params, dict) else {})
            except SessionLimitError as exc:
                wait = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else []
                await respond(send, exc.status, dumps(error_reply(first.get("id"), exc.code, str(exc))), wait)
                return
            extra.append((b"mcp-session-id", client.id.encode()))
        else:
            session_id = headers.get("mcp-session-id")
            if not session_id:
                required = "Bad Request: Mcp-Session-Id header required (send initialize first)"
                await respond(send, 400, dumps(error_reply(None, INVALID_REQUEST, required)))
                return
            found = self._session(scope, session_id)
            if found is None:
                gone = "Session not found: it expired or was deleted; initialize a new one"
                await respond(send, 404, dumps(error_reply(None, -32001, gone)))
                return
            if (
                header_version
                and header_version != found.protocol_version
                and header_version not in (SUPPORTED_SESSION_VERSIONS)
            ):
                await text_response(send, 400, f"Unsupported MCP-Protocol-Version: {header_version}")
                return
            client = found
            if batch and client.protocol_version not in BATCHING_VERSIONS:
                refused = f"Invalid request: {client.protocol_version} has no batches (only 2025-03-26 had)"
                await respond(send, 400, dumps(error_reply(None, INVALID_REQUEST, refused)))
                return
        if client.stateless and first.get("method") == "subscriptions/listen" and "id" in first:
            await self.listeners.serve(receive, send, first, view, client)
            return
        if not batch and "id" in first and isinstance(first.get("method"), str):
            passed = {k: v for k, v in headers.items() if k.startswith("mcp-param-")}
            await self._answer_one(
                receive, send, first, view, client, extra, "text/event-stream" in accept, passed
            )
            return
        replies = [
            r
            for r in await asyncio.gather(*(self.engine.handle(m, view, client) for m in messages))
            if r is not None
        ]
        if not replies:
            await respond(send, 202, b"", extra)
            return
        status = 200
        if client.stateless and "error" in replies[0]:
            status = _STATELESS_ERROR_STATUS.get(replies[0]["error"].get("code"), 200)
        await respond(send, status, dumps(replies if batch else replies[0]), extra)

    async def _answer_one(
        self,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        view: View,
        client: ClientState,
        extra: list[tuple[bytes, bytes]],
        sse: bool,
        passed: dict[str, str] | None = None,
    ) -> None:
        """Answer one request, its call running in this task: plain JSON, or an SSE stream once
        a note about it comes first (see :mod:`mcpfleet.gateway.answering`)."""
        answer = Answer(receive, send, client, extra, message.get("method"))
        watching = self._late.add(asyncio.get_running_loop(), answer.watch)
        try:
            reply = await self.engine.handle(message, view, client, answer.emit if sse else None, passed)
        except asyncio.CancelledError as exc:
            if answer.abandoned:
                answer.settle_abandoned()  # the client went away: nobody to answer
                return
            if exc.args[:1] != (CANCELLED_BY_CLIENT,) or answer.task.uncancel():
                raise  # the gateway is stopping
            await answer.end_unanswered()  # the client cancelled it: no reply, as the spec asks
            return
        finally:
            self._late.discard(watching)
            answer.unwatch()
        if answer.abandoned:
            answer.settle_abandoned()
            return
        if answer.detached:
            answer.keep_result(reply)  # for the client's resume
            return
        status = 200
        if client.stateless and reply is not None and "error" in reply:
            status = _STATELESS_ERROR_STATUS.get(reply["error"].get("code"), 200)
        if not answer.streaming:
            await respond(send, status, dumps(reply), extra)
            return
        stream = await answer.finish()
        await event(send, reply, stream.add(reply or {}, keep=False))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def publish(self, method: str | None) -> None:
        """Tell every listen stream of a list change (``None``: the gateway is stopping)."""
        self.listeners.publish(method)

    # ------------------------------------------------------------------ GET / DELETE

    def _session(self, scope: Scope, session_id: str) -> ClientState | None:
        """The session, if it exists and belongs to this request's caller (a session id that
        leaked to someone else is no use to them)."""
        principal = scope.get(PRINCIPAL)
        client = self.sessions.find(session_id, principal, _address(scope))
        if client is None or not _same_caller(client.principal, principal):
            return None
        owner = client.principal
        if principal is not None and owner is not None and principal.token != owner.token:
            client.principal = principal  # a refreshed JWT: the latest is what a token exchange uses
        return client

    async def _get(self, scope: Scope, send: Send, headers: dict[str, str]) -> None:
        session_id = headers.get("mcp-session-id")
        if not session_id:
            await text_response(
                send,
                405 if "text/event-stream" not in headers.get("accept", "") else 400,
                "GET opens a session's event stream: send Mcp-Session-Id",
            )
            return
        client = self._session(scope, session_id)
        if client is None:
            await text_response(send, 404, "Session not found")
            return
        if "last-event-id" in headers:
            await self._resume(send, client, headers["last-event-id"], session_id)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"mcp-session-id", session_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b": mcpfleet stream open\n\n", "more_body": True})
        while self.sessions.get(session_id) is client:
            try:
                note = await asyncio.wait_for(client.notifications.get(), timeout=15.0)
                if not note:
                    break  # the session ended
                chunk = b"event: message\ndata: " + dumps(note) + b"\n\n"
            except TimeoutError:
                chunk = b": keep-alive\n\n"
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _resume(self, send: Send, client: ClientState, last_event_id: str, session_id: str) -> None:
        """``GET`` with ``Last-Event-ID``: the rest of a request's stream the client lost."""
        where = EventStream.parse(last_event_id)
        stream = client.streams.pop(where[0], None) if where is not None else None
        if stream is None or where is None:
            await text_response(
                send, 404, f"No stream to resume at event {last_event_id!r}: it ended or expired"
            )
            return
        if stream.expiry is not None:
            stream.expiry.cancel()
        await start_stream(send, [(b"mcp-session-id", session_id.encode())])
        await stream.replay(send, where[1])
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _delete(self, scope: Scope, send: Send, headers: dict[str, str]) -> None:
        session_id = headers.get("mcp-session-id")
        if (
            not session_id
            or self._session(scope, session_id) is None
            or self.sessions.remove(session_id) is None
        ):
            await text_response(send, 404, "Session not found")
            return
        await respond(send, 200, b"")
