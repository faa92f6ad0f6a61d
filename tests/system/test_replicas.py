"""Two gateway replicas (real `mcpfleet up` processes) sharing one Redis and a session secret:
a session-protocol client's requests alternate between them, one is SIGKILLed mid-traffic,
and the client keeps working on the other: its session, the cache and rate limits are shared."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import redis

from helpers import fleet, free_port, own_server, wait_port
from mcpfleet.cache import CacheConfig
from mcpfleet.config import GatewayConfig, dump_config
from mcpfleet.ratelimit import RateLimitConfig

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

REDIS_DB = 10
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def start(config: Path, home: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MCPFLEET_HOME": str(home), "FLEET_SESSION_SECRET": "not-a-real-secret-0123456789"}
    command = [sys.executable, "-m", "mcpfleet", "-c", str(config), "up", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    prefix = f"mcpfleet-replicas-{uuid.uuid4().hex[:8]}:"
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    config = fleet(tmp_path / "unused", toy=own_server("toy.py"))
    config.gateway = GatewayConfig(
        session_secret="${FLEET_SESSION_SECRET}",
        rate_limits=RateLimitConfig.model_validate(
            {"backend": "redis", "redis_url": url, "key_prefix": prefix + "rl:",
             "principals": {"default": {"rate": "10/hour", "burst": 60}}}
        ),
    )  # fmt: skip
    config.cache = CacheConfig.model_validate(
        {
            "backend": "redis",
            "redis_url": url,
            "key_prefix": prefix + "c:",
            "servers": {"toy": {"tools": {"pid": 60}}},
        }
    )
    (tmp_path / "mcpfleet.yaml").write_text(dump_config(config))
    logs = [(tmp_path / f"up{n}.log").open("wb") for n in (1, 2)]
    ports = [free_port(), free_port()]
    processes = [
        start(tmp_path / "mcpfleet.yaml", tmp_path / f"home{n}", port, log)
        for n, port, log in zip((1, 2), ports, logs, strict=True)
    ]
    try:
        yield [f"http://127.0.0.1:{p}/mcp" for p in ports], processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        for log in logs:
            log.close()
        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        for name in client.scan_iter(match=f"{prefix}*"):
            client.delete(name)
        client.close()


async def post(
    http: httpx.AsyncClient, urls: list[str], turn: int, message: dict[str, Any], session: str
) -> Any:
    """Like an HTTP load balancer: this turn's replica, or the other if it does not answer."""
    for url in (urls[turn % 2], urls[(turn + 1) % 2]):
        try:
            reply = await http.post(url, json=message, headers={**HEADERS, "mcp-session-id": session})
        except httpx.TransportError:
            continue
        return url, reply
    raise AssertionError("no replica answered")


async def test_a_session_survives_alternating_replicas_and_losing_one(
    replicas: tuple[list[str], list[subprocess.Popen[bytes]]],
) -> None:
    urls, processes = replicas
    for url in urls:
        await wait_port(int(url.split(":")[2].split("/")[0]), within=60)
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    async with httpx.AsyncClient(timeout=30) as http:
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}
        opened = await http.post(urls[0], json=init, headers=HEADERS)
        session = opened.headers["mcp-session-id"]
        await http.post(urls[0], json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                        headers={**HEADERS, "mcp-session-id": session})  # fmt: skip
        served: dict[str, int] = {}
        pids: set[str] = set()
        for turn in range(1, 41):
            if turn == 20:
                os.killpg(processes[0].pid, signal.SIGKILL)  # replica 1 dies mid-traffic
                await asyncio.to_thread(processes[0].wait, 30)
            message = {"jsonrpc": "2.0", "id": turn, "method": "tools/call",
                       "params": {"name": "toy__pid", "arguments": {}}}  # fmt: skip
            url, reply = await post(http, urls, turn, message, session)
            assert reply.status_code == 200, reply.text
            body = (
                reply.json()
                if reply.headers["content-type"].startswith("application/json")
                else _sse(reply.text)
            )
            assert "result" in body, body
            served[url] = served.get(url, 0) + 1
            pids.add(body["result"]["content"][0]["text"])
        # Both replicas served the one session; after the kill replica 2 served everything.
        assert served[urls[0]] >= 9 and served[urls[1]] >= 20
        # The result was cached once in the shared Redis and served by both replicas from there.
        assert len(pids) == 1
        # One rate-limit budget for both: 60 calls in 40 turns leaves 20 (turn 0 aside).
        for turn in range(41, 61):
            message = {"jsonrpc": "2.0", "id": turn, "method": "tools/call",
                       "params": {"name": "toy__pid", "arguments": {}}}  # fmt: skip
            _, reply = await post(http, urls, 1, message, session)
            body = reply.json()
            assert "result" in body, body
        _, reply = await post(http, urls, 1, {**message, "id": 99}, session)
        assert reply.json()["error"]["code"] == -32029


def _sse(text: str) -> Any:
    import json

    data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


def test_session_ids_are_signed_and_bound_to_their_opener() -> None:
    from mcpfleet.gateway.context import ClientState
    from mcpfleet.gateway.sessions import SessionStore
    from mcpfleet.security import Principal

    ann, bob = Principal("ann", ("admin",), "api_key"), Principal("bob", ("admin",), "api_key")
    one, two = SessionStore(secret="s3cret-for-tests"), SessionStore(secret="s3cret-for-tests")
    client = ClientState("2025-11-25", principal=ann)
    one.open(client, {"protocolVersion": "2025-06-18", "capabilities": {"sampling": {}}})
    rebuilt = two.find(client.id, ann, None)
    assert rebuilt is not None and rebuilt.protocol_version == "2025-06-18"
    assert rebuilt.capabilities == {"sampling": {}}
    assert SessionStore(secret="s3cret-for-tests").find(client.id, bob, None) is None  # not bob's
    assert SessionStore(secret="another-secret").find(client.id, ann, None) is None
    assert SessionStore().find(client.id, ann, None) is None  # no secret: only its own sessions
    payload, signature = client.id.rsplit(".", 1)
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert SessionStore(secret="s3cret-for-tests").find(forged, ann, None) is None
