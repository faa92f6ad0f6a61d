"""A small client of a running gateway's admin API, for ``status``, ``tools`` and ``call``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx

from mcpfleet.exceptions import FleetError, RolloutError
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
        return self._check(response)

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        """The JSON body of a response; a FleetError with the gateway's message if it is an error."""
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

    async def update(
        self, server: str, body: dict[str, Any], on_event: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """A rolling update on the live fleet: ``on_event`` sees each step; returns the result.

        Raises :class:`RolloutError` (its ``result`` a plain dict) when the update stopped.
        """
        path = f"/api/v1/servers/{server}/update"
        try:
            async with (
                httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, headers=self.headers) as http,
                http.stream("POST", path, json=body) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    return dict(self._check(response))
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "event" in message:
                        on_event(message["event"])
                    elif "error" in message:
                        raise RolloutError(str(message["error"]), message.get("result"))
                    else:
                        return dict(message["result"])
        except httpx.HTTPError as exc:
            raise FleetError(
                f"The gateway at {self.base_url} stopped answering during the update ({exc}); "
                "the update goes on there: see `mcpfleet status`"
            ) from None
        raise FleetError(
            f"The gateway at {self.base_url} ended the update's stream without a result; "
            "see `mcpfleet status`"
        )
