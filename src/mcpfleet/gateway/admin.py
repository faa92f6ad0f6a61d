"""The admin REST API (JSON) that ``mcpfleet status``, ``tools`` and ``call`` use when a gateway runs.

GET  /api/v1/status                         every server (its state, last error, restarts, next
                                            try) and its instances
GET  /api/v1/tools[?server=NAME]            tools, per server
POST /api/v1/servers/{name}/tools/{tool}    call a tool; body: the arguments object
POST /api/v1/servers/{name}/drain           {"timeout": 30}: no new calls; wait for those in flight
POST /api/v1/servers/{name}/maintenance     {"enabled": true, "drain_timeout": 30} (drains first)
POST /api/v1/servers/{name}/update          {"version": "2.0"} or {"spec": {...}}: rolling update;
                                            streams NDJSON: {"event": ...} lines, then {"result": ...}
                                            (or {"error": ..., "result": ...})
POST /api/v1/servers/{name}/{action}        start | stop | restart
GET  /api/v1/approvals                      servers agents asked for, waiting for an operator
POST /api/v1/approvals/{id}                 {"approve": true|false}
GET  /api/v1/health                         a fresh probe of every server and instance
GET  /api/v1/openapi.json                   this API described
GET  /healthz                               the gateway process is up (liveness)
GET  /readyz                                the servers ``gateway.readiness`` names are ready:
                                            all (default), any, or a list; the body says which
                                            are not and why
GET  /metrics                               Prometheus text format
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mcpfleet import __version__
from mcpfleet.exceptions import (
    FleetError,
    PermissionDeniedError,
    RateLimitedError,
    RolloutError,
    ToolCallError,
    UnknownServerError,
)
from mcpfleet.gateway.http import PRINCIPAL
from mcpfleet.metrics import CONTENT_TYPE
from mcpfleet.operations import Rollouts, set_maintenance
from mcpfleet.rollout import RolloutEvent, UpdateRequest
from mcpfleet.runtime.state import ServerState, StateSnapshot
from mcpfleet.security.metadata import metadata_routes

if TYPE_CHECKING:
    from mcpfleet.gateway.ondemand import OnDemand
    from mcpfleet.gateway.sessions import SessionStore
    from mcpfleet.gateway.views import ListCache
    from mcpfleet.manager import MCPManager
    from mcpfleet.metrics import MetricsCollector
    from mcpfleet.monitoring import HealthMonitor
    from mcpfleet.security.config import AuthConfig

__all__ = ["AdminContext", "admin_app"]

CallTool = Callable[..., Awaitable[dict[str, Any]]]  # (server, tool, arguments, *, principal, address)


@dataclass(frozen=True)
class AdminContext:
    """What the admin API reads of the gateway, and nothing more."""

    manager: MCPManager
    sessions: SessionStore
    lists: ListCache  # the gateway's list cache: tool names, to suggest close ones
    call_tool: CallTool  # a tool call through the gateway's middlewares (audit, access, metrics)
    on_demand: OnDemand
    metrics: MetricsCollector
    monitor: HealthMonitor
    auth: AuthConfig


log = logging.getLogger("mcpfleet.gateway")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _fleet_error(exc: FleetError) -> JSONResponse:
    if isinstance(exc, UnknownServerError):
        return _error(404, str(exc), suggestions=exc.suggestions)
    if isinstance(exc, ToolCallError):
        return _error(502, str(exc), code=exc.code, data=exc.data)
    if isinstance(exc, PermissionDeniedError):
        return _error(403, str(exc))
    if isinstance(exc, RateLimitedError):
        response = _error(429, str(exc), **exc.rpc_data())
        response.headers.update(exc.http_headers())
        return response
    return _error(503, str(exc))


def _why_not_ready(row: dict[str, Any]) -> str:
    """``gave up: ...``, ``backing off (next try in 8s): ...``, or ``disabled``, for /readyz."""
    if not row["enabled"]:
        return "disabled in the fleet file"
    state = StateSnapshot.from_dict(row)
    if state.state is ServerState.READY:  # ready by its state, yet no instance takes calls
        return "no instance is ready"
    return state.summary()


def _schema(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mcpfleet admin API", "version": __version__},
    "paths": {
        "/api/v1/status": {
            "get": {"summary": "Every server and its instances", "responses": {"200": _schema("Status")}}
        },
        "/api/v1/tools": {
            "get": {
                "summary": "Tools of running servers",
                "parameters": [
                    {"name": "server", "in": "query", "required": False, "schema": {"type": "string"}}
                ],
                "responses": {"200": _schema("Tools"), "404": _schema("Error")},
            }
        },
        "/api/v1/servers/{name}/tools/{tool}": {
            "post": {
                "summary": "Call a tool",
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in ("name", "tool")
                ],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": _schema("CallToolResult"),
                    "400": _schema("Error"),
                    "404": _schema("Error"),
                    "502": _schema("Error"),
                    "503": _schema("Error"),
                },
            }
        },
        "/api/v1/servers/{name}/drain": {
            "post": {
                "summary": "Stop new calls to a server and wait for those in flight",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"timeout": {"type": "number"}}}
                        }
                    }
                },
                "responses": {"200": _schema("Drained"), "404": _schema("Error")},
            }
        },
        "/api/v1/servers/{name}/maintenance": {
            "post": {
                "summary": "Enter (after draining) or leave (after a health check) maintenance mode",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["enabled"],
                                "properties": {
                                    "enabled": {"type": "boolean"},
                                    "drain_timeout": {"type": "number"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": _schema("Drained"),
                    "400": _schema("Error"),
                    "404": _schema("Error"),
                    "503": _schema("Error"),
                },
            }
        },
        "/api/v1/servers/{name}/update": {
            "post": {
                "summary": "Rolling update to another version; streams progress as NDJSON, then the result",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "content": {"application/json": {"schema": UpdateRequest.model_json_schema()}}
                },
                "responses": {
                    "200": {"content": {"application/x-ndjson": {"schema": {"type": "object"}}}},
                    "400": _schema("Error"),
                    "404": _schema("Error"),
                },
            }
        },
        "/api/v1/servers/{name}/{action}": {
            "post": {
                "summary": "Start, stop or restart a server",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["start", "stop", "restart"]},
                    },
                ],
                "responses": {"200": _schema("Status"), "404": _schema("Error"), "503": _schema("Error")},
            }
        },
        "/api/v1/approvals": {
            "get": {
                "summary": "Servers agents asked to add, waiting for approval",
                "responses": {"200": _schema("Approvals")},
            }
        },
        "/api/v1/approvals/{id}": {
            "post": {
                "summary": "Approve or decline an agent's request to add a server",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["approve"],
                                "properties": {"approve": {"type": "boolean"}},
                            }
                        }
                    }
                },
                "responses": {"200": _schema("Approvals"), "400": _schema("Error"), "404": _schema("Error")},
            }
        },
        "/api/v1/health": {
            "get": {"summary": "Probe every server and instance now", "responses": {"200": _schema("Health")}}
        },
        "/healthz": {
            "get": {"summary": "The gateway process is up", "responses": {"200": {"description": "ok"}}}
        },
        "/readyz": {
            "get": {
                "summary": "The servers gateway.readiness names (all, any, or a list) have a ready instance",
                "responses": {"200": _schema("Ready"), "503": _schema("Ready")},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Status": {
                "type": "object",
                "properties": {"servers": {"type": "array", "items": {"type": "object"}}},
            },
            "Tools": {
                "type": "object",
                "properties": {"tools": {"type": "array", "items": {"type": "object"}}},
            },
            "Approvals": {
                "type": "object",
                "properties": {"approvals": {"type": "array", "items": {"type": "object"}}},
            },
            "Health": {"type": "object", "properties": {"servers": {"type": "object"}}},
            "Ready": {
                "type": "object",
                "properties": {
                    "ready": {"type": "boolean"},
                    "readiness": {
                        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                    },
                    "not_ready": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "Drained": {
                "type": "object",
                "properties": {"mode": {"type": ["string", "null"]}, "in_flight": {"type": "integer"}},
            },
            "CallToolResult": {
                "type": "object",
                "properties": {"content": {"type": "array"}, "isError": {"type": "boolean"}},
            },
        }
    },
}


def admin_app(gateway: AdminContext) -> Starlette:
    manager = gateway.manager

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "servers": json.loads(json.dumps(manager.status(), default=str)),
                "gateway": {"sessions": len(gateway.sessions)},
            }
        )

    async def tools(request: Request) -> Response:
        server = request.query_params.get("server")
        try:
            found = await manager.list_tools(server)
        except FleetError as exc:
            return _fleet_error(exc)
        return JSONResponse({"tools": [{"server": t.server, **t.tool} for t in found]})

    async def _tool_names(server: str) -> frozenset[str] | None:
        """The server's tool names (from the gateway's list cache), or None if it cannot list now."""
        try:
            await gateway.lists.items(server, "tools/list")
        except FleetError:
            return None  # not running or not answering: the call itself will say why
        return gateway.lists.tool_names(server)

    async def call(request: Request) -> Response:
        try:
            arguments = await request.json() if await request.body() else {}
        except ValueError:
            return _error(400, "the body must be a JSON object of tool arguments")
        if not isinstance(arguments, dict):
            return _error(400, "the body must be a JSON object of tool arguments")
        try:
            server, tool = request.path_params["name"], request.path_params["tool"]
            manager.spec(server)  # an unknown server is refused here, with a suggestion
            known = await _tool_names(server)
            if known is not None and tool not in known:
                close = difflib.get_close_matches(tool, sorted(known), n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                return _error(404, f"{server} has no tool {tool!r}.{hint}", suggestions=close)
            principal = request.scope.get(PRINCIPAL)
            peer = request.client
            address = f"{peer.host}:{peer.port}" if peer else None
            result = await gateway.call_tool(server, tool, arguments, principal=principal, address=address)
        except FleetError as exc:
            return _fleet_error(exc)
        return JSONResponse(result)

    async def action(request: Request) -> Response:
        name, verb = request.path_params["name"], request.path_params["action"]
        handlers: dict[str, Callable[[str], Awaitable[Any]]] = {
            "start": manager.start_server,
            "stop": manager.stop_server,
            "restart": manager.restart_server,
        }
        if verb not in handlers:
            return _error(404, f"unknown action {verb!r}; use start, stop or restart")
        try:
            await handlers[verb](name)
        except FleetError as exc:
            return _fleet_error(exc)
        return await status(request)

    async def _body(request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def drain(request: Request) -> Response:
        name = request.path_params["name"]
        body = await _body(request)
        timeout = body.get("timeout", 30.0) if body is not None else None
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0:
            return _error(400, 'the body must be {"timeout": seconds}, seconds >= 0')
        try:
            left = await manager.drain_connections(name, timeout=float(timeout))
        except FleetError as exc:
            return _fleet_error(exc)
        return JSONResponse({"mode": manager.maintenance_mode(name), "in_flight": left})

    async def maintenance(request: Request) -> Response:
        name = request.path_params["name"]
        body = await _body(request)
        enabled = body.get("enabled") if body is not None else None
        drain_timeout = body.get("drain_timeout", 30.0) if body is not None else None
        if not isinstance(enabled, bool) or not isinstance(drain_timeout, int | float):
            return _error(400, 'the body must be {"enabled": true|false, "drain_timeout": seconds}')
        try:
            left = await set_maintenance(manager, name, enabled, float(drain_timeout))
        except FleetError as exc:
            return _fleet_error(exc)
        return JSONResponse({"mode": manager.maintenance_mode(name), "in_flight": left})

    rollouts = Rollouts(manager)

    async def update(request: Request) -> Response:
        name = request.path_params["name"]
        body = await _body(request)
        try:
            asked = UpdateRequest.model_validate(body)
            manager.spec(name)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            return _error(400, f'the body must be {{"version": "..."}} or {{"spec": {{...}}}}: {problems}')
        except FleetError as exc:
            return _fleet_error(exc)
        events: asyncio.Queue[RolloutEvent | None] = asyncio.Queue()
        task = rollouts.start(name, asked, progress=events.put_nowait)
        task.add_done_callback(lambda _: events.put_nowait(None))

        async def lines() -> AsyncIterator[str]:
            while (event := await events.get()) is not None:
                yield json.dumps({"event": asdict(event)}) + "\n"
            try:
                result = task.result()
            except RolloutError as exc:
                done = exc.result.to_dict() if exc.result is not None else None
                yield json.dumps({"error": str(exc), "result": done}) + "\n"
            except FleetError as exc:
                yield json.dumps({"error": str(exc)}) + "\n"
            except Exception as exc:  # a bug: the client still hears that it ended, and how
                log.exception("rolling update of %s failed", name)
                yield json.dumps({"error": f"the update of {name} failed unexpectedly: {exc!r}"}) + "\n"
            else:
                yield json.dumps({"result": result.to_dict()}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def approvals(request: Request) -> Response:
        return JSONResponse({"approvals": [a.to_dict() for a in gateway.on_demand.pending.values()]})

    async def decide(request: Request) -> Response:
        body = await _body(request)
        approve = body.get("approve") if body is not None else None
        if not isinstance(approve, bool):
            return _error(400, 'the body must be {"approve": true|false}')
        try:
            decided = gateway.on_demand.decide(request.path_params["id"], approve)
        except FleetError as exc:
            return _fleet_error(exc)
        return JSONResponse({"approvals": [{**decided.to_dict(), "approved": approve}]})

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        rule = manager.config.gateway.readiness
        rows = {row["server"]: row for row in manager.status()}
        if isinstance(rule, list):
            considered = [name for name in rule if name in rows]
        else:  # all, any: the servers meant to run
            considered = [n for n, r in rows.items() if r["enabled"] and manager.runs_instances(n)]
        not_ready = {
            name: _why_not_ready(rows[name])
            for name in considered
            if not any(i["state"] == "ready" for i in rows[name]["instances"])
        }
        # any: one ready is enough (or nothing to wait for); all, or a list: every one of them
        ready = (not considered or len(not_ready) < len(considered)) if rule == "any" else not not_ready
        return JSONResponse(
            {"ready": ready, "readiness": rule, "not_ready": not_ready}, status_code=200 if ready else 503
        )

    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE)

    async def health(request: Request) -> Response:
        return JSONResponse({"servers": await gateway.monitor.check_all()})

    return Starlette(
        routes=[
            Route("/api/v1/status", status),
            Route("/api/v1/tools", tools),
            Route("/api/v1/servers/{name}/tools/{tool}", call, methods=["POST"]),
            Route("/api/v1/servers/{name}/drain", drain, methods=["POST"]),
            Route("/api/v1/servers/{name}/maintenance", maintenance, methods=["POST"]),
            Route("/api/v1/servers/{name}/update", update, methods=["POST"]),
            Route("/api/v1/servers/{name}/{action}", action, methods=["POST"]),
            Route("/api/v1/approvals", approvals),
            Route("/api/v1/approvals/{id}", decide, methods=["POST"]),
            Route("/api/v1/openapi.json", openapi),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/api/v1/health", health),
            *(metadata_routes(gateway.auth) if gateway.auth.accepts_jwt else []),
        ]
    )
