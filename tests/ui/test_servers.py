"""A server's page and its actions, over HTTP in process (the open dashboard, on loopback):
scale, maintenance, a rolling update with its progress, and the page's tools and instances."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from helpers import SERVERS, fleet
from mcpfleet.config import CommandPackage, GatewayConfig, ServerSpec
from mcpfleet.gateway import Gateway
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)

Open = tuple[httpx.AsyncClient, MCPManager, str]  # a client of the open dashboard, the fleet, a CSRF token


def versioned(version: str) -> ServerSpec:
    return ServerSpec(
        package=CommandPackage(command=sys.executable, version=version),
        args=[str(SERVERS / "versioned.py"), "--version", version],
    )


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Open]:
    config = fleet(tmp_path / "home", app=versioned("1.0"))
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config) as manager:
        await manager.install("app")
        await manager.start_server("app")
        gateway = Gateway(manager)
        transport = httpx.ASGITransport(app=gateway.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8765", timeout=30
        ) as http:
            page = await http.get("/ui/servers/app")
            found = re.search(r'data-csrf="([^"]+)"', page.text)
            assert page.status_code == 200 and found is not None
            yield http, manager, found.group(1)
        await gateway.aclose()


async def test_the_page_shows_tools_and_instances_with_their_process(dashboard: Open) -> None:
    http, manager, _ = dashboard
    page = (await http.get("/ui/servers/app")).text
    pid = manager.get_server_instances("app")[0].pid
    assert f">{pid}<" in page and "Input schema" in page and 'data-action="restart"' in page
    live = (await http.get("/ui/api/servers/app")).json()
    instance = live["instances"][0]
    assert instance["pid"] == pid and instance["memory_mb"] > 1 and instance["state"] == "ready"
    assert (await http.get("/ui/servers/nope")).status_code == 404


async def test_scale_and_maintenance_from_the_page(
    dashboard: Open,
) -> None:
    http, manager, csrf = dashboard
    reply = await http.post("/ui/servers/app/scale", data={"csrf": csrf, "count": "2"})
    assert reply.status_code == 303 and "runs 2 instance" in unquote(reply.headers["location"])
    assert len(manager.get_server_instances("app")) == 2
    bad = await http.post("/ui/servers/app/scale", data={"csrf": csrf, "count": "lots"})
    assert "problem=" in unquote(bad.headers["location"])
    on = await http.post("/ui/servers/app/maintenance_on", data={"csrf": csrf})
    assert (
        "maintenance" in unquote(on.headers["location"]) and manager.maintenance_mode("app") == "maintenance"
    )
    off = await http.post("/ui/servers/app/maintenance_off", data={"csrf": csrf})
    assert "notice=" in unquote(off.headers["location"]) and manager.maintenance_mode("app") is None


async def test_a_rolling_update_shows_its_progress(
    dashboard: Open,
) -> None:
    http, manager, csrf = dashboard
    reply = await http.post("/ui/servers/app/update", data={"csrf": csrf, "version": "1.1"})
    assert reply.status_code == 303 and "started" in unquote(reply.headers["location"])
    seen: dict[str, Any] = {}
    for _ in range(600):
        seen = (await http.get("/ui/api/servers/app")).json()["rollout"]
        if seen["outcome"] is not None:
            break
        await asyncio.sleep(0.05)
    assert seen["outcome"] == "done: app runs 1.1", seen
    steps = [e["step"] for e in seen["events"]]
    assert "healthy" in steps and steps[-1] == "committed"
    assert {i.version for i in manager.get_server_instances("app")} == {"1.1"}


async def test_the_stderr_tail_is_masked(tmp_path: Path) -> None:
    script = f"echo 'calling with sk-abcdefghijklmnopqrstuvwx as ACCT-12345678' >&2; exec {sys.executable} " \
             f"{SERVERS / 'versioned.py'} --version 1.0"  # fmt: skip
    config = fleet(
        tmp_path / "home", app=ServerSpec(package=CommandPackage(command="/bin/sh"), args=["-c", script])
    )
    config.audit.mask_patterns = ["ACCT-[0-9]{8}"]
    async with MCPManager(config) as manager:
        await manager.install("app")
        await manager.start_server("app")
        gateway = Gateway(manager)
        transport = httpx.ASGITransport(app=gateway.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http:
            stderr = (await http.get("/ui/api/servers/app")).json()["instances"][0]["stderr"]
        await gateway.aclose()
    assert stderr == "calling with *** as ***"
