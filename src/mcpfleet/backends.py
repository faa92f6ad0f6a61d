"""What the load balancer calls: a :class:`Backend` is a local instance or a remote server.

:class:`RemoteBackend` is an MCP server over streamable HTTP given by address (``host:port``
means ``http://host:port/mcp``), with sessions from a pool if one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

__all__ = ["Backend", "RemoteBackend", "mcp_url"]

log = logging.getLogger("mcpfleet.loadbalancer")


class Backend(Protocol):
    """What the balancer calls: a local instance or a remote server."""

    def accepting(self) -> bool: ...

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]: ...

    async def health_check(self, timeout: float = 5.0) -> bool: ...


def mcp_url(address: str) -> str:
    """``host:port`` -> ``http://host:port/mcp``; URLs stay as they are."""
    return address if "://" in address else f"http://{address}/mcp"


class RemoteBackend:
    """An MCP server over streamable HTTP. Sessions come from ``pool`` if given, else one is kept."""

    def __init__(
        self,
        server: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        pool: Any = None,
        timeout: float = 30.0,
    ) -> None:
        self.server = server
        self.url = url
        self.headers = dict(headers or {})
        self.pool = pool
        self.timeout = timeout
        self._session: Any = None
        self._lock = asyncio.Lock()

    def accepting(self) -> bool:
        return True

    async def connect(self) -> Any:
        """A new session with the server, handshake done (what the pool calls to create one)."""
        from mcpfleet.protocol import ClientSession

        return await ClientSession.over_http(
            self.url, server=self.server, headers=self.headers, timeout=self.timeout
        )

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        """A session to use for one request: leased from the pool, or the one kept here."""
        if self.pool is not None:
            async with self.pool.connection(f"{self.server} {self.url}", self.connect) as session:
                yield session
        else:
            async with self._lock:
                if self._session is None or self._session.closed:
                    self._session = await self.connect()
            yield self._session

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        async with self.session() as session:
            result: dict[str, Any] = await session.request(method, params, timeout=timeout)
            return result

    async def health_check(self, timeout: float = 5.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self.session() as session:
                await session.ping(timeout=timeout)
        except Exception:  # any failure to connect or answer is "unhealthy"; the reason is logged
            log.info("health check of %s failed", self.url, exc_info=True)
            return False
        return True

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.aclose()
            self._session = None
