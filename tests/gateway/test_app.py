"""Authentication and access control at the gateway, end to end over HTTP: API keys from the fleet
database and JWTs signed here, verified against a JWKS served by a local identity provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import fleet, own_server, routing_headers, serve_gateway
from idp import AUDIENCE, Issuer, rsa_key, serve_issuer
from mcpfleet.audit.records import AuditQuery
from mcpfleet.audit.stores.auto import open_store
from mcpfleet.config import FleetConfig, GatewayConfig
from mcpfleet.database import Database
from mcpfleet.exceptions import ConfigError
from mcpfleet.gateway import Gateway, GatewayServer
from mcpfleet.manager import MCPManager
from mcpfleet.security import AccessConfig, ApiKeyStore, AuthConfig

pytestmark = pytest.mark.timeout(60)

MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}
ACCESS = {
    "roles": {
        "admin": ["all"],
        "developer": ["read", "execute", "list"],
        "viewer": ["read", "list"],
        "reader": ["read", "list"],  # no grant on toy: READ calls its readOnlyHint tools
    },
    "servers": {"toy": {"admin": ["*"], "developer": ["echo", "pid"], "viewer": ["echo"]}},
}


@dataclass
class Fleet:
    url: str
    keys: dict[str, str]
    issuer: Issuer
    signer: Any
    config: FleetConfig


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Fleet]:
    signer = rsa_key("k1")
    async with serve_issuer([signer]) as issuer:
        config = fleet(tmp_path / "home", toy=own_server("toy.py"))
        config.gateway = GatewayConfig(port=0, virtual_servers={"tiny": ["toy__echo", "toy__crash"]})
        config.auth = AuthConfig.model_validate(
            {"mode": "api_key+jwt", "resource": AUDIENCE, "jwt": {"issuer": issuer.url}}
        )
        config.access = AccessConfig.model_validate(ACCESS)
        store = ApiKeyStore(Database.for_fleet(config))
        keys = {
            role: store.create(f"{role}-key", role)[0] for role in ("admin", "developer", "viewer", "reader")
        }
        async with MCPManager(config, auto_install=True) as manager:
            await manager.start_all()
            async with serve_gateway(manager) as url:
                yield Fleet(url, keys, issuer, signer, config)


async def rpc(http: httpx.AsyncClient, url: str, method: str, params: dict[str, Any], **headers: str) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": MODERN}}
    return await http.post(url, json=body, headers={**HEADERS, **routing_headers(body), **headers})


async def test_no_credentials_or_bad_ones_get_401_with_a_challenge(secured: Fleet) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        bare = await rpc(http, f"{secured.url}/mcp", "tools/list", {})
        forged = await rpc(
            http, f"{secured.url}/mcp", "tools/list", {}, authorization="Bearer mcpf_00000000_x"
        )
        metadata = await http.get(f"{secured.url}/.well-known/oauth-protected-resource/mcp")
        probe = await http.get(f"{secured.url}/healthz")
    assert bare.status_code == 401 and forged.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer resource_metadata=")
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    assert metadata.json()["authorization_servers"] == [secured.issuer.url]
    assert probe.status_code == 200  # Kubernetes probes need no credentials


async def test_each_role_sees_and_calls_only_what_it_may(secured: Fleet) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        # fleet__find_servers is a call (EXECUTE); fleet__add_server changes the fleet (WRITE): hidden.
        for path, names in (
            ("/mcp", {"toy__echo", "toy__pid", "fleet__find_servers"}),
            ("/servers/toy/mcp", {"echo", "pid"}),
        ):
            listed = await rpc(
                http, secured.url + path, "tools/list", {}, **{"x-api-key": secured.keys["developer"]}
            )
            assert {t["name"] for t in listed.json()["result"]["tools"]} == names
        viewer = {"x-api-key": secured.keys["viewer"]}
        listed = await rpc(http, f"{secured.url}/virtual/tiny/mcp", "tools/list", {}, **viewer)
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["toy__echo"]
        # The viewer's grant names echo alone: it calls echo without EXECUTE, and nothing else there.
        granted = await rpc(
            http, f"{secured.url}/mcp", "tools/call", {"name": "toy__echo", "arguments": {}}, **viewer
        )
        assert "result" in granted.json()
        denied = await rpc(
            http, f"{secured.url}/mcp", "tools/call", {"name": "toy__pid", "arguments": {}}, **viewer
        )
        assert denied.json()["error"]["code"] == -32003
        assert "access.servers.toy" in denied.json()["error"]["message"]
        # Without a grant, READ calls a tool marked readOnlyHint (echo); pid needs EXECUTE.
        reader = {"x-api-key": secured.keys["reader"]}
        read_only = await rpc(
            http, f"{secured.url}/mcp", "tools/call", {"name": "toy__echo", "arguments": {}}, **reader
        )
        assert "result" in read_only.json()
        refused = await rpc(
            http, f"{secured.url}/mcp", "tools/call", {"name": "toy__pid", "arguments": {}}, **reader
        )
        assert "EXECUTE permission" in refused.json()["error"]["message"]
        # A developer calls echo but not crash, on every path.
        developer = {"x-api-key": secured.keys["developer"]}
        ok = await rpc(
            http,
            f"{secured.url}/servers/toy/mcp",
            "tools/call",
            {"name": "echo", "arguments": {"text": "hi"}},
            **developer,
        )
        assert ok.json()["result"]["content"][0]["text"] == "hi"
        for path, name in (
            ("/mcp", "toy__crash"),
            ("/servers/toy/mcp", "crash"),
            ("/virtual/tiny/mcp", "toy__crash"),
        ):
            refused = await rpc(
                http, secured.url + path, "tools/call", {"name": name, "arguments": {}}, **developer
            )
            assert refused.json()["error"]["code"] == -32003, path
            assert "access.servers.toy" in refused.json()["error"]["message"]
        # The toy server is still alive: crash never reached it.
        alive = await rpc(
            http, f"{secured.url}/mcp", "tools/call", {"name": "toy__pid", "arguments": {}}, **developer
        )
        assert "result" in alive.json()


async def test_jwt_roles_come_from_the_token(secured: Fleet) -> None:
    token = secured.signer.sign(secured.issuer.claims(sub="carol", roles=["developer"]))
    expired = secured.signer.sign(secured.issuer.claims(exp=1_000_000))
    async with httpx.AsyncClient(timeout=30) as http:
        ok = await rpc(http, f"{secured.url}/mcp", "tools/list", {}, authorization=f"Bearer {token}")
        late = await rpc(http, f"{secured.url}/mcp", "tools/list", {}, authorization=f"Bearer {expired}")
    assert {t["name"] for t in ok.json()["result"]["tools"]} == {
        "toy__echo",
        "toy__pid",
        "fleet__find_servers",
    }
    assert late.status_code == 401


async def test_admin_api_needs_an_admin_and_sessions_stay_with_their_caller(secured: Fleet) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        developer = await http.get(
            f"{secured.url}/api/v1/status", headers={"x-api-key": secured.keys["developer"]}
        )
        admin = await http.get(f"{secured.url}/api/v1/status", headers={"x-api-key": secured.keys["admin"]})
        assert developer.status_code == 403 and "ADMIN permission" in developer.text
        assert admin.status_code == 200
        hello = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
        headers = {"accept": "application/json, text/event-stream", "x-api-key": secured.keys["developer"]}
        opened = await http.post(f"{secured.url}/mcp", json=init, headers=headers)
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        stolen = await http.post(
            f"{secured.url}/mcp",
            json=listing,
            headers={**headers, "mcp-session-id": session, "x-api-key": secured.keys["viewer"]},
        )
        own = await http.post(
            f"{secured.url}/mcp", json=listing, headers={**headers, "mcp-session-id": session}
        )
    assert stolen.status_code == 404  # another caller's session id is worth nothing
    assert own.status_code == 200


async def test_beyond_loopback_without_authentication_is_refused(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path / "home"), auto_install=True) as manager:
        with pytest.raises(ConfigError, match="auth"):
            GatewayServer(Gateway(manager), host="0.0.0.0", port=0)


async def test_every_call_is_audited_with_who_where_and_masked_arguments(secured: Fleet) -> None:
    developer = {"x-api-key": secured.keys["developer"]}
    arguments = {"text": "hi", "password": "hunter2", "note": "key sk-abcdefghijklmnopqrstuvwx"}
    async with httpx.AsyncClient(timeout=30) as http:
        ok = await rpc(
            http,
            f"{secured.url}/mcp",
            "tools/call",
            {"name": "toy__echo", "arguments": arguments},
            **developer,
        )
        no = await rpc(
            http, f"{secured.url}/mcp", "tools/call", {"name": "toy__crash", "arguments": {}}, **developer
        )
    rid = no.json()["error"]["data"]["requestId"]
    assert "result" in ok.json()
    store = open_store(secured.config)
    records = []
    for _ in range(100):  # written in batches, off the call path
        records = store.query(AuditQuery(server="toy"))
        if len(records) == 2:
            break
        await asyncio.sleep(0.05)
    denied, done = records  # newest first
    assert (done.tool, done.outcome, done.user, done.role) == (
        "echo",
        "success",
        "developer-key",
        "developer",
    )
    assert done.client is not None and done.client.startswith("127.0.0.1:")
    text = json.dumps(done.params)
    assert "hunter2" not in text and "sk-abcdefghijklmnopqrstuvwx" not in text and '"hi"' in text
    assert (denied.tool, denied.outcome, denied.request_id) == ("crash", "denied", rid)
    assert "access.servers.toy" in (denied.error or "")
    assert store.verify().ok
