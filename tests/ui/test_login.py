"""Logging in and out: where the form leads, a JWT's session, and logging out."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from helpers import fleet, own_server
from mcpfleet.config import GatewayConfig
from mcpfleet.gateway import Gateway
from mcpfleet.manager import MCPManager
from mcpfleet.security.config import AuthConfig

pytestmark = pytest.mark.timeout(60)

SECRET = "a-shared-secret-of-at-least-32-bytes!!"
AUDIENCE = "http://127.0.0.1:8765/mcp"


async def _login_form(http: httpx.AsyncClient) -> str:
    found = re.search(r'name="login_token" value="([^"]+)"', (await http.get("/ui/login")).text)
    assert found is not None
    return found.group(1)


async def test_the_form_leads_back_to_the_dashboard_only(secured: Any) -> None:
    async with secured.client() as http:
        for asked, went in (("/ui/audit?page=2", "/ui/audit?page=2"), ("//evil.example", "/ui"),
                            ("https://evil.example/ui", "/ui"), ("/api/v1/status", "/ui")):  # fmt: skip
            token = await _login_form(http)
            reply = await http.post(
                "/ui/login", data={"login_token": token, "credential": secured.keys["viewer"], "next": asked}
            )
            assert reply.headers["location"] == went


async def test_logging_out_ends_the_session(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["viewer"])
        page = await http.get("/ui")
        cookie = http.cookies["mcpfleet_ui"]
        out = await http.post("/ui/logout", data={"csrf": secured.csrf(page.text)})
        assert out.status_code == 303 and out.headers["location"].startswith("/ui/login")
        http.cookies.set("mcpfleet_ui", cookie, path="/ui")  # the old cookie, kept by someone
        assert (await http.get("/ui")).status_code == 303


async def test_a_jwt_logs_in_for_no_longer_than_it_lives(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    config.gateway = GatewayConfig(port=0)
    config.auth = AuthConfig.model_validate(
        {"mode": "jwt", "resource": AUDIENCE, "jwt": {"secret": "${JWT_SECRET}"}}
    )
    async with MCPManager(config, environ={"JWT_SECRET": SECRET}) as manager:
        gateway = Gateway(manager)
        transport = httpx.ASGITransport(app=gateway.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http:
            claims = {"aud": AUDIENCE, "sub": "alice", "roles": ["ops"], "exp": int(time.time()) + 600}
            token = await _login_form(http)
            reply = await http.post(
                "/ui/login", data={"login_token": token, "credential": jwt.encode(claims, SECRET)}
            )
            assert reply.status_code == 303
            cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("mcpfleet_ui="))
            max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
            assert 590 <= max_age <= 600  # the token's life, not the session's 8 hours
            page = await http.get("/ui")
            assert page.status_code == 200 and "alice" in page.text and "ops" in page.text
            expired = {**claims, "exp": int(time.time()) - 120}
            token = await _login_form(http)
            refused = await http.post(
                "/ui/login", data={"login_token": token, "credential": jwt.encode(expired, SECRET)}
            )
            assert refused.status_code == 401 and "expired" in refused.text.lower()
        await gateway.aclose()
