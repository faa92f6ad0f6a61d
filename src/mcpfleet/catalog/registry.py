"""A client of the MCP Registry's HTTP API: the official registry, a mirror or a private one.

    GET /v0.1/servers?search=weather&limit=100&version=latest&cursor=...
        {"servers": [{"server": {...server.json...}, "_meta": {...}}],
         "metadata": {"nextCursor": "...", "count": 100}}
    GET /v0.1/servers/{url-encoded name}/versions/latest
        {"server": {...}, "_meta": {...}}

``/v0.1`` is the registry's stable API (``/v0`` may still change). Each call opens its own HTTP
client and closes it before returning, so nothing is left open between calls.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from mcpfleet import __version__
from mcpfleet.catalog.schema import ServerJson
from mcpfleet.exceptions import RegistryError

__all__ = ["API_PREFIX", "DEFAULT_REGISTRY", "OFFICIAL_META", "RawPage", "RegistryClient", "ServerPage"]

log = logging.getLogger("mcpfleet.catalog")
DEFAULT_REGISTRY = "https://registry.modelcontextprotocol.io"
API_PREFIX = "/v0.1"
MAX_PAGE_SIZE = 100  # the official registry's cap
OFFICIAL_META = "io.modelcontextprotocol.registry/official"  # the registry's own _meta key


@dataclass(frozen=True)
class RawPage:
    """One page of ``GET /servers`` as sent: each item a ``{"server": ..., "_meta": ...}`` mapping."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class ServerPage:
    """One page of ``GET /servers``; ``next_cursor`` is None on the last page."""

    servers: list[ServerJson]
    next_cursor: str | None


class RegistryClient:
    """Reads the registry at ``base_url`` (its root, e.g. ``https://registry.modelcontextprotocol.io``).

    Every failure is a :class:`RegistryError` that says what to do. ``transport`` replaces the
    network (an ``httpx.AsyncBaseTransport``), e.g. to go through a proxy or in tests.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_REGISTRY,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.timeout,
            transport=self.transport,
            follow_redirects=True,
            headers={"accept": "application/json", "user-agent": f"mcpfleet/{__version__}"},
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[RegistryClient]:
        """Calls inside the block share one HTTP client (and its connections): for many pages in a
        row, as a mirror sync asks. Making a client costs more than a request on loopback."""
        async with self._client() as http:
            self._http = http
            try:
                yield self
            finally:
                self._http = None

    def _fix(self) -> str:
        return (
            "If you are offline, built-in catalog names still work (`mcpfleet search` lists them); "
            "otherwise set `registry_url` in mcpfleet.yaml to a registry you can reach."
        )

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The JSON answer to ``GET path``, or None for 404."""
        try:
            if self._http is not None:
                response = await self._http.get(path, params=params)
            else:
                async with self._client() as http:
                    response = await http.get(path, params=params)
        except httpx.TimeoutException:
            raise RegistryError(
                f"The MCP registry at {self.base_url} did not answer {path} within {self.timeout:g}s. "
                + self._fix()
            ) from None
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"Cannot reach the MCP registry at {self.base_url} ({type(exc).__name__}: {exc}). "
                + self._fix()
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            kind = "failed" if response.status_code >= 500 else "refused the request"
            raise RegistryError(
                f"The MCP registry at {self.base_url} {kind} with HTTP {response.status_code} on {path}: "
                f"{response.text[:200].strip() or response.reason_phrase}. Try again later; " + self._fix()
            )
        try:
            return response.json()
        except ValueError:
            raise RegistryError(
                f"The MCP registry at {self.base_url} answered {path} with something that is not JSON "
                f"({response.text[:60]!r}). Is `registry_url` the registry's root URL?"
            ) from None

    async def list_servers(
        self, search: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> ServerPage:
        """One page of servers (latest versions), optionally those whose name contains ``search``."""
        params = {"version": "latest"}
        if search:
            params["search"] = search
        if cursor:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = str(max(1, min(limit, MAX_PAGE_SIZE)))
        data = await self._servers(params)
        servers = [s for s in map(_server, data["servers"]) if s is not None]
        return ServerPage(servers, _next_cursor(data))

    async def _servers(self, params: dict[str, str]) -> dict[str, Any]:
        path = f"{API_PREFIX}/servers"
        data = await self._get(path, params)
        if data is None:
            raise RegistryError(
                f"{self.base_url} has no {path} endpoint, so it is not an MCP registry (or not its root "
                f"URL); set `registry_url` in mcpfleet.yaml to e.g. {DEFAULT_REGISTRY}."
            )
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            raise RegistryError(
                f"The MCP registry at {self.base_url} answered {path} without a `servers` list; "
                "is `registry_url` an MCP registry?"
            )
        return data

    async def list_items(
        self, cursor: str | None = None, limit: int = MAX_PAGE_SIZE, updated_since: str | None = None
    ) -> RawPage:
        """One page of every version of every server as the registry sends it (``server`` and
        ``_meta`` of each, deleted ones included when the registry sends them): what a mirror copies.
        ``updated_since`` (RFC 3339) asks for only what changed after then."""
        params = {"limit": str(max(1, min(limit, MAX_PAGE_SIZE)))}
        if cursor:
            params["cursor"] = cursor
        if updated_since:
            params["updated_since"] = updated_since
        data = await self._servers(params)
        items = [item for item in data["servers"] if isinstance(item, dict)]
        return RawPage(items, _next_cursor(data))

    async def iter_servers(
        self, search: str | None = None, *, page_size: int = MAX_PAGE_SIZE, max_items: int = 500
    ) -> AsyncGenerator[ServerJson, None]:
        """Every matching server, page after page, at most ``max_items`` (a bound on a big registry)."""
        cursor: str | None = None
        seen_cursors: set[str] = set()
        count = 0
        while count < max_items:
            page = await self.list_servers(search, cursor, min(page_size, max_items - count))
            for server in page.servers[: max_items - count]:
                yield server
                count += 1
            cursor = page.next_cursor
            if cursor is None or cursor in seen_cursors or not page.servers:
                return  # the last page, or a registry that loops
            seen_cursors.add(cursor)

    async def get_server(self, name: str) -> ServerJson | None:
        """The latest version of the server called ``name`` (``io.github.acme/weather``), or None."""
        data = await self._get(f"{API_PREFIX}/servers/{quote(name, safe='')}/versions/latest")
        if data is None:
            return None
        server = _server(data)
        if server is None:
            raise RegistryError(
                f"The MCP registry at {self.base_url} describes {name} in a form mcpfleet cannot read "
                "(not a server.json); report it to the server's publisher."
            )
        return server


def _next_cursor(data: dict[str, Any]) -> str | None:
    metadata = data.get("metadata")
    next_cursor = metadata.get("nextCursor") if isinstance(metadata, dict) else None
    return str(next_cursor) if next_cursor else None


def _server(item: Any) -> ServerJson | None:
    """A server.json from one item of an answer (``{"server": ..., "_meta": ...}``); None for a
    deleted or unreadable one, so one bad entry does not hide the others."""
    if not isinstance(item, dict):
        return None
    meta = item.get("_meta")
    official = meta.get(OFFICIAL_META) if isinstance(meta, dict) else None
    if isinstance(official, dict) and official.get("status") == "deleted":
        return None
    raw = item.get("server", item)
    try:
        return ServerJson.model_validate(raw)
    except ValidationError as exc:
        log.debug("skipping a registry entry that is not a server.json: %s", exc)
        return None
