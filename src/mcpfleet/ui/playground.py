"""``/ui/playground``: call any tool as the logged-in principal, from a form built from its schema.

The call goes through the engine's pipeline (``context.call_tool``), as an MCP client's does:
access rules, rate limits, the audit log and metrics all apply. The tools offered are those the
principal may list.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcpfleet.exceptions import FleetError
from mcpfleet.ui.forms import arguments_from, form_fields
from mcpfleet.ui.guard import Visitor, form_of
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]


def routes(kit: Kit) -> list[Route]:
    context = kit.context
    sep = context.separator

    async def catalogue(visitor: Visitor) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        """The tools the visitor may list, by server; and why a server could not list."""
        found: dict[str, list[dict[str, Any]]] = {}
        problems: dict[str, str] = {}
        for server in context.manager.running_servers():
            try:
                tools = await context.lists.items(server, "tools/list")
            except FleetError as exc:
                problems[server] = str(exc)
                continue
            if context.access is not None:
                allowed = set(
                    context.access.visible_tools(visitor.principal, server, [t["name"] for t in tools])
                )
                tools = [t for t in tools if t["name"] in allowed]
            found[server] = tools
        return found, problems

    def chosen(tools: dict[str, list[dict[str, Any]]], name: str | None) -> tuple[str, dict[str, Any]] | None:
        server, _, tool = (name or "").partition(sep)
        match = next((t for t in tools.get(server, []) if t["name"] == tool), None)
        return (server, match) if match is not None else None

    async def playground(request: Request, visitor: Visitor) -> Response:
        tools, problems = await catalogue(visitor)
        picked = chosen(tools, request.query_params.get("tool"))
        return kit.pages.render(
            request, visitor, "playground.html", title="Playground", page="playground", tools=tools,
            problems=problems, sep=sep, picked=picked,
            fields=form_fields(picked[1].get("inputSchema")) if picked else [],
        )  # fmt: skip

    async def outcome(request: Request, visitor: Visitor) -> tuple[int, dict[str, Any]]:
        """(HTTP status, what happened) of the call the submitted form asks for."""
        fields = await form_of(request)
        tools, _ = await catalogue(visitor)
        picked = chosen(tools, fields.get("tool"))
        if picked is None:
            return 404, {"error": f"No tool {fields.get('tool')!r} you may use here"}
        server, tool = picked
        arguments, problems = arguments_from(tool.get("inputSchema"), fields)
        if problems:
            return 400, {"error": "Some fields need attention", "problems": problems}
        peer = request.client
        started = time.perf_counter()
        try:
            result = await context.call_tool(
                server, tool["name"], arguments, principal=visitor.principal,
                address=f"{peer.host}:{peer.port}" if peer else None,
            )  # fmt: skip
        except FleetError as exc:
            ms = round((time.perf_counter() - started) * 1000, 1)
            return 200, {"error": str(exc), "ms": ms, "arguments": arguments}
        ms = round((time.perf_counter() - started) * 1000, 1)
        return 200, {
            "result": result,
            "is_error": bool(result.get("isError")),
            "ms": ms,
            "arguments": arguments,
        }

    async def call(request: Request, visitor: Visitor) -> Response:
        status, done = await outcome(request, visitor)
        if "json" in request.headers.get("accept", ""):
            return JSONResponse(done, status_code=status)
        # Without our script (a plain form post): the page again, the outcome under the form.
        fields = await form_of(request)
        tools, problems = await catalogue(visitor)
        picked = chosen(tools, fields.get("tool"))
        return kit.pages.render(
            request, visitor, "playground.html", status=status, title="Playground", page="playground",
            tools=tools, problems=problems, sep=sep, picked=picked, outcome=done,
            fields=form_fields(picked[1].get("inputSchema")) if picked else [],
        )  # fmt: skip

    return [
        Route("/ui/playground", kit.guard.wrap(playground)),
        Route("/ui/playground", kit.guard.wrap(call, "call"), methods=["POST"]),
    ]
