"""``/ui/servers/{name}``: one server's tools, prompts, resources, instances and stderr, and the
operator's actions on it (each confirmed in the browser, each an admin's only).

The actions call what the admin API calls: the manager's start, stop, restart, drain, scale and
rolling update, and :func:`~mcpfleet.operations.set_maintenance`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mcpfleet.exceptions import FleetError, RolloutError
from mcpfleet.operations import set_maintenance
from mcpfleet.rollout import RolloutEvent, UpdateRequest
from mcpfleet.ui.fleet import describe, fleet_rows, instance_rows
from mcpfleet.ui.guard import Visitor, form_of
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]

DRAIN_TIMEOUT = 10.0  # seconds an action waits for calls in flight before it answers


class RolloutLog:
    """A rolling update started from the dashboard: its steps so far, then how it ended."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.started = time.time()
        self.events: list[dict[str, Any]] = []
        self.outcome: str | None = None  # None while it runs

    def record(self, event: RolloutEvent) -> None:
        self.events.append(asdict(event))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "started": self.started,
            "events": self.events,
            "outcome": self.outcome,
        }


def routes(kit: Kit) -> list[Route]:
    manager, guard, context = kit.context.manager, kit.guard, kit.context
    rollouts: dict[str, RolloutLog] = {}

    def known(name: str) -> bool:
        return name in manager.config.servers

    def snapshot(name: str) -> dict[str, Any]:
        row = next((r for r in fleet_rows(context, kit.samples) if r["server"] == name), {})
        log = rollouts.get(name)
        return {
            "server": row,
            "mode": manager.maintenance_mode(name),
            "instances": instance_rows(context, name),
            "rollout": log.to_dict() if log is not None else None,
        }

    async def server_page(request: Request, visitor: Visitor) -> Response:
        name = request.path_params["name"]
        if not known(name):
            return kit.pages.render(
                request, visitor, "missing.html", status=404, title="No such server", page="overview",
                what=f"No server {name!r} in this fleet.",
            )  # fmt: skip
        return kit.pages.render(
            request, visitor, "server.html", title=name, page="overview", name=name,
            spec=manager.spec(name), live=snapshot(name), lists=await describe(context, name),
            separator=context.separator,
        )  # fmt: skip

    async def server_json(request: Request, visitor: Visitor) -> Response:
        name = request.path_params["name"]
        if not known(name):
            return JSONResponse({"error": f"No server {name!r} in this fleet"}, status_code=404)
        return JSONResponse(snapshot(name))

    def start_update(name: str, version: str) -> str:
        asked = UpdateRequest(version=version)
        log = rollouts[name] = RolloutLog(version)
        task = kit.rollouts.start(name, asked, progress=log.record)

        def finished(_: object) -> None:
            if task.cancelled():
                log.outcome = "cancelled"
            elif isinstance(exc := task.exception(), RolloutError | FleetError):
                log.outcome = f"failed: {exc}"
            elif exc is not None:
                log.outcome = f"failed unexpectedly: {exc!r}"
            else:
                log.outcome = f"done: {name} runs {task.result().version}"

        task.add_done_callback(finished)
        return f"Rolling update of {name} to {version} started; its progress shows below."

    async def act(name: str, action: str, fields: dict[str, str]) -> str:
        simple: dict[str, tuple[Callable[[str], Awaitable[Any]], str]] = {
            "start": (manager.start_server, "started"),
            "stop": (manager.stop_server, "stopped"),
            "restart": (manager.restart_server, "restarted"),
        }
        if action in simple:
            call, done = simple[action]
            await call(name)
            return f"{name} {done}."
        if action == "drain":
            left = await manager.drain_connections(name, timeout=DRAIN_TIMEOUT)
            return f"{name} is draining: it takes no new calls ({left} still in flight)."
        if action in ("undrain", "maintenance_off"):
            await set_maintenance(manager, name, False)
            return f"{name} takes calls again."
        if action == "maintenance_on":
            left = await set_maintenance(manager, name, True, DRAIN_TIMEOUT)
            return f"{name} is in maintenance ({left} call(s) were still in flight)."
        if action == "scale":
            count = fields.get("count", "")
            if not count.isdigit() or int(count) > 64:
                raise ValueError("give the number of instances, 0 to 64")
            now = await manager.scale_server(name, int(count))
            return f"{name} runs {now} instance(s)."
        if action == "update":
            version = fields.get("version", "").strip()
            if not version:
                raise ValueError("give the version to update to")
            return start_update(name, version)
        raise ValueError(f"unknown action {action!r}")

    async def action(request: Request, visitor: Visitor) -> Response:
        name, verb = request.path_params["name"], request.path_params["action"]
        fields = await form_of(request)
        if not known(name):
            return JSONResponse({"error": f"No server {name!r} in this fleet"}, status_code=404)
        try:
            message, key = await act(name, verb, fields), "notice"
        except (FleetError, ValueError, ValidationError) as exc:
            message, key = f"{verb} failed: {exc}", "problem"
        if "json" in request.headers.get("accept", ""):
            return JSONResponse({key: message}, status_code=200 if key == "notice" else 400)
        return RedirectResponse(f"/ui/servers/{quote(name)}?{key}={quote(message)}", status_code=303)

    return [
        Route("/ui/servers/{name}", guard.wrap(server_page)),
        Route("/ui/api/servers/{name}", guard.wrap(server_json)),
        Route("/ui/servers/{name}/{action}", guard.wrap(action, "act"), methods=["POST"]),
    ]
