"""The gateway's MCP server side: one JSON-RPC message in, one reply out, for a view of the fleet.

Transport-neutral: the HTTP endpoint and the stdio front both feed messages here. Results from
upstream servers pass through as they are (only names are mapped), so the hot path builds no
models. Replies to 2026-07-28 (stateless) clients carry that revision's required result fields.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mcpfleet.exceptions import FleetError, PermissionDeniedError, RateLimitedError, ToolCallError
from mcpfleet.gateway.middleware import CallNext, Middleware, ToolCall, chain
from mcpfleet.gateway.middleware.access import local_permission
from mcpfleet.gateway.views import KINDS, Allow, Upstream, View
from mcpfleet.logs import request_id
from mcpfleet.security import Permission

if TYPE_CHECKING:
    from mcpfleet.security import AccessControl
    from mcpfleet.tracing import Tracing

__all__ = [
    "MODERN",
    "SUPPORTED_SESSION_VERSIONS",
    "ClientState",
    "Emit",
    "Engine",
    "error_reply",
    "is_modern",
]

Emit = Callable[[dict[str, Any]], None]  # sends one notification to the client, tied to its request

log = logging.getLogger("mcpfleet.gateway")

MODERN = "2026-07-28"
SUPPORTED_SESSION_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
META_PREFIX = "io.modelcontextprotocol/"
# Session-protocol methods that 2026-07-28 removed: a stateless client gets "method not found".
REMOVED_IN_MODERN = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
UNSUPPORTED_PROTOCOL_VERSION = -32022
HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY = -32020, -32021
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_LOG_LEVEL = META_PREFIX + "logLevel"
_CLIENT_CAPABILITIES = META_PREFIX + "clientCapabilities"
_PASSED = (_LOG_LEVEL, _CLIENT_CAPABILITIES)  # envelope keys that speak for the client, not the gateway
# What a client must have declared before an upstream may ask it for input.
_INPUT_CAPABILITY = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}
MAX_INPUT_ROUNDS = 10
_STATE_PREFIX = "mcpfleet1."  # requestState = prefix + instance id + "." + the upstream's own
INPUT_TIMEOUT = 600.0  # seconds a client has to answer a sampling or elicitation request


def is_modern(message: dict[str, Any], header_version: str | None = None) -> bool:
    """Whether a message speaks the stateless 2026-07-28 protocol (its envelope or header says so)."""
    if message.get("method") == "server/discover" or header_version == MODERN:
        return True
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and META_PREFIX + "protocolVersion" in meta


def error_reply(msg_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


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
    principal: Any = None  # the authenticated caller (a security.Principal); None in process
    address: str | None = None  # where it connects from ("127.0.0.1:53122"), for the audit log


class Engine:
    """Answers MCP requests for views of the fleet."""

    def __init__(
        self, upstream: Upstream, *, name: str = "mcpfleet", version: str = "0", instructions: str = ""
    ) -> None:
        self.upstream = upstream
        self.server_info = {"name": name, "version": version}
        self.instructions = instructions
        # Where upstream notifications go: progress by the token we gave the upstream, log
        # messages to every call in flight on the server that logged.
        self._tokens = itertools.count(1)
        self._progress: dict[str, tuple[Emit, Any]] = {}
        self._calls: dict[str, set[Emit]] = {}
        self.metrics: Any = None  # a MetricsCollector: counts calls refused before they have a route
        self.tracing: Tracing | None = None  # set before use(): spans for requests, middlewares, hops
        self.access: AccessControl | None = None  # what each caller may list and read (calls: middleware)
        self.middlewares: list[Middleware] = []
        self._pipeline: CallNext = self._last_step

    def capabilities(self) -> dict[str, Any]:
        return {
            "tools": {"listChanged": True},
            "resources": {"listChanged": True, "subscribe": False},
            "prompts": {"listChanged": True},
            "logging": {},
        }

    # ------------------------------------------------------------------ entry point

    async def handle(
        self, message: dict[str, Any], view: View, client: ClientState, emit: Emit | None = None
    ) -> dict[str, Any] | None:
        """Reply to one message; ``None`` for notifications and responses.

        ``emit`` takes notifications about this request (progress, log messages) while it runs.
        """
        method = message.get("method")
        msg_id = message.get("id")
        if not isinstance(method, str):
            if "result" in message or "error" in message:
                answer = client.requests.get(msg_id)
                if answer is not None and not answer.done():
                    answer.set_result(message)  # the answer to an upstream's input request
                return None
            return error_reply(msg_id, INVALID_REQUEST, "Invalid request: no method")
        params = message.get("params") or {}
        if not isinstance(params, dict):
            return error_reply(msg_id, INVALID_PARAMS, "params must be an object")
        if "id" not in message:
            self._notification(method, params, client)
            return None
        rid = secrets.token_hex(6)
        request_id.set(rid)  # this task's own context: its log records carry the id
        task = asyncio.current_task()
        if task is not None:
            client.in_flight[msg_id] = task
        try:
            if self.tracing is None:
                return await self._reply(msg_id, rid, method, params, view, client, emit)
            with self.tracing.request_span(method, params, client, msg_id, rid) as span:
                reply = await self._reply(msg_id, rid, method, params, view, client, emit)
                self.tracing.outcome(span, reply)
                return reply
        finally:
            client.in_flight.pop(msg_id, None)

    async def _reply(
        self,
        msg_id: Any,
        rid: str,
        method: str,
        params: dict[str, Any],
        view: View,
        client: ClientState,
        emit: Emit | None,
    ) -> dict[str, Any]:
        try:
            result = await self._dispatch(method, params, view, client, emit)
        except _RpcError as exc:
            return error_reply(msg_id, exc.code, exc.message, _with_request_id(exc.data, rid))
        except ToolCallError as exc:
            return error_reply(msg_id, exc.code, exc.error_message, _with_request_id(exc.data, rid))
        except RateLimitedError as exc:
            return error_reply(msg_id, exc.code, str(exc), {**exc.rpc_data(), "requestId": rid})
        except PermissionDeniedError as exc:
            return error_reply(msg_id, exc.code, str(exc), {"requestId": rid})
        except FleetError as exc:
            log.warning("%s failed: %s", method, exc)
            return error_reply(msg_id, INTERNAL_ERROR, str(exc), {"requestId": rid})
        if client.stateless:
            result.setdefault("resultType", "complete")
        return {"jsonrpc": "2.0", "id": msg_id, "result": result}

    def _notification(self, method: str, params: dict[str, Any], client: ClientState) -> None:
        if method == "notifications/initialized":
            client.initialized = True
        elif method == "notifications/cancelled":
            task = client.in_flight.get(params.get("requestId"))
            if task is not None:
                task.cancel()

    # ------------------------------------------------------------------ methods

    def deliver(self, server: str, method: str, params: dict[str, Any]) -> bool:
        """Pass an upstream notification to the client request it belongs to; False if none."""
        if method == "notifications/progress":
            found = self._progress.get(str(params.get("progressToken")))
            if found is None:
                return False
            emit, token = found
            emit({"jsonrpc": "2.0", "method": method, "params": {**params, "progressToken": token}})
            return True
        if method == "notifications/message":
            calls = self._calls.get(server)
            for emit in calls or ():
                emit({"jsonrpc": "2.0", "method": method, "params": params})
            return bool(calls)
        return False

    async def _dispatch(
        self, method: str, params: dict[str, Any], view: View, client: ClientState, emit: Emit | None
    ) -> dict[str, Any]:
        if client.stateless and method in REMOVED_IN_MODERN:
            raise _RpcError(METHOD_NOT_FOUND, f"Method not found: {method} (removed in {MODERN})")
        if method == "tools/call":
            return await self._call_tool(params, view, client, emit)
        if method in KINDS:
            allow = self._allow(client.principal) if self.access is not None else None
            return self._list_result(method, await view.list(method, allow), client)
        if method == "ping":
            return {}
        if method == "initialize":
            return self.initialize(params, client)
        if method == "server/discover":
            return self.discover()
        if method in {"resources/read", "resources/subscribe", "resources/unsubscribe"}:
            return await self._forward_resource(method, params, view, client)
        if method == "prompts/get":
            return await self._forward_named("prompts/list", method, params, view, client)
        if method == "completion/complete":
            return await self._complete(params, view, client)
        if method == "logging/setLevel":
            level = params.get("level")
            if level not in LOG_LEVELS:
                raise _RpcError(INVALID_PARAMS, f"level must be one of {', '.join(LOG_LEVELS)}")
            client.log_level = level
            return {}
        raise _RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    def initialize(self, params: dict[str, Any], client: ClientState) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        version = asked if asked in SUPPORTED_SESSION_VERSIONS else SUPPORTED_SESSION_VERSIONS[0]
        client.protocol_version = str(version)
        client.client_info = dict(params.get("clientInfo") or {})
        client.capabilities = dict(params.get("capabilities") or {})
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": self.capabilities(),
            "serverInfo": self.server_info,
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def discover(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "supportedVersions": [MODERN],
            "capabilities": self.capabilities(),
            "cacheScope": "private",
            "ttlMs": 0,
            "_meta": {META_PREFIX + "serverInfo": self.server_info},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _list_result(self, method: str, items: list[dict[str, Any]], client: ClientState) -> dict[str, Any]:
        result: dict[str, Any] = {KINDS[method][0]: items}
        if client.stateless:
            result.update(cacheScope="private", ttlMs=0)
        return result

    @staticmethod
    def _upstream_params(params: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """The client's params for the upstream: its own protocol envelope is not forwarded
        (the upstream session adds its own), except the log level it asks for."""
        out = {**params, **changes}
        meta = out.get("_meta")
        if isinstance(meta, dict) and any(k.startswith(META_PREFIX) for k in meta):
            out["_meta"] = {k: v for k, v in meta.items() if not k.startswith(META_PREFIX) or k in _PASSED}
        return out

    async def _call_tool(
        self, params: dict[str, Any], view: View, client: ClientState, emit: Emit | None
    ) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            raise self._refused("tools/call needs a string `name`")
        rid = request_id.get() or ""
        local = getattr(view, "local", None)
        if local is not None and local.handles(name):  # fleet__find_servers, fleet__add_server
            server, _, tool = name.partition(view.separator)
            call = ToolCall(server, tool, params, client, rid, emit, local=local, principal=client.principal)
        else:
            try:
                route = view.route("tools/call", name)
            except KeyError:
                raise self._refused(f"Unknown tool: {name}") from None
            upstream_params = self._upstream_params(params, name=route.name)
            call = ToolCall(
                route.server, route.name, upstream_params, client, rid, emit, principal=client.principal
            )
        return await self._pipeline(call)

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        principal: Any = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        """A tool call from the admin API, through the same middlewares as an MCP client's.

        Unlike an MCP client's, a call that cannot reach the server raises its FleetError.
        """
        client = ClientState("admin", stateless=True, principal=principal, address=address)
        rid = request_id.get() or secrets.token_hex(6)
        params = {"name": tool, "arguments": arguments}
        return await self._pipeline(
            ToolCall(server, tool, params, client, rid, principal=principal, via="admin")
        )

    def use(self, middlewares: list[Middleware]) -> None:
        """Put ``middlewares`` on the tool-call path, outermost first."""
        self.middlewares = list(middlewares)
        wrap = self.tracing.wrap_middleware if self.tracing is not None else None
        self._pipeline = chain(self.middlewares, self._last_step, wrap)

    async def _last_step(self, call: ToolCall) -> dict[str, Any]:
        if call.local is not None:
            return cast(dict[str, Any], await call.local.call(call.params["name"], call.arguments))
        return await self._forward_tool(call)

    def _refused(self, message: str) -> _RpcError:
        """An invalid call: counted under labels no client can make up, then refused."""
        if self.metrics is not None:
            self.metrics.track_request("unknown", "unknown", 0.0, False, "invalid_request")
        return _RpcError(INVALID_PARAMS, message)

    async def _upstream(self, call: ToolCall, params: dict[str, Any], pin: list[str]) -> dict[str, Any]:
        """One hop to an instance (a span of its own when tracing is on)."""
        if self.tracing is None:
            return await self.upstream.request(
                call.server, "tools/call", params, session_key=call.client.id, pin=pin
            )
        with self.tracing.upstream_span(call.server, call.tool, params) as span:
            result = await self.upstream.request(
                call.server, "tools/call", params, session_key=call.client.id, pin=pin
            )
            self.tracing.outcome(span, {"result": result})
            return result

    async def _forward_tool(self, call: ToolCall) -> dict[str, Any]:
        server, client, emit = call.server, call.client, call.emit
        upstream_params = call.params
        token = None
        if emit is not None and not client.stateless:
            # A session client's log level and capabilities, per request as 2026-07-28 upstreams
            # expect (session upstreams ignore them).
            meta = upstream_params.get("_meta")
            upstream_params["_meta"] = {
                _LOG_LEVEL: client.log_level,
                _CLIENT_CAPABILITIES: client.capabilities,
                **(meta if isinstance(meta, dict) else {}),
            }
        if emit is not None:
            # Our own progress token upstream: two clients may both use "1".
            meta = upstream_params.get("_meta")
            if isinstance(meta, dict) and "progressToken" in meta:
                token = f"mcpfleet-{next(self._tokens)}"
                self._progress[token] = (emit, meta["progressToken"])
                upstream_params["_meta"] = {**meta, "progressToken": token}
            self._calls.setdefault(server, set()).add(emit)
        # The rounds of a multi-round call go back to the instance that holds its state; a
        # 2026-07-28 client carries that instance's id inside the requestState it echoes.
        pin: list[str] = []
        state = upstream_params.get("requestState")
        if isinstance(state, str) and state.startswith(_STATE_PREFIX):
            instance, _, upstream_params["requestState"] = state[len(_STATE_PREFIX) :].partition(".")
            with contextlib.suppress(ValueError):
                pin.append(base64.urlsafe_b64decode(instance + "==").decode())
        try:
            result = await self._upstream(call, upstream_params, pin)
            for _ in range(MAX_INPUT_ROUNDS):
                if result.get("resultType") != "input_required":
                    return result
                if client.stateless:  # it answers input requests itself, then retries
                    if isinstance(result.get("requestState"), str) and pin:
                        instance = base64.urlsafe_b64encode(pin[0].encode()).decode().rstrip("=")
                        state = f"{_STATE_PREFIX}{instance}.{result['requestState']}"
                        result = {**result, "requestState": state}
                    return result
                try:
                    responses = await self._ask_client(server, result, client, emit)
                except _InputFailed as exc:
                    return _tool_error(str(exc))
                retry = {
                    k: v for k, v in upstream_params.items() if k not in ("inputResponses", "requestState")
                }
                retry["inputResponses"] = responses
                if result.get("requestState") is not None:
                    retry["requestState"] = result["requestState"]
                result = await self._upstream(call, retry, pin)
            return _tool_error(f"{server} asked for input more than {MAX_INPUT_ROUNDS} times; gave up")
        except ToolCallError:
            raise
        except FleetError as exc:
            if call.via == "admin":
                raise
            # A dead or missing upstream is a tool error the model can read, not a protocol failure.
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        finally:
            if emit is not None:
                self._calls[server].discard(emit)
                if token is not None:
                    del self._progress[token]

    async def _ask_client(
        self, server: str, result: dict[str, Any], client: ClientState, emit: Emit | None
    ) -> dict[str, Any]:
        """Put a 2026-07-28 upstream's input requests to a session client as server requests.

        Returns the responses keyed as the upstream asked; raises :class:`_InputFailed` if the
        client cannot or will not answer.
        """
        responses: dict[str, Any] = {}
        for key, request in (result.get("inputRequests") or {}).items():
            method = str(request.get("method"))
            needed = _INPUT_CAPABILITY.get(method)
            if needed is None or needed not in client.capabilities or emit is None:
                why = "this request cannot carry it" if emit is not None else "it was not asked for"
                if needed is None:
                    why = "mcpfleet does not know that request"
                elif needed not in client.capabilities:
                    why = f"this client did not declare the {needed} capability"
                raise _InputFailed(f"{server} needs {method} from the client, but {why}")
            request_id = f"mcpfleet-{next(self._tokens)}"
            answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            client.requests[request_id] = answer
            try:
                emit(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "method": method,
                        "params": request.get("params") or {},
                    }
                )
                reply = await asyncio.wait_for(answer, INPUT_TIMEOUT)
            except TimeoutError:
                raise _InputFailed(f"the client did not answer {method} within {INPUT_TIMEOUT:g}s") from None
            finally:
                client.requests.pop(request_id, None)
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                raise _InputFailed(f"the client declined {method}: {error.get('message', 'no reason given')}")
            responses[key] = reply.get("result") or {}
        return responses

    def _allow(self, principal: Any) -> Allow | None:
        """What a caller may see in lists: tools it may list, the resources and prompts of
        servers it may read. None (show all) for an in-process caller."""
        access = self.access
        if access is None or principal is None:
            return None

        def allow(server: str, method: str, item: dict[str, Any]) -> bool:
            if method == "tools/list":
                if server == "fleet" and item.get("name") in ("find_servers", "add_server"):
                    return access.has_permission(principal, local_permission(str(item["name"])))
                return access.check_permission(principal, server, str(item.get("name")), Permission.LIST)
            if method == "prompts/list":
                return access.check_permission(principal, server, str(item.get("name")), Permission.READ)
            return access.check_server(principal, server, Permission.READ)

        return allow

    def _check_read(self, client: ClientState, server: str, name: str | None = None) -> None:
        if self.access is not None and client.principal is not None:
            if name is None:
                if not self.access.check_server(client.principal, server, Permission.READ):
                    self.access.require(client.principal, server, None, Permission.READ)
            else:
                self.access.require(client.principal, server, name, Permission.READ)

    async def _forward_resource(
        self, method: str, params: dict[str, Any], view: View, client: ClientState
    ) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise _RpcError(INVALID_PARAMS, f"{method} needs a string `uri`")
        try:
            route = await view.route_resource(uri)
        except KeyError:
            raise _RpcError(-32002, f"Resource not found: {uri}", {"uri": uri}) from None
        self._check_read(client, route.server)
        result = await self.upstream.request(
            route.server, method, self._upstream_params(params, uri=route.name)
        )
        if method == "resources/read" and route.name != uri:
            for item in result.get("contents") or []:
                if item.get("uri") == route.name:
                    item["uri"] = uri
        return result

    async def _forward_named(
        self, kind: str, method: str, params: dict[str, Any], view: View, client: ClientState
    ) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            raise _RpcError(INVALID_PARAMS, f"{method} needs a string `name`")
        try:
            route = view.route(method, name)
        except KeyError:
            raise _RpcError(INVALID_PARAMS, f"Unknown prompt: {name}") from None
        self._check_read(client, route.server, route.name)
        return await self.upstream.request(
            route.server, method, self._upstream_params(params, name=route.name)
        )

    async def _complete(self, params: dict[str, Any], view: View, client: ClientState) -> dict[str, Any]:
        ref = params.get("ref") or {}
        try:
            if ref.get("type") == "ref/prompt":
                route = view.route("prompts/get", str(ref.get("name")))
                ref = {**ref, "name": route.name}
            else:
                route = await view.route_resource(str(ref.get("uri")))
                ref = {**ref, "uri": route.name}
        except KeyError:
            raise _RpcError(INVALID_PARAMS, f"Unknown completion reference: {ref}") from None
        self._check_read(client, route.server)
        return await self.upstream.request(
            route.server, "completion/complete", self._upstream_params(params, ref=ref)
        )


def _with_request_id(data: Any, rid: str) -> Any:
    """Error data with our request id added where that keeps its shape (an object, or none)."""
    if data is None:
        return {"requestId": rid}
    if isinstance(data, dict):
        return {**data, "requestId": rid}
    return data


def _tool_error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


class _InputFailed(Exception):
    """A session client could not answer an upstream's input request."""


class _RpcError(Exception):
    error_type = "invalid_request"  # how metrics and traces name it

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
