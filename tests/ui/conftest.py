"""A secured fleet's gateway, in process, for the dashboard's HTTP tests (no browser):
``secured.client()`` is a client of its dashboard, ``secured.log_in(http, key)`` logs in
through the form, ``secured.csrf(html)`` reads a page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpers import fleet, own_server
from mcpfleet.config import GatewayConfig
from mcpfleet.database import Database
from mcpfleet.gateway import Gateway
from mcpfleet.manager import MCPManager
from mcpfleet.security.config import AccessConfig, AuthConfig
from mcpfleet.security.keys import ApiKeyStore

ACCESS = {"roles": {"admin": ["all"], "viewer": ["read", "list"]}}


@dataclass
class Secured:
    gateway: Gateway
    keys: dict[str, str]
    store: ApiKeyStore

    def client(self, base: str = "http://127.0.0.1:8765") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.gateway.app, client=("127.0.0.1", 40000))
        return httpx.AsyncClient(transport=transport, base_url=base, timeout=30)

    @staticmethod
    def csrf(html: str) -> str:
        found = re.search(r'data-csrf="([^"]+)"', html)
        assert found is not None, "no CSRF token on the page"
        return found.group(1)

    @staticmethod
    async def log_in(http: httpx.AsyncClient, credential: str) -> httpx.Response:
        """Log in through the form, as a browser does; the reply is a 303 when it worked."""
        form = await http.get("/ui/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        return await http.post(
            "/ui/login", data={"login_token": token.group(1), "credential": credential, "next": "/ui"}
        )


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Secured]:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    config.gateway = GatewayConfig(port=0, allowed_hosts=["*"])
    config.auth = AuthConfig(mode="api_key")
    config.access = AccessConfig.model_validate(ACCESS)
    store = ApiKeyStore(Database.for_fleet(config))
    keys = {role: store.create(f"{role}-key", role)[0] for role in ("admin", "viewer")}
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_all()
        gateway = Gateway(manager)
        try:
            yield Secured(gateway, keys, store)
        finally:
            await gateway.aclose()
