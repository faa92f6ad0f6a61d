"""``contextforge``: ContextForge (``mcp-contextforge-gateway``) as its docs run it.

``mcpgateway.translate`` bridges the stdio echo to streamable HTTP, the gateway registers it
(POST /gateways), a virtual server bundles its tool (POST /servers), and clients call
/servers/ID/mcp with a JWT. One worker, SQLite.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from lib import ECHO
from lib.peers import ensure_peer, peer_version
from lib.procs import Proc, free_port, wait_http_ok
from lib.targets import Log, Running, wait_ready

VENV = "contextforge"
REQUIREMENT = "mcp-contextforge-gateway"  # 1.1.0 needs Python >= 3.12; uv picks the newest for 3.11


def settings(home: Path) -> dict[str, str]:
    """Its environment: fresh secrets, SQLite in ``home``, no UI, no plugins, no rate limits."""
    return {
        "JWT_SECRET_KEY": secrets.token_hex(32),
        "AUTH_ENCRYPTION_SECRET": secrets.token_hex(32),
        "PLATFORM_ADMIN_EMAIL": "admin@example.com",
        "PLATFORM_ADMIN_PASSWORD": "Bench-" + secrets.token_urlsafe(12) + "-1!",
        "BASIC_AUTH_PASSWORD": "Bench-" + secrets.token_urlsafe(12) + "-1!",
        "DATABASE_URL": f"sqlite:///{home}/contextforge.db",
        "CACHE_TYPE": "database",
        "LOG_LEVEL": "WARNING",
        "SSRF_ALLOW_LOCALHOST": "true",
        "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "true",
        "PLUGINS_ENABLED": "false",
        "DEV_MODE": "true",  # SQLite outside dev mode is refused
        # Its default rate limits (100 MCP requests/min) would answer 429 to any benchmark.
        "RATE_LIMITING_ENABLED": "false",
        "TOOL_RATE_LIMIT": "100000000",
    }


async def admin_token(python: str, env: dict[str, str], home: Path) -> str:
    """A JWT for the platform admin, from its own ``create_jwt_token``."""
    argv = [python, "-m", "mcpgateway.utils.create_jwt_token", "-u", "admin@example.com", "--admin"]
    argv += ["-e", "120", "-s", env["JWT_SECRET_KEY"]]
    done = await asyncio.to_thread(
        subprocess.run,
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=str(home),
    )
    return done.stdout.strip().splitlines()[-1]


async def register_echo(base: str, auth: dict[str, str], bridge_port: int) -> str:
    """Register the bridged echo (POST /gateways) and a virtual server with its tool; its id."""
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as api:
        r = await api.post(
            "/gateways",
            json={
                "name": "echo",
                "url": f"http://127.0.0.1:{bridge_port}/mcp",
                "transport": "STREAMABLEHTTP",
            },
        )
        r.raise_for_status()
        tools = [t for t in (await api.get("/tools")).json() if t.get("originalName") == "echo"]
        if not tools:
            raise RuntimeError("the echo tool did not show up in /tools")
        r = await api.post(
            "/servers", json={"server": {"name": "echo-bench", "associated_tools": [tools[0]["id"]]}}
        )
        r.raise_for_status()
        return str(r.json()["id"])


async def start(tmp: Path, log: Log) -> Running:
    venv = ensure_peer(VENV, REQUIREMENT, log)
    python = str(venv / "bin" / "python")
    home = tmp / "contextforge"
    home.mkdir()
    env = settings(home)
    bridge_port, port = free_port(), free_port()
    bridge = Proc(
        [
            python,
            "-m",
            "mcpgateway.translate",
            "--stdio",
            f"{sys.executable} {ECHO}",
            "--expose-streamable-http",
            "--jsonResponse",
            "--port",
            str(bridge_port),
            "--logLevel",
            "warning",
        ],
        tmp / "contextforge-translate.log",
        env=env,
        cwd=str(home),
    )
    gateway = Proc(
        [str(venv / "bin" / "mcpgateway"), "--host", "127.0.0.1", "--port", str(port)],
        tmp / "contextforge.log",
        env=env,
        cwd=str(home),
    )
    running = Running(
        "",
        [bridge, gateway],
        gateway.pid,
        {
            "version": peer_version(venv, "mcp-contextforge-gateway"),
            "how": "mcpgateway (1 worker, SQLite) -> virtual server -> gateway -> "
            "mcpgateway.translate --stdio echo.py (streamable HTTP, JSON)",
            "note": "1.1.0 (newest) needs Python >= 3.12; this machine has 3.11. Rate limiting off.",
        },
    )
    try:
        await wait_ready(f"http://127.0.0.1:{bridge_port}/mcp", bridge, 60)
        auth = {"authorization": f"Bearer {await admin_token(python, env, home)}"}
        base = f"http://127.0.0.1:{port}"
        if not await wait_http_ok(f"{base}/health", 120, every=0.5, timeout=60, headers=auth, proc=gateway):
            if gateway.exited():
                raise RuntimeError(f"mcpgateway exited: {gateway.tail()}")
            raise RuntimeError(f"mcpgateway not healthy in 120 s: {gateway.tail()}")
        server_id = await register_echo(base, auth, bridge_port)
        running.url = f"{base}/servers/{server_id}/mcp"
        running.headers = auth
        await wait_ready(running.url, gateway, 60, auth)
    except BaseException:
        running.stop()
        raise
    return running
