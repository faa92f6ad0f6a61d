"""The gateway's MCP server side: one JSON-RPC message in, one reply out, for a view of the fleet.

Transport-neutral: the HTTP endpoint and the stdio front both feed messages here. Results from
upstream servers pass through as they are (only names are mapped), so the hot path builds no
models. Replies to 2026-07-28 (stateless) clients carry that revision's required result fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from mcpfleet.exceptions import (
    FleetError,
    PermissionDeniedError,
    RateLimitedError,
    ServerUnavailableError,
    ToolCallError,
)
from mcpfleet.gateway.context import CallChannel, ClientState, Emit, ToolCall
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
    with_request_id,
)
from mcpfleet.gateway.middleware import CallNext, Middleware, chain
from mcpfleet.gateway.middleware.access import local_permission
from mcpfleet.gateway.subscriptions import Send, Subscriptions
from mcpfleet.gateway.views import KINDS, Allow, Upstream, View
from mcpfleet.logs import request_id
from mcpfleet.security import Permission

if TYPE_CHECKING:
    from mcpfleet.metrics import MetricsCollector
    from mcpfleet.security import AccessControl, Principal
    from mcpfleet.tracing import Tracing

__all__ = ["Engine"]

_CLIENT_CAPABILITIES = META_PREFIX + "clientCapabilities"

log = logging.getLogger("mcpfleet.gateway")


class Engine:
    """Answers MCP requests for views of the fleet."""

    def __init__(
        self, upstream: Upstream, *, name: str = "mcpfleet", version: str = "0", instructions: str = ""
    ) -> None:
        self.upstream = upstream
        self.server_info = {"name": name, "version": version}
        self.instructions = instructions
        self.forwarder = Forwarder(upstream)
        self.subscriptions = Subscriptions()
        self._watched: dict[str, list[tuple[str, str]]] = {}  # listen stream -> (server, uri) it watches
        self.metrics: MetricsCollector | None = None  # counts calls refused before they have a route
        self.tracing: Tracing | None = None  # set before use(): spans for requests, middlewares, hops
        self.access: AccessControl | None = None  # what each caller may list and read (calls: middleware)
        self.middlewares: list[Middleware] = []
        self._pipeline: CallNext = self._last_step

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
        rid = secrets.token_hex(6)
        request_id.set(rid)  # this task's own context: its log records carry the id
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
            return error_reply(
                msg_id,
                SERVER_UNAVAILABLE,
                str(exc),
                {"server": exc.server, "state": "unavailable", "requestId": rid},
            )
        except FleetError as exc:
            log.warning("%s failed: %s", method, exc)
            return error_reply(msg_id, INTERNAL_ERROR, str(exc), {"requestId": rid})
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
                task.cancel()

    # ------------------------------------------------------------------ methods

    async def _dispatch(
        self, method: str, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        if client.stateless and method in REMOVED_IN_MODERN:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method} (removed in {MODERN})")
        if method == "tools/call":
            return await self._call_tool(params, view, client, channel)
        if method in KINDS:
            allow = self._allow(client.principal) if self.access is not None else None
            return self._list_result(method, await view.list(method, allow), client)
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

    def _list_result(self, method: str, items: list[dict[str, Any]], client: ClientState) -> dict[str, Any]:
        result: dict[str, Any] = {KINDS[method][0]: items}
        if client.stateless:
            result.update(cacheScope="private", ttlMs=0)
        return result

    async def _call_tool(
        self, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            raise self._refused("tools/call needs a string `name`")
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
        return await self._pipeline(call)

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
        rid = request_id.get() or secrets.token_hex(6)
        params = {"name": tool, "arguments": arguments}
        return await self._pipeline(
            ToolCall(server, tool, params, client, rid, principal=principal, via="admin")
        )

    def use(self, middlewares: list[Middleware]) -> None:
        """Put ``middlewares`` on the tool-call path, outermost first."""
        self.middlewares = list(middlewares)
        self.forwarder.tracing = self.tracing
        wrap = self.tracing.wrap_middleware if self.tracing is not None else None
        self._pipeline = chain(self.middlewares, self._last_step, wrap)

    async def _last_step(self, call: ToolCall) -> dict[str, Any]:
        if call.local is not None:
            return cast(dict[str, Any], await call.local.call(call.params["name"], call.arguments))
        try:
            return await self.forwarder.forward(
                call.server, "tools/call", call.params, call.client, call.channel, tool=call.tool
            )
        except ToolCallError:
            raise
        except FleetError as exc:
            if call.via == "admin":
                raise
            # A dead or missing upstream is a tool error the model can read, not a protocol failure.
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}

    def _refused(self, message: str) -> RpcError:
        """An invalid call: counted under labels no client can make up, then refused."""
        if self.metrics is not None:
            self.metrics.track_request("unknown", "unknown", 0.0, False, "invalid_request")
        return RpcError(INVALID_PARAMS, message)

    def _allow(self, principal: Principal | None) -> Allow | None:
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
        self, method: str, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RpcError(INVALID_PARAMS, f"{method} needs a string `uri`")
        try:
            route = await view.route_resource(uri)
        except KeyError:
            raise RpcError(INVALID_PARAMS, f"Resource not found: {uri}", {"uri": uri}) from None
        self._check_read(client, route.server)
        sent = upstream_params(params, uri=route.name)
        if method != "resources/read":
            send = self._sender(client, channel)
            if method == "resources/subscribe":
                return await self.subscriptions.subscribe(route.server, route.name, uri, client, send, sent)
            return await self.subscriptions.unsubscribe(route.server, route.name, client, send, sent)
        result = await self.forwarder.forward(route.server, method, sent, client, channel)
        if method == "resources/read" and route.name != uri:
            for item in result.get("contents") or []:
                if item.get("uri") == route.name:
                    item["uri"] = uri
        return result

    def _sender(self, client: ClientState, channel: CallChannel) -> Send:
        async def send(server: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
            return await self.forwarder.forward(server, method, params, client, channel)

        return send

    async def watch(self, view: View, uris: list[str], watcher: ClientState) -> list[str]:
        """Subscribe ``watcher`` (a 2026-07-28 listen stream) to resources; those honored."""
        honored = []
        send = self._sender(watcher, CallChannel(watcher, None))
        for uri in uris:
            try:
                route = await view.route_resource(uri)
                self._check_read(watcher, route.server)
                sent = {"uri": route.name}
                await self.subscriptions.subscribe(route.server, route.name, uri, watcher, send, sent)
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
        self._check_read(client, route.server, route.name)
        return await self.forwarder.forward(
            route.server, "prompts/get", upstream_params(params, name=route.name), client, channel
        )

    async def _complete(
        self, params: dict[str, Any], view: View, client: ClientState, channel: CallChannel
    ) -> dict[str, Any]:
        ref = params.get("ref") or {}
        try:
            if ref.get("type") == "ref/prompt":
                route = view.route("prompts/get", str(ref.get("name")))
                ref = {**ref, "name": route.name}
            else:
                route = await view.route_resource(str(ref.get("uri")))
                ref = {**ref, "uri": route.name}
        except KeyError:
            raise RpcError(INVALID_PARAMS, f"Unknown completion reference: {ref}") from None
        self._check_read(client, route.server)
        return await self.forwarder.forward(
            route.server, "completion/complete", upstream_params(params, ref=ref), client, channel
        )
