"""What a request carries through the gateway: the client's state, the tool call, the way back.

:class:`ClientState` is one client's session (or, for a 2026-07-28 client, one request's worth);
:class:`ToolCall` is a ``tools/call`` on its way through the middlewares; :class:`CallChannel`
takes what the upstream says about a request (progress, log messages, its own requests for
sampling, elicitation or roots) one hop back to the client that made it.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import ToolCallError
from mcpfleet.gateway.jsonrpc import LOG_LEVELS, METHOD_NOT_FOUND
from mcpfleet.gateway.sse import EventStream
from mcpfleet.gateway.views import Allow, View
from mcpfleet.protocol.session import INPUT_CAPABILITY

if TYPE_CHECKING:
    from mcpfleet.security import Principal

__all__ = ["Allow", "CallChannel", "ClientState", "Emit", "ListRequest", "ReadRequest", "ToolCall"]

Emit = Callable[[dict[str, Any]], None]  # sends one message to the client, on its request's stream
Ask = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

INPUT_TIMEOUT = 600.0  # seconds a client has to answer a sampling or elicitation request
_ids = itertools.count(1)


@dataclass
class ClientState:
    """One client's session with the gateway (for stateless clients, one request's worth)."""

    protocol_version: str
    stateless: bool = False
    id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    client_info: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    initialized: bool = False
    requests: dict[Any, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)  # ours, to the client
    log_level: str = "info"  # what logging/setLevel asked for; upstream log messages below it are not sent
    created: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    in_flight: dict[Any, asyncio.Task[Any]] = field(default_factory=dict)
    notifications: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    principal: Principal | None = None  # the authenticated caller; None in process
    address: str | None = None  # where it connects from ("127.0.0.1:53122"), for the audit log
    closed: bool = False  # the session ended (deleted, expired): nothing more goes to it
    streams: dict[str, EventStream] = field(default_factory=dict)  # broken ones, waiting to be resumed


@dataclass(slots=True)
class ToolCall:
    """One ``tools/call`` on its way through the pipeline.

    ``server`` and ``tool`` are the upstream's own names (``local`` for the gateway's own
    ``fleet__*`` tools); ``params`` is what the upstream will get and may be changed on the way.
    """

    server: str
    tool: str
    params: dict[str, Any]
    client: ClientState
    request_id: str
    emit: Emit | None = None
    local: Any = None  # the gateway's own tools (fleet__*) when they answer this call
    principal: Principal | None = None  # who is calling, once authentication is on
    via: str = "mcp"  # "mcp" (an MCP client) or "admin" (the admin API, e.g. `mcpfleet call`)
    extra: dict[str, Any] = field(default_factory=dict)  # what one middleware leaves for another
    channel: CallChannel | None = None  # the way back to the client, for what the upstream sends

    @property
    def arguments(self) -> dict[str, Any]:
        arguments = self.params.get("arguments")
        return arguments if isinstance(arguments, dict) else {}


@dataclass(slots=True)
class ListRequest:
    """A list request (``tools/list``, ``prompts/list``, ``resources/list``, templates) of a view.

    Middlewares add to ``allows`` what the caller may see; an item is shown if all allow it.
    """

    method: str
    client: ClientState
    request_id: str
    principal: Principal | None = None
    view: View | None = None  # whose items are listed
    allows: list[Allow] = field(default_factory=list)


@dataclass(slots=True)
class ReadRequest:
    """A request that reads one server's things: ``resources/read``, ``prompts/get``,
    ``completion/complete``, ``resources/subscribe`` / ``unsubscribe``.

    ``name`` is the upstream's name of what is read where it is one named item (a prompt),
    None where the request concerns the server as a whole (resources, completions).
    """

    method: str
    server: str
    name: str | None
    params: dict[str, Any]
    client: ClientState
    request_id: str
    channel: CallChannel | None = None
    principal: Principal | None = None
    public: str | None = None  # the URI as the client named it, where the view wraps it


class CallChannel:
    """One client request's way back (a :class:`~mcpfleet.protocol.channel.Channel`).

    Notifications go out on the request's own stream (``emit``). The upstream's requests go to
    a session client as requests of ours, on that stream, and its answer comes back through
    ``client.requests``; for a 2026-07-28 client, which takes no requests, ``bridge`` turns them
    into an ``input_required`` round (see :mod:`mcpfleet.gateway.forward`).
    """

    __slots__ = ("bridge", "client", "emit", "headers")

    def __init__(
        self, client: ClientState, emit: Emit | None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.client = client
        self.emit = emit
        self.headers: Mapping[str, str] = headers or {}
        self.bridge: Ask | None = None

    @property
    def owner(self) -> object:
        return self.client.id

    @property
    def stateless(self) -> bool:
        return self.client.stateless

    @property
    def capabilities(self) -> Mapping[str, Any]:
        return self.client.capabilities

    @property
    def log_level(self) -> str | None:
        return None if self.client.stateless else self.client.log_level  # stateless: its own _meta says

    def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.emit is None:
            return
        if method == "notifications/message" and not self.client.stateless:
            level = params.get("level")
            if level in LOG_LEVELS and LOG_LEVELS.index(level) < LOG_LEVELS.index(self.client.log_level):
                return  # below what the client asked for with logging/setLevel
        self.emit({"jsonrpc": "2.0", "method": method, "params": params})

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        needed = INPUT_CAPABILITY.get(method)
        if needed is not None and needed not in self.client.capabilities:
            raise ToolCallError(
                "client", method, METHOD_NOT_FOUND, f"the client did not declare the {needed} capability"
            )
        if self.bridge is not None:
            return await self.bridge(method, params)
        if self.emit is None:
            raise ToolCallError(
                "client", method, METHOD_NOT_FOUND, "the client's request has no stream to carry it"
            )
        request_id = f"mcpfleet-{next(_ids)}"
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.client.requests[request_id] = answer
        try:
            self.emit({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            reply = await asyncio.wait_for(answer, INPUT_TIMEOUT)
        except TimeoutError:
            raise ToolCallError(
                "client", method, -32001, f"the client did not answer within {INPUT_TIMEOUT:g}s"
            ) from None
        finally:
            self.client.requests.pop(request_id, None)
        error = reply.get("error")
        if error is not None:
            error = error if isinstance(error, dict) else {}
            raise ToolCallError(
                "client",
                method,
                int(error.get("code", -32603)),
                str(error.get("message", "")),
                error.get("data"),
            )
        result = reply.get("result")
        return result if isinstance(result, dict) else {}
