"""Who may see and act in the dashboard: login, the session cookie, CSRF, viewers, the open mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import fleet, own_server
from mcpfleet.config import GatewayConfig
from mcpfleet.gateway import Gateway
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


async def test_a_page_without_a_session_sends_to_the_login_form(secured: Any) -> None:
    async with secured.client() as http:
        root = await http.get("/")
        page = await http.get("/ui/audit?server=toy")
        data = await http.get("/ui/api/overview")
    assert root.status_code == 307 and root.headers["location"] == "/ui"
    assert page.status_code == 303 and page.headers["location"] == "/ui/login?next=/ui/audit%3Fserver%3Dtoy"
    assert data.status_code == 401 and data.json()["login"] == "/ui/login"


async def test_a_wrong_key_is_refused_and_gets_no_cookie(secured: Any) -> None:
    async with secured.client() as http:
        reply = await secured.log_in(http, "mcpf_00000000_not-a-key")
        assert reply.status_code == 401
        assert "Not logged in" in reply.text
        assert "mcpfleet_ui" not in http.cookies
        assert (await http.get("/ui")).status_code == 303


async def test_the_login_form_refuses_a_post_without_its_own_token(secured: Any) -> None:
    async with secured.client() as http:
        reply = await http.post("/ui/login", data={"credential": secured.keys["admin"]})
    assert reply.status_code == 403 and "mcpfleet_ui" not in reply.headers.get("set-cookie", "")


async def test_the_session_cookie_is_httponly_strict_and_signed(secured: Any) -> None:
    async with secured.client() as http:
        reply = await secured.log_in(http, secured.keys["admin"])
        assert reply.status_code == 303 and reply.headers["location"] == "/ui"
        cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("mcpfleet_ui="))
        parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
        assert {"httponly", "samesite", "path", "max-age"} <= parts and "secure" not in parts  # plain http
        assert "SameSite=Strict" in cookie and secured.keys["admin"] not in cookie
        page = await http.get("/ui")
        assert page.status_code == 200 and "toy" in page.text and "admin-key" in page.text
        value = http.cookies["mcpfleet_ui"]
        http.cookies.set("mcpfleet_ui", value[:-2] + ("00" if not value.endswith("00") else "11"), path="/ui")
        assert (await http.get("/ui")).status_code == 303  # a tampered signature is no session
    async with secured.client("https://127.0.0.1:8765") as http:
        reply = await secured.log_in(http, secured.keys["admin"])
        cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("mcpfleet_ui="))
        assert cookie.endswith("; Secure")


async def test_a_post_without_the_csrf_token_is_refused(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        page = await http.get("/ui/servers/toy")
        token = secured.csrf(page.text)
        missing = await http.post("/ui/servers/toy/drain", data={})
        forged = await http.post("/ui/servers/toy/drain", data={"csrf": "x" + token})
        assert missing.status_code == 403 and forged.status_code == 403
        assert secured.gateway.manager.maintenance_mode("toy") is None  # nothing happened
        done = await http.post("/ui/servers/toy/drain", data={"csrf": token})
        assert done.status_code == 303 and "draining" in done.headers["location"]
        assert secured.gateway.manager.maintenance_mode("toy") == "draining"
        back = await http.post("/ui/servers/toy/undrain", headers={"x-csrf-token": token})
        assert back.status_code == 303 and secured.gateway.manager.maintenance_mode("toy") is None


async def test_a_viewer_sees_but_gets_403_on_every_action(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["viewer"])
        page = await http.get("/ui/servers/toy")
        assert page.status_code == 200 and "view only" in page.text
        assert 'data-action="restart"' not in page.text and 'id="actions"' not in page.text
        token = secured.csrf((await http.get("/ui/playground")).text)
        for path, data in (
            ("/ui/servers/toy/drain", {}),
            ("/ui/servers/toy/scale", {"count": "2"}),
            ("/ui/keys", {"name": "sneaky", "role": "admin"}),
            ("/ui/keys/anything/revoke", {}),
            ("/ui/catalog/install", {"name": "time"}),
        ):
            reply = await http.post(path, data={"csrf": token, **data})
            assert reply.status_code == 403, path
            assert "ADMIN" in reply.json()["error"]
    assert secured.gateway.manager.maintenance_mode("toy") is None
    assert [k.name for k in secured.store.list_keys()] == ["admin-key", "viewer-key"]


async def test_a_key_revoked_in_the_dashboard_ends_its_session_at_once(secured: Any) -> None:
    async with secured.client() as viewer, secured.client() as admin:
        await secured.log_in(viewer, secured.keys["viewer"])
        await secured.log_in(admin, secured.keys["admin"])
        assert (await viewer.get("/ui/audit")).status_code == 200
        keys = await admin.get("/ui/keys")
        key_id = next(k.id for k in secured.store.list_keys() if k.name == "viewer-key")
        revoked = await admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf": secured.csrf(keys.text)})
        assert revoked.status_code == 303 and "Revoked" in revoked.headers["location"]
        assert (await viewer.get("/ui/audit")).status_code == 303  # back to the login form
        reply = await secured.log_in(viewer, secured.keys["viewer"])
        assert reply.status_code == 401 and "revoked" in reply.text


async def test_without_auth_the_dashboard_is_open_on_loopback_only(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    config.gateway = GatewayConfig(port=0, allowed_hosts=["*"])
    async with MCPManager(config, auto_install=True) as manager:
        gateway = Gateway(manager)
        local = httpx.ASGITransport(app=gateway.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=local, base_url="http://127.0.0.1:8765") as http:
            page = await http.get("/ui")
            assert page.status_code == 200 and "anonymous" in page.text and "Log out" not in page.text
            assert (await http.post("/ui/servers/toy/drain", data={})).status_code == 403  # CSRF still
            found = re.search(r'data-csrf="([^"]+)"', page.text)
            assert found is not None
            token = found.group(1)
            reply = await http.post("/ui/servers/toy/drain", data={"csrf": token})
            assert reply.status_code == 303 and manager.maintenance_mode("toy") == "draining"
        wide = httpx.ASGITransport(app=gateway.app, client=("10.1.2.3", 40000))
        async with httpx.AsyncClient(transport=wide, base_url="http://10.0.0.5:8765") as http:
            refused = await http.get("/ui")
        assert refused.status_code == 403 and "auth.mode" in refused.text
        await gateway.aclose()
