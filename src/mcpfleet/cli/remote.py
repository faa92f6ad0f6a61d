"""A small client of a running gateway's admin API, for ``status``, ``tools`` and ``call``.

Plain requests go over the standard library's ``http.client``: these commands answer in a
fraction of a second because they import no HTTP stack (httpx alone takes longer than that on a
busy machine). Only the streamed rolling update uses httpx.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcpfleet.exceptions import FleetError, RolloutError

if TYPE_CHECKING:
    from mcpfleet.routing import ToolInfo

__all__ = ["AdminClient"]


class AdminClient:
    """``api_key`` (default: ``$MCPFLEET_API_KEY``) is sent when the gateway asks for authentication."""

    def __init__(self, base_url: str, *, timeout: float = 120.0, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        key = api_key if api_key is not None else os.environ.get("MCPFLEET_API_KEY")
        self.headers = {"x-api-key": key} if key else {}

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        import asyncio
        from http.client import HTTPException

        try:
            status, content = await asyncio.to_thread(self._send, method, path, json)
        except (OSError, HTTPException) as exc:
            raise FleetError(
                f"The gateway at {self.base_url} did not answer ({exc or type(exc).__name__}); "
                "is `mcpfleet up` running?"
            ) from None
        return self._check(status, content)

    def _send(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        from http.client import HTTPConnection, HTTPSConnection

        url = urlsplit(self.base_url + path)
        connection_class = HTTPSConnection if url.scheme == "https" else HTTPConnection
        connection = connection_class(url.hostname or "127.0.0.1", url.port, timeout=self.timeout)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            connection.request(method, url.path + (f"?{url.query}" if url.query else ""), data, headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    @staticmethod
    def _check(status: int, content: bytes) -> Any:
        """The JSON body of a response; a FleetError with the gateway's message if it is an error."""
        text = content.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = {"error": text}
        if not isinstance(body, dict):
            body = {"error": text}
        if status == 401:
            raise FleetError(
                f"The gateway asks for authentication ({body.get('error_description', text)}); "
                "set MCPFLEET_API_KEY to a key from `mcpfleet keys create --name NAME --role admin`"
            )
        if status >= 400:
            # The gateway's message is the manager's own FleetError text: pass it on as it is.
            raise FleetError(str(body.get("error", text)))
        return body

    async def status(self) -> list[dict[str, Any]]:
        data = await self._request("GET", "/api/v1/status")
        rows: list[dict[str, Any]] = data["servers"]
        return rows

    async def tools(self, server: str | None = None) -> list[ToolInfo]:
        path = "/api/v1/tools" + (f"?server={server}" if server else "")
        data = await self._request("GET", path)
        from mcpfleet.routing import ToolInfo

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

    async def act(self, server: str, action: str) -> list[dict[str, Any]]:
        """``start``, ``stop`` or ``restart`` a server of the live fleet; returns the status rows."""
        data = await self._request("POST", f"/api/v1/servers/{server}/{action}")
        rows: list[dict[str, Any]] = data["servers"]
        return rows

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
        import httpx  # a stream of events: the one request that needs more than http.client

        path = f"/api/v1/servers/{server}/update"
        try:
            async with (
                httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, headers=self.headers) as http,
                http.stream("POST", path, json=body) as response,
            ):
                if response.status_code >= 400:
                    return dict(self._check(response.status_code, await response.aread()))
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
