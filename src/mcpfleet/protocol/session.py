"""``ClientSession``: one live MCP connection to an instance, carrying many requests at once.

Both protocol generations:

- the session protocol (2025-11-25 and older): ``initialize``, then ``notifications/initialized``;
- the stateless protocol (2026-07-28): no handshake; ``server/discover`` tells what the server
  offers and every request carries its protocol version and client capabilities in ``_meta``.
  It has no ``ping``: :meth:`ClientSession.ping` asks ``server/discover`` instead.

With ``protocol="auto"`` the session asks ``server/discover`` first and falls back to
``initialize`` when the server answers it with an error. Messages are plain dicts: the hot path
parses JSON once and builds no models.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from mcpfleet import __version__
from mcpfleet.exceptions import (
    ConnectionClosedError,
    FleetError,
    HandshakeTimeoutError,
    ProtocolError,
    RequestTimeoutError,
    ServerUnavailableError,
    ToolCallError,
)
from mcpfleet.protocol.channel import Channel, current_channel
from mcpfleet.protocol.deadlines import Deadlines, Expired
from mcpfleet.protocol.http import HttpTransport
from mcpfleet.protocol.paging import all_pages
from mcpfleet.protocol.transport import Transport

__all__ = ["MODERN_VERSION", "SESSION_VERSIONS", "ClientSession", "Protocol"]

log = logging.getLogger("mcpfleet.protocol")

MODERN_VERSION = "2026-07-28"
SESSION_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
META = "io.modelcontextprotocol/"
METHOD_NOT_FOUND = -32601
Protocol = Literal["auto", "session", "stateless"]
Notify = Callable[[str, dict[str, Any]], None]
CLIENT_INFO = {"name": "mcpfleet", "version": __version__}
# A 2026-07-28 request made for a client carries that client's capabilities; one made for no
# client (probes, cached lists) declares none, so the server does not ask it for input.
CLIENT_CAPABILITIES: dict[str, Any] = {}
# A session-protocol connection is shared by many clients and declared once: it offers what
# clients may offer, and each request the server makes goes to the client whose call it came
# about (who may still decline it, e.g. when it did not declare that capability itself).
RELAY_CAPABILITIES: dict[str, Any] = {"sampling": {}, "elicitation": {"form": {}, "url": {}}, "roots": {}}
# What a client must have declared before a server may ask it for input.
INPUT_CAPABILITY = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


class ClientSession:
    """JSON-RPC over a :class:`Transport`, with the MCP handshake of either generation.

    ``on_notification(method, params)`` receives the server's notifications (progress, logging,
    ``list_changed``); server-to-client requests go to ``on_request`` when given (its result
    is sent back), else ``ping`` is answered and the rest refused with "method not found".
    """

    def __init__(
        self,
        transport: Transport,
        *,
        server: str,
        protocol: Protocol = "auto",
        on_notification: Notify | None = None,
        on_request: Callable[[str, dict[str, Any]], Any] | None = None,
        listen: bool = False,
    ) -> None:
        self.transport = transport
        self.listen = listen  # 2026-07-28: keep a subscriptions/listen stream open for list changes
        self.server = server
        self.protocol: Protocol = protocol
        self.on_notification = on_notification
        self.on_request = on_request
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.instructions: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._channels: dict[int, Channel] = {}  # requests made for a client: where their traffic goes
        self._progress: dict[str, tuple[int, Any]] = {}  # our progress token -> (request, client's token)
        self._watched: set[str] = set()  # 2026-07-28: resources subscribed through the listen stream
        self._listening: asyncio.Task[None] | None = None
        self._closed: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deadlines = Deadlines()  # the requests' timeouts

    @classmethod
    async def over_http(
        cls,
        url: str,
        *,
        server: str,
        headers: Mapping[str, str] | None = None,
        protocol: Protocol = "auto",
        timeout: float = 30.0,
        on_notification: Notify | None = None,
    ) -> ClientSession:
        """A session with a remote server over streamable HTTP, handshake done."""
        session = cls(
            HttpTransport(url, server=server, headers=headers),
            server=server,
            protocol=protocol,
            on_notification=on_notification,
        )
        try:
            return await session.open(timeout)
        except BaseException:
            await session.aclose()
            raise

    # ------------------------------------------------------------------ state

    @property
    def stateless(self) -> bool:
        return self.protocol_version == MODERN_VERSION

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def wait_idle(self, timeout: float) -> int:
        """Wait up to ``timeout`` for the requests in flight to end; returns how many remain."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._pending:
                    await asyncio.wait(list(self._pending.values()))
        return len(self._pending)

    # ------------------------------------------------------------------ handshake

    async def open(self, timeout: float = 30.0) -> ClientSession:
        """Start the transport and complete the handshake within ``timeout`` seconds."""
        self.transport.start(self._receive, self._lost)
        try:
            async with asyncio.timeout(timeout):
                await self._handshake()
        except TimeoutError:
            raise HandshakeTimeoutError(
                self.server,
                f"no answer to the MCP handshake within {timeout:g}s"
                + self.transport.describe_trouble()
                + f"; check that it is an MCP server ({self.transport.expectation}), "
                "or raise startup_timeout",
            ) from None
        return self

    async def _handshake(self) -> None:
        if self.protocol in ("auto", "stateless"):
            self.transport.set_protocol_version(MODERN_VERSION)
            try:
                result = await self._call("server/discover", self._modern_params({}), None)
            except ToolCallError as exc:
                if self.protocol == "stateless":
                    raise ProtocolError(
                        self.server, f"it does not speak MCP {MODERN_VERSION} (server/discover: {exc})"
                    ) from None
            else:
                versions = result.get("supportedVersions") or []
                if MODERN_VERSION in versions:
                    self.protocol_version = MODERN_VERSION
                    self.capabilities = dict(result.get("capabilities") or {})
                    meta = result.get("_meta") or {}
                    self.server_info = dict(result.get("serverInfo") or meta.get(META + "serverInfo") or {})
                    self.instructions = result.get("instructions")
                    self.transport.set_protocol_version(MODERN_VERSION)
                    if self.listen:
                        self._restart_listening()
                    return
                if self.protocol == "stateless":
                    raise ProtocolError(self.server, f"it supports {versions}, not {MODERN_VERSION}")
            self.transport.set_protocol_version(None)
        result = await self._call(
            "initialize",
            {
                "protocolVersion": SESSION_VERSIONS[0],
                "capabilities": RELAY_CAPABILITIES,
                "clientInfo": CLIENT_INFO,
            },
            None,
        )
        version = result.get("protocolVersion")
        if version not in SESSION_VERSIONS:
            raise ProtocolError(
                self.server,
                f"it answered initialize with protocol version {version!r}; mcpfleet speaks "
                f"{', '.join(SESSION_VERSIONS)} and {MODERN_VERSION}",
            )
        self.protocol_version = str(version)
        self.capabilities = dict(result.get("capabilities") or {})
        self.server_info = dict(result.get("serverInfo") or {})
        self.instructions = result.get("instructions")
        self.transport.set_protocol_version(self.protocol_version)
        await self.notify("notifications/initialized")

    def _modern_params(self, params: dict[str, Any], channel: Channel | None = None) -> dict[str, Any]:
        meta = dict(params.get("_meta") or {})
        meta[META + "protocolVersion"] = MODERN_VERSION
        meta.setdefault(
            META + "clientCapabilities",
            dict(channel.capabilities) if channel is not None else CLIENT_CAPABILITIES,
        )
        if channel is not None and channel.log_level is not None:
            meta.setdefault(META + "logLevel", channel.log_level)
        meta.setdefault(META + "clientInfo", CLIENT_INFO)
        return {**params, "_meta": meta}

    # ------------------------------------------------------------------ requests

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a request and return its result; JSON-RPC errors raise :class:`ToolCallError`."""
        params = params or {}
        channel = current_channel.get()
        if self.stateless:
            if method in ("resources/subscribe", "resources/unsubscribe"):
                return self._watch(method, params)
            params = self._modern_params(params, channel)
        return await self._call(method, params, timeout, channel)

    async def _call(
        self, method: str, params: dict[str, Any], timeout: float | None, channel: Channel | None = None
    ) -> dict[str, Any]:
        if self._closed is not None:
            raise ServerUnavailableError(
                self.server,
                f"the connection is closed, so {method} was not sent" + self.transport.describe_trouble(),
            )
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        token = None
        if channel is not None:
            self._channels[msg_id] = channel
            meta = params.get("_meta")
            if isinstance(meta, dict) and "progressToken" in meta:
                # Our own token upstream: two clients on this connection may both use "1".
                token = f"mcpfleet-{msg_id}"
                self._progress[token] = (msg_id, meta["progressToken"])
                params = {**params, "_meta": {**meta, "progressToken": token}}
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        try:
            if timeout is not None and not self.transport.answers_in_send:  # one timer per connection
                reply = await self._deadlines.answer(msg_id, timeout, future, self.transport.send(message))
            else:
                async with asyncio.timeout(timeout):
                    await self.transport.send(message)  # over HTTP the reply comes inside send()
                    reply = await future
        except (TimeoutError, Expired):
            self._cancel_upstream(msg_id, "timed out")
            raise RequestTimeoutError(self.server, f"{method} got no answer within {timeout:g}s") from None
        except asyncio.CancelledError:
            self._cancel_upstream(msg_id, "cancelled by the client")
            raise
        finally:
            self._pending.pop(msg_id, None)
            if channel is not None:
                del self._channels[msg_id]
                if token is not None:
                    del self._progress[token]
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise ProtocolError(self.server, f"{method} answered with a malformed error: {error!r}")
            raise ToolCallError(
                self.server,
                method,
                int(error.get("code", 0)),
                str(error.get("message", "")),
                error.get("data"),
            )
        result = reply.get("result")
        if not isinstance(result, dict):
            raise ProtocolError(self.server, f"{method} answered with a result that is not an object")
        return result

    def _watch(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """``resources/(un)subscribe`` on a 2026-07-28 connection, which has neither: the
        resource joins (or leaves) the ``resourceSubscriptions`` of its listen stream."""
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise ToolCallError(self.server, method, -32602, f"{method} needs a string `uri`")
        before = set(self._watched)
        if method == "resources/subscribe":
            self._watched.add(uri)
        else:
            self._watched.discard(uri)
        if self._watched != before:
            self._restart_listening()
        return {}

    def _restart_listening(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        self._listening = None
        if self._closed is None and self.protocol_version == MODERN_VERSION:
            self._listening = asyncio.ensure_future(self._listen_for_changes())
            self._tasks.add(self._listening)
            self._listening.add_done_callback(self._tasks.discard)

    async def _listen_for_changes(self) -> None:
        """2026-07-28 servers announce list changes and resource updates only on a
        ``subscriptions/listen`` stream: keep one open (reopened with backoff when it ends) for
        the lists the server says change and the resources subscribed, so they reach
        ``on_notification``."""
        kinds = {
            "tools": "toolsListChanged",
            "prompts": "promptsListChanged",
            "resources": "resourcesListChanged",
        }
        wanted: dict[str, Any] = {
            key: True for kind, key in kinds.items() if (self.capabilities.get(kind) or {}).get("listChanged")
        }
        if self._watched:
            wanted["resourceSubscriptions"] = sorted(self._watched)
        if not wanted:
            return
        delay = 1.0
        while self._closed is None:
            msg_id = next(self._ids)
            params = self._modern_params({"notifications": wanted})
            message = {"jsonrpc": "2.0", "id": msg_id, "method": "subscriptions/listen", "params": params}
            try:
                await self.transport.send(message)  # over HTTP: until the stream ends
                if not isinstance(self.transport, HttpTransport):
                    await asyncio.Event().wait()  # over stdio the stream is the pipe: until cancelled
            except FleetError as exc:
                log.debug("%s: subscriptions/listen stream ended: %s", self.server, exc)
            except asyncio.CancelledError:
                if not isinstance(self.transport, HttpTransport):  # the stream ends when told
                    self._cancel_upstream(msg_id, "the subscriptions changed")
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _cancel_upstream(self, msg_id: int, reason: str) -> None:
        if self._closed is None and self.protocol_version is not None:
            self._spawn(self.notify("notifications/cancelled", {"requestId": msg_id, "reason": reason}))

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.transport.send(message)

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """``tools/call``: the ``CallToolResult`` (``content``, ``isError``, ``structuredContent``)."""
        return await self.request("tools/call", {"name": name, "arguments": arguments or {}}, timeout=timeout)

    async def list_all(self, method: str, key: str, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list (``tools/list`` -> ``tools``), following ``nextCursor``."""
        return await all_pages(lambda p: self.request(method, p, timeout=timeout), key)

    async def list_tools(self, *, timeout: float | None = None) -> list[dict[str, Any]]:
        return await self.list_all("tools/list", "tools", timeout=timeout)

    async def ping(self, *, timeout: float | None = None) -> None:
        """Check the server answers: ``ping``, or ``server/discover`` where there is no ping."""
        if self.stateless:
            await self.request("server/discover", timeout=timeout)
        else:
            await self.request("ping", timeout=timeout)

    # ------------------------------------------------------------------ incoming

    def _receive(self, message: dict[str, Any], related: int | None = None) -> None:
        method = message.get("method")
        if method is None:
            msg_id = message.get("id")
            future = self._pending.get(msg_id) if isinstance(msg_id, int) else None
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log.debug("%s: reply to unknown request %r dropped", self.server, msg_id)
            return
        method = str(method)
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if "id" in message:
            self._spawn(self._answer(message["id"], method, params, self._channel_for(related, method)))
            return
        if method == "notifications/progress":
            found = self._progress.get(str(params.get("progressToken")))
            if found is not None:
                msg_id, token = found
                self._channels[msg_id].notify(method, {**params, "progressToken": token})
                return
        elif method == "notifications/message":
            channel = self._channel_for(related, method)
            if channel is not None:
                channel.notify(method, params)
                return
        if self.on_notification is not None:
            try:
                self.on_notification(method, params)
            except Exception:  # a listener's bug must not stop the reader
                log.exception("%s: notification handler failed on %s", self.server, method)

    def _channel_for(self, related: int | None, method: str) -> Channel | None:
        """The client a server's request or log message goes to: the one whose request it came
        about, where the wire tells (HTTP); else the one client with requests in flight. Never a
        guess between clients (not even by capability: a client that cannot sample may still call
        a tool that samples): one client's data must not reach another."""
        if related is not None and related in self._channels:
            return self._channels[related]
        owners = {channel.owner: channel for channel in self._channels.values()}
        return next(iter(owners.values())) if len(owners) == 1 else None

    async def _answer(
        self, msg_id: Any, method: str, params: dict[str, Any], channel: Channel | None
    ) -> None:
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id}
        try:
            if method == "ping":
                reply["result"] = {}
            elif channel is not None:
                reply["result"] = await channel.ask(method, params)
            elif self.on_request is not None:
                result = self.on_request(method, params)
                reply["result"] = (
                    await result if asyncio.isfuture(result) or asyncio.iscoroutine(result) else result
                )
            else:
                why = (
                    "no client's request is in flight"
                    if not self._channels
                    else "requests of more than one client are in flight and the connection does not "
                    "say which one it is about"
                )
                reply["error"] = {
                    "code": METHOD_NOT_FOUND,
                    "message": f"mcpfleet cannot relay {method}: {why}",
                }
        except ToolCallError as exc:
            reply["error"] = {"code": exc.code, "message": exc.error_message}
            if exc.data is not None:
                reply["error"]["data"] = exc.data
        except Exception as exc:  # the server gets an error reply instead of waiting forever
            reply["error"] = {"code": -32603, "message": str(exc)}
        with contextlib.suppress(FleetError):  # the server is gone: nobody to answer
            await self.transport.send(reply)

    def _lost(self, reason: BaseException | None) -> None:
        """The transport ended: every request in flight fails (it may or may not have run)."""
        if self._closed is None:
            self._closed = reason or ConnectionClosedError(self.server, "the connection closed")
        for msg_id, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(self._closed_error(f"request {msg_id}"))

    def _closed_error(self, what: str) -> FleetError:
        if isinstance(self._closed, FleetError) and not isinstance(self._closed, ConnectionClosedError):
            return self._closed
        return ConnectionClosedError(
            self.server,
            f"the connection closed while {what} was in flight; it may or may not have run"
            + self.transport.describe_trouble(),
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        if self._closed is None:
            self._closed = ConnectionClosedError(self.server, "the session was closed")
        await self.transport.aclose()
        self._lost(self._closed)
        self._deadlines.close()
        for task in list(self._tasks):
            task.cancel()
