"""The mirror served in the MCP Registry's own API, so that other fleets can sync from this one.

    GET {prefix}/v0.1/servers?cursor=&limit=&search=&version=latest&updated_since=&include_deleted=
    GET {prefix}/v0.1/servers/{url-encoded name}/versions
    GET {prefix}/v0.1/servers/{url-encoded name}/versions/{version | latest}

``mcpfleet catalog serve`` serves it at the root (a fleet sets ``registry_url: http://host:port``);
the gateway serves it under ``/registry`` (``registry_url: http://gateway/registry``). Read-only,
curated by the serving fleet's ``catalog.allow`` / ``catalog.deny``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcpfleet.catalog.mirror import RegistryMirror, utc_stamp
from mcpfleet.catalog.registry import API_PREFIX, MAX_PAGE_SIZE

__all__ = ["registry_app"]

DEFAULT_PAGE_SIZE = 30  # the official registry's


def _problem(status: int, detail: str) -> JSONResponse:
    """An error in the registry's shape (RFC 9457 problem details)."""
    titles = {400: "Bad Request", 404: "Not Found"}
    body = {"title": titles.get(status, "Error"), "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def registry_app(mirror: RegistryMirror, prefix: str = "") -> Starlette:
    """An ASGI app serving ``mirror`` under ``{prefix}/v0.1``."""
    base = f"{prefix.rstrip('/')}{API_PREFIX}/servers"

    def list_servers(request: Request) -> JSONResponse:
        query = request.query_params
        try:
            limit = int(query.get("limit", DEFAULT_PAGE_SIZE))
        except ValueError:
            return _problem(400, "limit must be a whole number from 1 to 100")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            return _problem(400, "limit must be a whole number from 1 to 100")
        since = None
        if query.get("updated_since"):
            since = utc_stamp(query["updated_since"])
            if since is None:
                return _problem(400, "updated_since must be an RFC 3339 time, e.g. 2026-01-02T03:04:05Z")
        items, next_cursor = mirror.page(
            cursor=query.get("cursor") or None,
            limit=limit,
            search=query.get("search") or None,
            version=query.get("version") or None,
            updated_since=since,
            include_deleted=query.get("include_deleted", "").lower() == "true",
        )
        metadata: dict[str, object] = {"count": len(items)}
        if next_cursor:
            metadata["nextCursor"] = next_cursor
        return JSONResponse({"servers": [i.wire() for i in items], "metadata": metadata})

    def versions(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        items = mirror.versions(name)
        if not items:
            return _problem(404, f"Server {name} not found")
        return JSONResponse({"servers": [i.wire() for i in items], "metadata": {"count": len(items)}})

    def one_version(request: Request) -> JSONResponse:
        name, version = request.path_params["name"], request.path_params["version"]
        item = mirror.get(name, version)
        if item is None:
            return _problem(404, f"Server {name} version {version} not found")
        return JSONResponse(item.wire())

    return Starlette(
        routes=[
            Route(base, list_servers, methods=["GET"]),
            Route(base + "/{name:path}/versions", versions, methods=["GET"]),
            Route(base + "/{name:path}/versions/{version}", one_version, methods=["GET"]),
        ]
    )
