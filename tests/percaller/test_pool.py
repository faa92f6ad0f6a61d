"""Per-principal instances of a stdio server with ``${user:NAME}`` in its env and args, with real
processes (tests/servers/env_server.py answers with its TOKEN, its first argument and its PID):
each principal gets its own process with its own values, through the manager and through a real
gateway with API keys; a caller without the secret gets the error that names the command; idle
instances are reaped; status names principals, never values."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import fleet, own_server, routing_headers, serve_gateway, until
from mcpfleet.config import GatewayConfig
from mcpfleet.database import Database
from mcpfleet.exceptions import ServerUnavailableError
from mcpfleet.manager import MCPManager
from mcpfleet.percaller import PerCallerConfig, acting_for
from mcpfleet.percaller.pool import MissingCallerSecretError
from mcpfleet.security import ApiKeyStore, AuthConfig
from mcpfleet.security.user_secrets import KEY_ENV, SecretKey, UserSecretStore, generate_key

pytestmark = pytest.mark.timeout(90)

VALUES = {"alice": "tok-alice-$${not-a-template}", "bob": "tok-bob-0000000000"}
MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}


def with_secrets(home: Path, **per_caller: Any) -> tuple[Any, dict[str, str]]:
    """A fleet with the `env` server (TOKEN and its first argument from the caller's secrets), and
    the environment with the key that seals alice's and bob's secrets (carol has none)."""
    config = fleet(
        home,
        env=own_server(
            "env_server.py",
            "arg-${user:tok}",
            env={"TOKEN": "${user:tok}", "PLAIN": "${PLAIN:-x}"},
            per_caller=PerCallerConfig(**per_caller),
        ),
    )
    key = generate_key()
    database = Database.for_fleet(config)
    store = UserSecretStore(database, SecretKey.from_text(key, source="test"))
    for name, value in VALUES.items():
        store.set(name, "tok", value)
    database.dispose()
    return config, {**os.environ, KEY_ENV: key}


async def whoami(manager: MCPManager, principal: str | None) -> tuple[str, str, int]:
    with acting_for(principal):
        result = await manager.execute_tool("env", "whoami")
    token, arg, pid = result["content"][0]["text"].rsplit(" ", 2)
    return token, arg, int(pid)


def process_list() -> str:
    return subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout


async def test_each_principal_gets_its_own_process_with_its_own_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, environ = with_secrets(tmp_path / "home")
    async with MCPManager(config, auto_install=True, environ=environ) as manager:
        await manager.start_server("env")
        assert manager.running_servers() == ["env"] and manager.get_server_instances("env") == []
        alice = await whoami(manager, "alice")
        bob = await whoami(manager, "bob")
        assert alice[:2] == (VALUES["alice"], f"arg-{VALUES['alice']}")  # `$` in a value is no template
        assert bob[:2] == (VALUES["bob"], f"arg-{VALUES['bob']}")
        assert alice[2] != bob[2]
        assert await whoami(manager, "alice") == alice  # the same process again
        assert {p: i.pid for p, i in manager.per_caller.instances("env")} == {
            "alice": alice[2],
            "bob": bob[2],
        }
        listed = process_list()  # what docs/security.md warns of: args are visible, env is not
        assert f"arg-{VALUES['bob']}" in listed
        assert f"{VALUES['bob']} " not in listed.replace(f"arg-{VALUES['bob']}", "")

        with pytest.raises(MissingCallerSecretError) as missing:
            await whoami(manager, "carol")
        assert str(missing.value) == (
            "Server 'env' needs the secret 'tok' of 'carol' (for its env TOKEN), which is not set; an "
            "operator sets it with `mcpfleet secrets set --principal carol tok`"
        )
        with pytest.raises(MissingCallerSecretError, match="of 'anonymous'"):
            await whoami(manager, None)

        row = next(r for r in manager.status() if r["server"] == "env")
        assert row["per_caller"] == {
            "max_instances": 32,
            "idle_timeout": 300.0,
            "principals": ["alice", "bob"],
        }
        assert sorted((i["principal"], i["pid"], i["state"]) for i in row["instances"]) == [
            ("alice", alice[2], "ready"),
            ("bob", bob[2], "ready"),
        ]
        assert await manager.health_check("env")
        await manager.restart_server("env")  # stops them; each principal's next request starts one
        assert manager.per_caller.instances("env") == [] and manager.running_servers() == ["env"]
        shown = repr(row)
        await manager.stop_server("env")
        assert manager.running_servers() == [] and manager.status()[0]["instances"] == []
    for value in VALUES.values():
        assert value not in shown and value not in caplog.text
    for pid in (alice[2], bob[2]):  # stopped: no process is left
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


async def test_idle_instances_are_reaped_and_the_pool_is_capped(tmp_path: Path) -> None:
    config, environ = with_secrets(tmp_path / "home", max_instances=1, idle_timeout=0.5)
    async with MCPManager(config, auto_install=True, environ=environ) as manager:
        first = await whoami(manager, "alice")
        await until(lambda: not manager.per_caller.instances("env"), within=10)
        assert manager.status()[0]["per_caller"]["principals"] == []
        again = await whoami(manager, "alice")
        assert again[2] != first[2]  # reaped, then started afresh on the next request

        bob = await whoami(manager, "bob")  # the cap is one: alice's idle instance makes room
        assert [p for p, _ in manager.per_caller.instances("env")] == ["bob"] and bob[2] != again[2]
        assert [i["id"] for i in manager.status()[0]["instances"]] == ["env-0"]  # ids and logs are reused

        with acting_for("bob"):  # bob's instance is busy: alice has to wait her turn
            held = asyncio.ensure_future(manager.execute_tool("env", "hold", {"seconds": 1.5}))
        await until(lambda: manager.status()[0]["instances"][0]["in_flight"] == 1)
        with acting_for("alice"), pytest.raises(ServerUnavailableError, match="all 1 of its per-caller"):
            await manager.execute_tool("env", "whoami")
        assert (await held)["content"][0]["text"] == "held"


async def test_a_dead_instance_is_replaced_and_a_changed_secret_restarts_it(tmp_path: Path) -> None:
    config, environ = with_secrets(tmp_path / "home")
    async with MCPManager(config, auto_install=True, environ=environ) as manager:
        manager.per_caller.ttl = 0.0  # every request reads the store again
        first = await whoami(manager, "bob")
        os.kill(first[2], 9)
        await until(lambda: manager.status()[0]["instances"][0]["state"] != "ready")
        second = await whoami(manager, "bob")
        assert second[0] == VALUES["bob"] and second[2] != first[2]

        database = Database.for_fleet(config)
        store = UserSecretStore(database, SecretKey.from_environ(environ))
        store.set("bob", "tok", "tok-bob-rotated")
        third = await whoami(manager, "bob")
        assert third[0] == "tok-bob-rotated" and third[2] != second[2]
        store.delete("bob", "tok")
        database.dispose()
        with pytest.raises(MissingCallerSecretError, match="--principal bob tok"):
            await whoami(manager, "bob")


async def call(url: str, key: str, method: str = "tools/call") -> dict[str, Any]:
    params: dict[str, Any] = {"name": "env__whoami", "arguments": {}} if method == "tools/call" else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": MODERN}}
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            f"{url}/mcp", json=body, headers={**HEADERS, **routing_headers(body), "x-api-key": key}
        )
    result: dict[str, Any] = reply.json()["result"]
    return result


async def test_two_api_keys_through_a_real_gateway(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config, environ = with_secrets(tmp_path / "home")
    config.gateway = GatewayConfig(port=0)
    config.auth = AuthConfig(mode="api_key")
    database = Database.for_fleet(config)
    keys = {name: ApiKeyStore(database).create(name, "user")[0] for name in ("alice", "bob", "carol")}
    database.dispose()
    async with (
        MCPManager(config, auto_install=True, environ=environ) as manager,
        serve_gateway(manager) as url,
    ):
        await manager.start_all()
        async with httpx.AsyncClient() as http:  # its instances start per caller: nothing to wait for
            assert (await http.get(f"{url}/readyz")).status_code == 200
        listed = await call(url, keys["alice"], "tools/list")  # from alice's own instance
        assert {"env__whoami", "env__hold"} <= {t["name"] for t in listed["tools"]}
        seen = await asyncio.gather(*(call(url, keys[name]) for name in ("alice", "bob")))
        missing = await call(url, keys["carol"])
        status = repr(manager.status())
    (alice, _, alice_pid), (bob, _, bob_pid) = (r["content"][0]["text"].rsplit(" ", 2) for r in seen)
    assert (alice, bob) == (VALUES["alice"], VALUES["bob"]) and alice_pid != bob_pid
    assert missing["isError"] is True
    assert missing["content"][0]["text"].startswith(
        "Server 'env' needs the secret 'tok' of 'carol' (for its env TOKEN), which is not set; an "
        "operator sets it with `mcpfleet secrets set --principal carol tok`"
    )
    assert "'alice'" in status and "'bob'" in status
    stored = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("fleet.db*"))
    for value in VALUES.values():
        assert value not in status and value not in caplog.text and value.encode() not in stored
