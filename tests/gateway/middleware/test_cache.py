"""Tool results cached by the gateway: only what the fleet YAML allows, per caller unless shared,
never errors; in memory, and in the real Redis shared by two gateway replicas."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from helpers import fleet, own_server, routing_headers
from mcpfleet.cache import CacheConfig
from mcpfleet.config import GatewayConfig
from mcpfleet.database import Database
from mcpfleet.gateway import Gateway, GatewayServer
from mcpfleet.manager import MCPManager
from mcpfleet.security import ApiKeyStore, AuthConfig

pytestmark = pytest.mark.timeout(60)

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {"accept": "application/json", "mcp-protocol-version": "2026-07-28"}
REDIS_DB = 11


def policy(**extra: Any) -> CacheConfig:
    return CacheConfig.model_validate(
        {
            **extra,
            # lookup: read-only, so cached per caller; count: listed, shared by every caller.
            "servers": {"work": {"read_only": True, "tools": {"count": 60}, "shared": ["count"]}},
        }
    )


async def call(http: httpx.AsyncClient, url: str, tool: str, api_key: str, **args: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": args, "_meta": META}}  # fmt: skip
    headers = {**HEADERS, **routing_headers(body), "x-api-key": api_key}
    reply = (await http.post(f"{url}/servers/work/mcp", json=body, headers=headers)).json()
    return reply["result"]


def counters(text: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("mcp_cache_") and not line.startswith("#")
    }


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[MCPManager]:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=2))
    config.gateway = GatewayConfig(port=0)
    config.auth = AuthConfig.model_validate({"mode": "api_key"})
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_all()
        yield manager


async def serve(manager: MCPManager, cache: CacheConfig) -> GatewayServer:
    manager.config.cache = cache
    server = GatewayServer(Gateway(manager))
    await server.start()
    return server


async def test_only_safe_results_are_cached_per_caller_unless_shared(manager: MCPManager) -> None:
    store = ApiKeyStore(Database.for_fleet(manager.config))
    ann, bob = store.create("ann", "admin")[0], store.create("bob", "admin")[0]
    server = await serve(manager, policy())
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            first = await call(http, server.url, "lookup", ann, key="k")
            again = await call(http, server.url, "lookup", ann, key="k")
            await call(http, server.url, "lookup", bob, key="k")  # bob's own entry: a miss
            assert again == first  # 2 instances answer in turn: the same pid means the cache answered
            await call(http, server.url, "store", ann, key="x")  # not read-only: never cached
            await call(http, server.url, "store", ann, key="x")
            counted = await call(http, server.url, "count", ann)
            assert await call(http, server.url, "count", bob) == counted  # shared between callers
            bad = await call(http, server.url, "lookup", ann)  # no key: a tool error
            assert bad["isError"] and (await call(http, server.url, "lookup", ann))["isError"]
            found = counters((await http.get(f"{server.url}/metrics", headers={"x-api-key": ann})).text)
    finally:
        await server.stop()
    # hits: ann's second lookup, bob's count; misses: ann, bob (lookup), count, the two errors.
    assert found["mcp_cache_hits_total"] == 2
    assert found["mcp_cache_misses_total"] == 5
    assert found["mcp_cache_entries"] == 3


async def test_replicas_share_one_redis_cache(manager: MCPManager) -> None:
    store = ApiKeyStore(Database.for_fleet(manager.config))
    ann = store.create("ann", "admin")[0]
    prefix = f"mcpfleet-test-{uuid.uuid4().hex[:8]}:"
    shared = policy(backend="redis", redis_url=f"redis://127.0.0.1:6379/{REDIS_DB}", key_prefix=prefix)
    one, two = await serve(manager, shared), await serve(manager, shared)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            first = await call(http, one.url, "lookup", ann, key="k")
            assert await call(http, two.url, "lookup", ann, key="k") == first  # from Redis
            hits = counters((await http.get(f"{two.url}/metrics", headers={"x-api-key": ann})).text)
    finally:
        await one.stop()
        await two.stop()
        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        for name in client.scan_iter(match=f"{prefix}*"):
            client.delete(name)
        client.close()
    assert hits["mcp_cache_hits_total"] == 1
