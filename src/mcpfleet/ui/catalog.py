"""``/ui/catalog``: search the built-in catalog (and, when asked, the MCP registry); install a server
with its progress shown live (``/ui/api/installs``). As ``mcpfleet install NAME`` does, an install
adds a catalog server to the fleet and saves the fleet file; starting it stays the operator's call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mcpfleet.exceptions import FleetError
from mcpfleet.install import InstallStrategy
from mcpfleet.ui.guard import Visitor, form_of
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]

log = logging.getLogger("mcpfleet.ui")
KEEP_FINISHED = 20


def routes(kit: Kit) -> list[Route]:
    manager = kit.context.manager
    installs: dict[str, dict[str, Any]] = {}  # by name asked, newest last
    tasks: set[asyncio.Task[None]] = set()

    async def install(name: str) -> None:
        entry = installs[name]
        before = set(manager.config.servers)

        def progress(server: str, message: str, fraction: float | None) -> None:
            entry["steps"].append(message)
            entry["fraction"] = fraction if fraction is not None else entry["fraction"]

        try:
            result = await manager.batch_install([name], InstallStrategy.SEQUENTIAL, progress=progress)
            added = [n for n in manager.config.servers if n not in before]
            if added:
                manager.save_config()
            failed = result.failed
            entry["outcome"] = f"failed: {failed[0].reason}" if failed else "installed"
        except FleetError as exc:
            entry["outcome"] = f"failed: {exc}"
        except Exception as exc:  # a bug: the page still hears that it ended
            log.exception("installing %s from the dashboard failed", name)
            entry["outcome"] = f"failed unexpectedly: {exc!r}"
        entry["fraction"] = 1.0

    async def catalog(request: Request, visitor: Visitor) -> Response:
        query = request.query_params.get("q", "")
        registry = request.query_params.get("registry") == "on"
        entries = await manager.catalog.search(query, limit=40, include_registry=registry)
        installed = {n for n in manager.config.servers if manager.lock.get(n)}
        rows = [
            {
                "name": e.name,
                "aliases": e.aliases,
                "source": e.source,
                "description": e.description,
                "package": next(
                    (f"{p.registry_type}:{p.identifier}" for p in e.server.packages or []), "remote"
                ),
                "installed": bool(installed & {e.name, *e.aliases}),
            }
            for e in entries
        ]
        return kit.pages.render(
            request, visitor, "catalog.html", title="Catalog", page="catalog", query=query, registry=registry,
            rows=rows, registry_error=manager.catalog.last_registry_error, installs=installs,
        )  # fmt: skip

    async def start_install(request: Request, visitor: Visitor) -> Response:
        name = (await form_of(request)).get("name", "").strip()
        running = installs.get(name)
        if not name or (running is not None and running["outcome"] is None):
            return RedirectResponse(f"/ui/catalog?problem={quote('Nothing to install, or it is installing')}",
                                    status_code=303)  # fmt: skip
        installs.pop(name, None)
        installs[name] = {"name": name, "started": time.time(), "steps": [], "fraction": 0.0, "outcome": None}
        while len(installs) > KEEP_FINISHED:
            oldest = next(n for n, e in installs.items() if e["outcome"] is not None or n == name)
            if oldest == name:
                break
            installs.pop(oldest)
        task = asyncio.create_task(install(name), name=f"mcpfleet-ui-install-{name}")
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return RedirectResponse(f"/ui/catalog?notice={quote(f'Installing {name}…')}", status_code=303)

    async def installs_json(request: Request, visitor: Visitor) -> Response:
        return JSONResponse({"installs": list(installs.values())})

    return [
        Route("/ui/catalog", kit.guard.wrap(catalog)),
        Route("/ui/catalog/install", kit.guard.wrap(start_install, "act"), methods=["POST"]),
        Route("/ui/api/installs", kit.guard.wrap(installs_json)),
    ]
