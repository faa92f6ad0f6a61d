"""The gateway's MCP server side: one JSON-RPC message in, one reply out, for a view of the fleet.

Transport-neutral: the HTTP endpoint and the stdio front both feed messages here. Results from
upstream servers pass through as they are (only names are mapped), so the hot path builds no
models. Replies to 2026-07-28 (stateless) clients carry that revision's required result fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from mcpfleet.exceptions import (
    FleetError,
    PermissionDeniedError,
    RateLimitedError,
    ServerUnavailableError,
    ToolCallError,
    public_message,
)
from mcpfleet.gateway.arguments import argument_problems
from mcpfleet.gateway.context import CallChannel, ClientState, Emit, ListRequest, ReadRequest, ToolCall
from mcpfleet.gateway.forward import Forwarder, upstream_params
from mcpfleet.gateway.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LOG_LEVELS,
    META_PREFIX,
    METHOD_NOT_FOUND,
    MODERN,
    REMOVED_IN_MODERN,
    SERVER_UNAVAILABLE,
    SUPPORTED_SESSION_VERSIONS,
    RpcError,
    error_reply,
    tool_error,
    with_request_id,
)
from mcpfleet.gateway.middleware import Middleware, build
from mcpfleet.gateway.subscriptions import Send, Subscriptions
from mcpfleet.gateway.views import KINDS, Allow, Upstream, View
from mcpfleet.logs import new_request_id, request_id
from mcpfleet.percaller import acting_for, current_caller

if TYPE_CHECKING:
    from mcpfleet.metrics import MetricsCollector
    from mcpfleet.security import Principal
    from mcpfleet.tracing import Tracing

__all__ = ["CANCELLED_BY_CLIENT", "Engine"]

_CLIENT_CAPABILITIES = META_PREFIX + "clientCapabilities"
CANCELLED_BY_CLIENT = "cancelled by its client (notifications/cancelled)"  # the CancelledError's message

log = logging.getLogger("mcpfleet.gateway")


class Engine:
    """Answers MCP requests for views of the fleet."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        name: str = "mcpfleet",
        version: str = "0",
        instructions: str = "",
        middlewares: Sequence[Middleware] = (),
        tracing: Tracing | None = None,
        metrics: MetricsCollector | None = None,
        tool_info: Callable[[str, str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.server_info = {"name": name, "version": version}
        self.instructions = instructions
        self.forwarder = Forwarder(upstream, tracing)
        self.subscriptions = Subscriptions()
        self._watched: dict[str, list[tuple[str, str]]] = {}  # listen stream -> (server, uri) it watches
        self.metrics = metrics  # counts calls refused before they have a route
        self.tool_info = tool_info  # (server, tool) -> its tools/list entry, when known
        self.tracing = tracing  # spans for requests, middlewares, hops
        self.middlewares = list(middlewares)
        self.pipeline = build(
            self.middlewares,
            call_tool=self._last_step,
            list_items=self._list_step,
            read=self._read_step,
            wrap=tracing.wrap_middleware if tracing is not None else None,
        )

    # ------------------------------------------------------------------ entry point

    async def handle(
        self,
        message: dict[str, Any],
        view: View,
        client: ClientState,
        emit: Emit | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Reply to one message; ``None`` for notifications and responses.

        ``emit`` takes messages about this request (progress, log messages, the upstream's own
        requests) while it runs; ``headers`` are the request's, for those the upstream must see.
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
        if client.stateless:
            meta = params.get("_meta")
            capabilities = meta.get(_CLIENT_CAPABILITIES) if isinstance(meta, dict) else None
            if isinstance(capabilities, dict):
                client.capabilities = capabilities
        rid = new_request_id()
        request_id.set(rid)  # this task's own context: its log records carry the id
        current_caller.set(client.principal.name if client.principal is not None else None)
        task = asyncio.current_task()
        if task is not None:
            client.in_flight[msg_id] = task
        channel = CallChannel(client, emit, headers)
        try:
            if self.tracing is None:
                return await self._reply(msg_id, rid, method, params, view, client, channel)
            with self.tracing.request_span(method, params, client, msg_id, rid) as span:
                reply = await self._reply(msg_id, rid, method, params, view, client, channel)
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
        channel: CallChannel,
    ) -> dict[str, Any]:
        try:
            if method == "tools/call":
                result = await self._call_tool(params, view, client, channel)
            else:  # (a stateless client's method of the session protocol is refused there)
                result = await self._dispatch(method, params, view, client, channel)
        except RpcError as exc:
            return error_reply(msg_id, exc.code, exc.message, with_request_id(exc.data, rid))
        except ToolCallError as exc:  # the upstream's own error, as it said it
            return error_reply(msg_id, exc.code, exc.error_message, with_request_id(exc.data, rid))
        except RateLimitedError as exc:
            return error_reply(msg_id, exc.code, str(exc), {**exc.rpc_data(), "requestId": rid})
        except PermissionDeniedError as exc:
            return error_reply(msg_id, exc.code, str(exc), {"requestId": rid})
        except ServerUnavailableError as exc:  # down, not empty: say so, and why
            log.warning("%s failed: %s", method, exc)
            data = {"server": exc.server, "state": "unavailable", "requestId": rid}
            return error_reply(msg_id, SERVER_UNAVAILABLE, public_message(exc), data)
        except FleetError as exc:
            log.warning("%s failed: %s", method, exc)  # in full, for operators (stderr included)
            return error_reply(msg_id, INTERNAL_ERROR, public_message(exc), {"requestId": rid})
        if client.stateless:
            result.setdefault("resultType", "complete")
            if method == "resources/read":  # required of 2026-07-28 results; a session upstream has none
                result.setdefault("ttlMs", 0)
                result.setdefault("cacheScope", "private")
        return {"jsonrpc": "2.0", "id": msg_id, "result": result}

    def _notification(self, method: str, params: dict[str, Any], client: ClientState) -> None:
        if method == "notifications/initialized":
            client.initialized = True
        elif method == "notifications/cancelled":
            task = client.in_flight.get(params.get("requestId"))
            if task is not None:
                task.cancel(CANCELLED_BY_CLIENT)

    # ------------------------------------------------------------------ methods

    async def _dispatch(
        self, method: str, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        if client.stateless and method in REMOVED_IN_MODERN:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method} (removed in {MODERN})")
        if method in KINDS:
            rid = request_id.get() or ""
            listed = ListRequest(method, client, rid, client.principal, view=view)
            return await self.pipeline.list(listed)
        if method == "ping":
            return {}
        if method == "initialize":
            return self.initialize(params, client, view)
        if method == "server/discover":
            return self.discover(view)
        if method in {"resources/read", "resources/subscribe", "resources/unsubscribe"}:
            return await self._forward_resource(method, params, view, client, channel)
        if method == "prompts/get":
            return await self._forward_prompt(params, view, client, channel)
        if method == "completion/complete":
            return await self._complete(params, view, client, channel)
        if method == "logging/setLevel":
            level = params.get("level")
            if level not in LOG_LEVELS:
                raise RpcError(INVALID_PARAMS, f"level must be one of {', '.join(LOG_LEVELS)}")
            client.log_level = level
            return {}
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    def initialize(self, params: dict[str, Any], client: ClientState, view: View) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        version = asked if asked in SUPPORTED_SESSION_VERSIONS else SUPPORTED_SESSION_VERSIONS[0]
        client.protocol_version = str(version)
        client.client_info = dict(params.get("clientInfo") or {})
        client.capabilities = dict(params.get("capabilities") or {})
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": view.capabilities(),
            "serverInfo": self.server_info,
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def discover(self, view: View) -> dict[str, Any]:
        result: dict[str, Any] = {
            "supportedVersions": [MODERN],
            "capabilities": view.capabilities(),
            "cacheScope": "private",
            "ttlMs": 0,
            "_meta": {META_PREFIX + "serverInfo": self.server_info},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    async def _call_tool(
        self, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            raise self._refused("Invalid params: tools/call needs a string `name`")
        if not isinstance(params.get("arguments", {}), dict):
            raise self._refused("Invalid params: tools/call `arguments` must be an object")
        rid = request_id.get() or ""
        emit = channel.emit
        local = getattr(view, "local", None)
        if local is not None and local.handles(name):  # fleet__find_servers, fleet__add_server
            server, _, tool = name.partition(view.separator)
            call = ToolCall(server, tool, params, client, rid, emit, local=local, principal=client.principal)
        else:
            try:
                route = view.route("tools/call", name)
            except KeyError:
                raise self._refused(f"Unknown tool: {name}") from None
            call = ToolCall(
                route.server,
                route.name,
                upstream_params(params, name=route.name),
                client,
                rid,
                emit,
                principal=client.principal,
                channel=channel,
            )
        return await self.pipeline.call_tool(call)

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        principal: Principal | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        """A tool call from the admin API, through the same middlewares as an MCP client's.

        Unlike an MCP client's, a call that cannot reach the server raises its FleetError.
        """
        client = ClientState("admin", stateless=True, principal=principal, address=address)
        rid = request_id.get() or new_request_id()
        params = {"name": tool, "arguments": arguments}
        with acting_for(principal.name if principal is not None else None):
            return await self.pipeline.call_tool(
                ToolCall(server, tool, params, client, rid, principal=principal, via="admin")
            )

    async def _last_step(self, call: ToolCall) -> dict[str, Any]:
        if call.local is not None:
            return cast(dict[str, Any], await call.local.call(call.params["name"], call.arguments))
        tool = self.tool_info(call.server, call.tool) if self.tool_info is not None else None
        if tool is not None and not call.params.get("requestState"):
            problems = argument_problems(tool.get("inputSchema"), call.arguments)
            if problems:  # never sent: the model reads what to change
                return tool_error(f"Invalid arguments for {call.tool}: {'; '.join(problems)}")
        try:
            return await self.forwarder.forward(
                call.server, "tools/call", call.params, call.client, call.channel, tool=call.tool
            )
        except ToolCallError:
            raise
        except FleetError as exc:
            if call.via == "admin":
                raise
            # A dead or missing upstream is a tool error the model can read, not a protocol failure;
            # what the server printed goes to the operators' log only.
            log.warning("tools/call %s of %s failed: %s", call.tool, call.server, exc)
            return tool_error(f"{public_message(exc)} (request id {call.request_id})")

    def _refused(self, message: str) -> RpcError:
        """An invalid call: counted under labels no client can make up, then refused."""
        if self.metrics is not None:
            self.metrics.track_request("unknown", "unknown", 0.0, False, "invalid_request")
        return RpcError(INVALID_PARAMS, message)

    async def _list_step(self, request: ListRequest) -> dict[str, Any]:
        allows = request.allows
        allow: Allow | None = None
        if allows:

            def allow(server: str, method: str, item: dict[str, Any]) -> bool:
                return all(a(server, method, item) for a in allows)

        if request.view is None:
            raise RpcError(INVALID_REQUEST, f"{request.method} needs a view to list")
        items = await request.view.list(request.method, allow)
        result: dict[str, Any] = {KINDS[request.method][0]: items}
        if request.client.stateless:
            result.update(cacheScope="private", ttlMs=0)
        return result

    async def _read_step(self, request: ReadRequest) -> dict[str, Any]:
        """The last step of a read: to the server (subscriptions: once per resource)."""
        server, method, client = request.server, request.method, request.client
        if method in ("resources/subscribe", "resources/unsubscribe"):
            send = self._sender(client, request.channel)
            uri = str(request.params.get("uri"))
            if method == "resources/subscribe":
                public = request.public or uri
                return await self.subscriptions.subscribe(server, uri, public, client, send, request.params)
            return await self.subscriptions.unsubscribe(server, uri, client, send, request.params)
        return await self.forwarder.forward(server, method, request.params, client, request.channel)

    def _read(
        self,
        method: str,
        server: str,
        params: dict[str, Any],
        client: ClientState,
        channel: CallChannel | None,
        *,
        name: str | None = None,
        public: str | None = None,
    ) -> ReadRequest:
        rid = request_id.get() or ""
        return ReadRequest(method, server, name, params, client, rid, channel, client.principal, public)

    async def _forward_resource(
        self, method: str, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RpcError(INVALID_PARAMS, f"{method} needs a string `uri`")
        try:
            route = await view.route_resource(uri)
        except KeyError:
            raise RpcError(INVALID_PARAMS, f"Resource not found: {uri}", {"uri": uri}) from None
        sent = upstream_params(params, uri=route.name)
        result = await self.pipeline.read(self._read(method, route.server, sent, client, channel, public=uri))
        if method == "resources/read" and route.name != uri:
            for item in result.get("contents") or []:
                if item.get("uri") == route.name:
                    item["uri"] = uri
        return result

    def _sender(self, client: ClientState, channel: CallChannel | None) -> Send:
        async def send(server: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
            return await self.forwarder.forward(server, method, params, client, channel)

        return send

    async def watch(self, view: View, uris: list[str], watcher: ClientState) -> list[str]:
        """Subscribe ``watcher`` (a 2026-07-28 listen stream) to resources; those honored."""
        honored = []
        channel = CallChannel(watcher, None)
        for uri in uris:
            try:
                route = await view.route_resource(uri)
                sent = {"uri": route.name}
                subscribe = self._read(
                    "resources/subscribe", route.server, sent, watcher, channel, public=uri
                )
                await self.pipeline.read(subscribe)
            except (KeyError, FleetError, RpcError) as exc:
                log.info("subscriptions/listen: %s not subscribed: %s", uri, exc)
                continue
            honored.append(uri)
            self._watched.setdefault(watcher.id, []).append((route.server, route.name))
        return honored

    async def unwatch(self, watcher: ClientState) -> None:
        """End a listen stream's subscriptions."""
        watcher.closed = True
        send = self._sender(watcher, CallChannel(watcher, None))
        for server, uri in self._watched.pop(watcher.id, []):
            with contextlib.suppress(FleetError, RpcError):
                await self.subscriptions.unsubscribe(server, uri, watcher, send, {"uri": uri})

    async def _forward_prompt(
        self, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            raise RpcError(INVALID_PARAMS, "prompts/get needs a string `name`")
        try:
            route = view.route("prompts/get", name)
        except KeyError:
            raise RpcError(INVALID_PARAMS, f"Unknown prompt: {name}") from None
        sent = upstream_params(params, name=route.name)
        return await self.pipeline.read(
            self._read("prompts/get", route.server, sent, client, channel, name=route.name)
        )

    async def _complete(
        self, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        ref = params.get("ref")
        if not isinstance(ref, dict):
            raise RpcError(INVALID_PARAMS, "Invalid params: completion/complete needs a `ref` object")
        try:
            if ref.get("type") == "ref/prompt":
                route = view.route("prompts/get", str(ref.get("name")))
                ref = {**ref, "name": route.name}
            else:
                route = await view.route_resource(str(ref.get("uri")))
                ref = {**ref, "uri": route.name}
        except KeyError:
            raise RpcError(INVALID_PARAMS, f"Unknown completion reference: {ref}") from None
        sent = upstream_params(params, ref=ref)
        return await self.pipeline.read(
            self._read("completion/complete", route.server, sent, client, channel)
        )
