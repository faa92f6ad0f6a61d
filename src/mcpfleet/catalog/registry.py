"""A client of the official MCP Registry's HTTP API (``GET /v0/servers``, search, cursor paging)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from mcpfleet.catalog.schema import ServerJson
from mcpfleet.exceptions import RegistryError

__all__ = ["DEFAULT_REGISTRY", "RegistryClient"]

DEFAULT_REGISTRY = "https://registry.modelcontextprotocol.io"


class RegistryClient:
    """``base_url`` is the registry's root (the official one, a mirror, or a private registry)."""

    def __init__(
        self,
        base_url: str = DEFAULT_REGISTRY,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, transport=self.transport
            ) as http:
                response = await http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"The MCP registry at {self.base_url} could not be reached ({type(exc).__name__}: {exc}); "
                "check the network, or set `registry_url` in mcpfleet.yaml to a reachable registry"
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise RegistryError(
                f"The MCP registry at {self.base_url} answered {path} with HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            raise RegistryError(
                f"The MCP registry at {self.base_url} answered {path} with something that is not JSON; "
                "is `registry_url` the registry's root URL?"
            ) from None

    @staticmethod
    def _servers(data: Any, where: str) -> list[ServerJson]:
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            raise RegistryError(f"The MCP registry's answer to {where} has no `servers` list")
        servers = []
        for item in data["servers"]:
            raw = item.get("server", item) if isinstance(item, dict) else item
            try:
                servers.append(ServerJson.model_validate(raw))
            except ValidationError:
                continue  # one malformed entry must not hide the others
        return servers

    async def list_servers(
        self, search: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> tuple[list[ServerJson], str | None]:
        """One page: the servers (latest versions) and the cursor of the next page, if any."""
        data = await self._get(
            "/v0/servers", {"search": search or None, "cursor": cursor, "limit": limit, "version": "latest"}
        )
        servers = self._servers(data, "/v0/servers")
        metadata = data.get("metadata") or {}
        next_cursor = metadata.get("nextCursor") or metadata.get("next_cursor")
        return servers, str(next_cursor) if next_cursor else None

    async def iter_servers(
        self, search: str | None = None, *, page_size: int = 100, max_items: int = 1000
    ) -> AsyncIterator[ServerJson]:
        """Every matching server across pages, at most ``max_items``."""
        cursor: str | None = None
        seen = 0
        while True:
            page, cursor = await self.list_servers(search, cursor, page_size)
            for server in page:
                yield server
                seen += 1
                if seen >= max_items:
                    return
            if not cursor or not page:
                return

    async def get_server(self, name: str) -> ServerJson | None:
        """The latest version of the server named ``name`` (``io.github.owner/repo``), or None."""
        data = await self._get(f"/v0/servers/{quote(name, safe='')}/versions/latest", {})
        if data is not None:
            raw = data.get("server", data) if isinstance(data, dict) else data
            try:
                return ServerJson.model_validate(raw)
            except ValidationError as exc:
                raise RegistryError(f"The MCP registry's entry for {name} is malformed: {exc}") from None
        async for server in self.iter_servers(name, max_items=200):
            if server.name == name:
                return server
        return None
