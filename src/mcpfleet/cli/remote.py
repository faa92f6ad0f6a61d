"""A small client of a running gateway's admin API, for ``status``, ``tools`` and ``call``."""

from __future__ import annotations

import os
from typing import Any

import httpx

from mcpfleet.exceptions import FleetError
from mcpfleet.manager import ToolInfo

__all__ = ["AdminClient"]


class AdminClient:
    """``api_key`` (default: ``$MCPFLEET_API_KEY``) is sent when the gateway asks for authentication."""

    def __init__(self, base_url: str, *, timeout: float = 120.0, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        key = api_key if api_key is not None else os.environ.get("MCPFLEET_API_KEY")
        self.headers = {"x-api-key": key} if key else {}

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, headers=self.headers
            ) as http:
                response = await http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise FleetError(
                f"The gateway at {self.base_url} did not answer ({exc}); is `mcpfleet up` running?"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        if response.status_code == 401:
            raise FleetError(
                f"The gateway asks for authentication ({body.get('error_description', response.text)}); "
                "set MCPFLEET_API_KEY to a key from `mcpfleet keys create --name NAME --role admin`"
            )
        if response.status_code >= 400:
            # The gateway's message is the manager's own FleetError text: pass it on as it is.
            raise FleetError(str(body.get("error", response.text)))
        return body

    async def status(self) -> list[dict[str, Any]]:
        data = await self._request("GET", "/api/v1/status")
        rows: list[dict[str, Any]] = data["servers"]
        return rows

    async def tools(self, server: str | None = None) -> list[ToolInfo]:
        path = "/api/v1/tools" + (f"?server={server}" if server else "")
        data = await self._request("GET", path)
        return [ToolInfo(t.pop("server"), t) for t in data["tools"]]

    async def health(self) -> dict[str, dict[str, Any]]:
        data = await self._request("GET", "/api/v1/health")
        servers: dict[str, dict[str, Any]] = data["servers"]
        return servers

    async def drain(self, server: str, timeout: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", f"/api/v1/servers/{server}/drain", json={"timeout": timeout}
        )
        return result

    async def maintenance(self, server: str, enabled: bool, drain_timeout: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST",
            f"/api/v1/servers/{server}/maintenance",
            json={"enabled": enabled, "drain_timeout": drain_timeout},
        )
        return result

    async def approvals(self) -> list[dict[str, Any]]:
        data = await self._request("GET", "/api/v1/approvals")
        rows: list[dict[str, Any]] = data["approvals"]
        return rows

    async def decide(self, approval_id: str, approve: bool) -> dict[str, Any]:
        data = await self._request("POST", f"/api/v1/approvals/{approval_id}", json={"approve": approve})
        row: dict[str, Any] = data["approvals"][0]
        return row

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", f"/api/v1/servers/{server}/tools/{tool}", json=arguments
        )
        return result
