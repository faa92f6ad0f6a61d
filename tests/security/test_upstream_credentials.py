"""Per-user header values through a real gateway: each caller's own secret reaches a real remote
MCP server (ours, which answers `whoami` with the Authorization header it received), and the
values are nowhere in the fleet database or the logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import fleet, routing_headers, serve_gateway, serve_http
from mcpfleet.config import GatewayConfig, RemotePackage, ServerSpec
from mcpfleet.database import Database
from mcpfleet.exceptions import SecretError
from mcpfleet.manager import MCPManager
from mcpfleet.security import ApiKeyStore, AuthConfig
from mcpfleet.security.user_secrets import KEY_ENV, SecretKey, UserSecretStore, generate_key

pytestmark = pytest.mark.timeout(60)

MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}
VALUES = {"alice": "ghp_alice0000000000000000000000000000", "bob": "ghp_bob11111111111111111111111111111111"}


async def call(url: str, key: str, name: str) -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}, "_meta": MODERN},
    }
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            f"{url}/mcp", json=body, headers={**HEADERS, **routing_headers(body), "x-api-key": key}
        )
    result: dict[str, Any] = reply.json()["result"]
    return result


async def test_each_caller_reaches_the_server_with_their_own_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = generate_key()
    async with serve_http("http_server.py", "{port}") as upstream:
        config = fleet(
            tmp_path / "home",
            remote=ServerSpec(
                package=RemotePackage(url=upstream.url),
                headers={"Authorization": "Bearer ${user:github_token}", "X-Team": "${TEAM:-core}"},
            ),
        )
        config.gateway = GatewayConfig(port=0)
        config.auth = AuthConfig(mode="api_key")
        database = Database.for_fleet(config)
        keys = {name: ApiKeyStore(database).create(name, "user")[0] for name in ("alice", "bob", "carol")}
        secrets = UserSecretStore(database, SecretKey.from_text(key, source="test"))
        for name, value in VALUES.items():
            secrets.set(name, "github_token", value)
        environ = {**os.environ, KEY_ENV: key}
        async with (
            MCPManager(config, auto_install=True, environ=environ) as manager,
            serve_gateway(manager) as url,
        ):
            await manager.start_all()
            seen = {
                name: (await call(url, keys[name], "remote__whoami"))["content"][0]["text"] for name in VALUES
            }
            missing = await call(url, keys["carol"], "remote__whoami")
        database.dispose()
    assert seen == {name: f"Bearer {value}" for name, value in VALUES.items()}
    assert missing["isError"] is True
    assert missing["content"][0]["text"] == (
        "Server 'remote' needs the secret 'github_token' of 'carol' (for its Authorization header), which is "
        "not set; an operator sets it with `mcpfleet secrets set --principal carol github_token`"
    )
    stored = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("fleet.db*"))
    assert b"remote" in stored and b"whoami" in stored  # the calls were audited...
    for value in VALUES.values():  # ...and no secret is in the database (sealed) or the logs
        assert value.encode() not in stored
        assert value not in caplog.text


async def test_a_fleet_using_user_secrets_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    from mcpfleet.gateway import Gateway

    config = fleet(
        tmp_path / "home",
        remote=ServerSpec(
            package=RemotePackage(url="http://127.0.0.1:9/mcp"), headers={"Authorization": "Bearer ${user:t}"}
        ),
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MCPFLEET_SECRET_KEY")}
    async with MCPManager(config, environ=environ) as manager:
        with pytest.raises(SecretError, match="no key for per-user secrets: set MCPFLEET_SECRET_KEY"):
            Gateway(manager)


def test_user_references_are_only_for_remote_headers(tmp_path: Path) -> None:
    from mcpfleet.secrets import references, resolve, user_references

    assert references("Bearer ${user:gh} ${HOME}") == ["HOME"]
    assert user_references("Bearer ${user:gh} ${HOME}") == ["gh"]
    assert resolve("Bearer ${user:gh}", {}, where="h", keep_user=True) == "Bearer ${user:gh}"
    with pytest.raises(SecretError, match=r"servers.x.env.T: \$\{user:gh\} is a per-caller secret"):
        resolve("${user:gh}", {}, where="servers.x.env.T")
