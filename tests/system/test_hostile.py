"""Hostile callers against a real `mcpfleet up`: malformed input, session floods, secrets in stderr.

Every malformed request gets a JSON-RPC error or a 4xx with a JSON body, at once; none gets a 5xx
or hangs, and a normal call works after each. One caller flooding sessions is refused past its
cap while another keeps calling; what a crashing server printed to stderr reaches operators,
never a client. Traffic stays on loopback; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from helpers import fleet, free_port, own_server, wait_port
from mcpfleet.config import GatewayConfig, dump_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

SECRET = "hunter2-4d3f9e"
CAP = 20  # sessions per caller in this fleet
JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


url_root: dict[str, str] = {}  # gateway URL -> the folder of its fleet


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    root = tmp_path_factory.mktemp("hostile")
    config = fleet(
        root / "home",
        echo=own_server("echo_server.py"),
        leaky=own_server("leaky_server.py", env={"DB_PASSWORD": "${DB_PASSWORD}"}),
    )
    config.gateway = GatewayConfig(max_sessions_per_caller=CAP)
    (root / "mcpfleet.yaml").write_text(dump_config(config))
    port = free_port()
    log = (root / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "mcpfleet", "-c", str(root / "mcpfleet.yaml"), "up", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        env={**os.environ, "DB_PASSWORD": SECRET},
    )  # fmt: skip
    try:
        asyncio.run(wait_port(port, within=60))
        url = f"http://127.0.0.1:{port}"
        asyncio.run(_until_ready(url))
        url_root[url] = str(root)
        yield url, up
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        log.close()


async def _until_ready(url: str) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(300):
            if (await http.get(f"{url}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the fleet never became ready")


@contextlib.asynccontextmanager
async def _session(http: httpx.AsyncClient, url: str) -> AsyncIterator[dict[str, str]]:
    """A session (2025-11-25) for the block, ended with DELETE after it; yields its headers."""
    opened = await http.post(
        url,
        headers=JSON,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    headers = {**JSON, "mcp-session-id": opened.headers["mcp-session-id"]}
    await http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    try:
        yield headers
    finally:
        await http.delete(url, headers=headers)


def _call(name: str, arguments: Any, msg_id: Any = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def _modern(body: dict[str, Any], **headers: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = {**body, "params": {**body.get("params", {}), "_meta": MODERN_META}}
    name = body["params"].get("name", body["params"].get("uri"))
    routing = {"mcp-method": body["method"], **({"mcp-name": name} if isinstance(name, str) else {})}
    return body, {**JSON, "mcp-protocol-version": "2026-07-28", **routing, **headers}


DEEP = b"[" * 100_000 + b"]" * 100_000
# (case, body bytes or JSON, whether it needs a session); each must be refused cleanly.
CORPUS: list[tuple[str, Any, bool]] = [
    ("empty body", b"", False),
    ("whitespace body", b"  \n ", False),
    ("not JSON", b"hello", False),
    ("truncated JSON", b'{"jsonrpc": "2.0", "id": 1', False),
    ("NaN", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": NaN}}', False),
    ("Infinity", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": -Infinity}}', False),
    ("100,000-deep arrays", DEEP, False),
    ("200-deep objects", b'{"a":' * 200 + b"1" + b"}" * 200, False),
    ("a JSON string", b'"hello"', False),
    ("a JSON number", b"42", False),
    ("JSON null", b"null", False),
    ("an empty batch", b"[]", False),
    ("a batch of numbers", b"[1, 2]", False),
    ("an empty object", b"{}", False),
    ("JSON-RPC 1.0", {"jsonrpc": "1.0", "id": 1, "method": "ping"}, False),
    ("an object as id", {"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, True),
    ("a list as id", {"jsonrpc": "2.0", "id": [1], "method": "ping"}, True),
    ("true as id", {"jsonrpc": "2.0", "id": True, "method": "ping"}, True),
    ("a fraction as id", {"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, True),
    ("null as id", {"jsonrpc": "2.0", "id": None, "method": "ping"}, True),
    ("a 1 MB id", {"jsonrpc": "2.0", "id": "x" * 1_000_000, "method": "ping"}, True),
    ("a number as method", {"jsonrpc": "2.0", "id": 1, "method": 5}, True),
    ("an empty method", {"jsonrpc": "2.0", "id": 1, "method": ""}, True),
    ("no method, no result", {"jsonrpc": "2.0", "id": 1}, True),
    ("a list as params", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1, 2]}, True),
    ("a string as params", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": "x"}, True),
    ("a string as arguments", _call("echo__echo", "x"), True),
    ("a number as arguments", _call("echo__echo", 5), True),
    ("a list as arguments", _call("echo__echo", [1]), True),
    (
        "a number as tool name",
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}},
        True,
    ),
    ("no tool name", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}, True),
    ("an unknown tool", _call("nope__nothing", {}), True),
    ("an unknown server's tool", _call("ghost__echo", {}), True),
    ("a number as URI", {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": 5}}, True),
    (
        "a null prompt name",
        {"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": None}},
        True,
    ),
    (
        "an unknown log level",
        {"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "loud"}},
        True,
    ),
    ("an unknown method", {"jsonrpc": "2.0", "id": 1, "method": "foo/bar"}, True),
    ("a batch on 2025-11-25", [{"jsonrpc": "2.0", "id": 1, "method": "ping"}], True),
    (
        "garbage completion ref",
        {"jsonrpc": "2.0", "id": 1, "method": "completion/complete", "params": {"ref": 7}},
        True,
    ),
    (
        "a string as initialize params",
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": "x"},
        False,
    ),
    (
        "3 MB of capabilities",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"x": "y" * 3_000_000},
                "clientInfo": {},
            },
        },
        False,
    ),
    (
        "a 2026-07-28 call without capabilities",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
        },
        False,
    ),
    (
        "a 2026-07-28 call of an unknown version",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/list",
            "params": {"_meta": {**MODERN_META, "io.modelcontextprotocol/protocolVersion": "1999-01-01"}},
        },
        False,
    ),
]


async def _ok_call(http: httpx.AsyncClient, url: str) -> None:
    async with _session(http, f"{url}/mcp") as headers:
        reply = await http.post(
            f"{url}/mcp", headers=headers, json=_call("echo__echo", {"text": "still here"})
        )
    assert reply.status_code == 200
    assert reply.json()["result"]["content"][0]["text"] == "still here"


@pytest.mark.parametrize(("case", "body", "in_session"), CORPUS, ids=[c[0] for c in CORPUS])
async def test_malformed_input_is_refused_at_once(
    gateway: tuple[str, Any], case: str, body: Any, in_session: bool
) -> None:
    url, _ = gateway
    async with httpx.AsyncClient(timeout=10) as http, contextlib.AsyncExitStack() as stack:
        headers = await stack.enter_async_context(_session(http, f"{url}/mcp")) if in_session else JSON
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        started = time.monotonic()
        reply = await http.post(f"{url}/mcp", headers=headers, content=content)
        took = time.monotonic() - started
        assert took < 1.0, f"{case}: {took:.2f} s"
        assert reply.status_code < 500, f"{case}: HTTP {reply.status_code} {reply.text[:300]}"
        answer = reply.json()
        assert "error" in answer or answer.get("result", {}).get("isError"), f"{case}: {answer}"
        if "error" in answer:
            refusals = (-32700, -32600, -32601, -32602, -32020, -32021, -32022)  # the last: SEP-2575
            assert answer["error"]["code"] in refusals, f"{case}: {answer}"
            assert len(reply.content) < 2000  # nothing of a huge request is echoed back
        await _ok_call(http, url)


_ECHO = json.dumps(_call("echo__echo", {"text": "x"})).encode()
_LISTED, _LISTED_HEADERS = _modern(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, **{"mcp-method": "prompts/list"}
)
# HTTP-level refusals: (case, method, path, headers, body)
HTTP_CASES: list[tuple[str, str, str, dict[str, str], bytes]] = [
    ("a text body", "POST", "/mcp", {"content-type": "text/plain"}, b"{}"),
    ("Accept: text/html", "POST", "/mcp", {"content-type": "application/json", "accept": "text/html"}, b"{}"),
    ("a body over 4 MiB", "POST", "/mcp", JSON, b" " * (4 * 1024 * 1024 + 10)),
    ("GET without a session", "GET", "/mcp", {"accept": "text/event-stream"}, b""),
    ("DELETE of an unknown session", "DELETE", "/mcp", {"mcp-session-id": "nope"}, b""),
    ("PUT", "PUT", "/mcp", JSON, b"{}"),
    ("an unknown server", "POST", "/servers/TOY/mcp", JSON, b"{}"),
    ("an unknown virtual server", "POST", "/virtual/nope/mcp", JSON, b"{}"),
    ("a session id nobody issued", "POST", "/mcp", {**JSON, "mcp-session-id": "forged"}, _ECHO),
    ("mismatched Mcp-Method", "POST", "/mcp", _LISTED_HEADERS, json.dumps(_LISTED).encode()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "method", "path", "headers", "body"), HTTP_CASES, ids=[c[0] for c in HTTP_CASES]
)
async def test_bad_http_requests_get_a_4xx_with_a_json_body(
    gateway: tuple[str, Any], case: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    url, _ = gateway
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.request(method, f"{url}{path}", headers=headers, content=body)
        assert 400 <= reply.status_code < 500, f"{case}: HTTP {reply.status_code} {reply.text[:300]}"
        assert reply.json()["error"]["message"], case
        if path == "/servers/TOY/mcp":
            assert reply.status_code == 404 and "echo" in reply.json()["error"]["message"]
        await _ok_call(http, url)


async def test_a_session_flood_is_capped_and_another_caller_keeps_calling(gateway: tuple[str, Any]) -> None:
    url, up = gateway
    rss_before = psutil.Process(up.pid).memory_info().rss
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # another caller, by address
    async with (
        httpx.AsyncClient(timeout=10) as flood,
        httpx.AsyncClient(timeout=10, transport=other) as calm,
        contextlib.AsyncExitStack() as stack,
    ):
        calm_headers = await stack.enter_async_context(_session(calm, f"{url}/mcp"))
        statuses: list[int] = []
        failures = 0

        async def keep_calling() -> None:
            nonlocal failures
            for _ in range(40):
                reply = await calm.post(
                    f"{url}/mcp", headers=calm_headers, json=_call("echo__echo", {"text": "x"})
                )
                failures += reply.status_code != 200 or "result" not in reply.json()
                await asyncio.sleep(0.01)

        async def open_many() -> None:
            big = {"x": "y" * 3_000_000}
            for n in range(60):
                params = {
                    "protocolVersion": "2025-11-25",
                    "capabilities": big if n % 2 else {},
                    "clientInfo": {},
                }
                body = {"jsonrpc": "2.0", "id": n, "method": "initialize", "params": params}
                reply = await flood.post(f"{url}/mcp", headers=JSON, json=body)
                statuses.append(reply.status_code)
                if reply.status_code == 200:
                    opened.append(reply.headers["mcp-session-id"])
                if reply.status_code == 429:
                    assert reply.headers["retry-after"]

        opened: list[str] = []
        await asyncio.gather(keep_calling(), open_many())
        for session_id in opened:
            await flood.delete(f"{url}/mcp", headers={"mcp-session-id": session_id})
    assert failures == 0
    assert statuses.count(200) <= CAP and 429 in statuses and 400 in statuses  # capped, over budget
    growth = (psutil.Process(up.pid).memory_info().rss - rss_before) / 2**20
    assert growth < 60, f"the gateway grew {growth:.0f} MiB under the flood"


async def test_what_a_crashing_server_printed_never_reaches_the_client(gateway: tuple[str, Any]) -> None:
    url, _ = gateway
    async with httpx.AsyncClient(timeout=30) as http, _session(http, f"{url}/mcp") as headers:
        replies = [await http.post(f"{url}/mcp", headers=headers, json=_call("leaky__crash", {}))]
        for name in ("leaky__crash", "leaky__echo"):  # while it restarts, and after
            await asyncio.sleep(0.3)
            replies.append(await http.post(f"{url}/mcp", headers=headers, json=_call(name, {"text": "x"})))
    for reply in replies:
        assert SECRET not in reply.text
        assert "stderr" not in reply.text
    first = replies[0].json()
    assert first["result"]["isError"] and "request id" in first["result"]["content"][0]["text"]
    # Operators see what it printed, with its secret masked: in its own log and the gateway's.
    root = Path(url_root[url])
    server_logs = "".join(p.read_text() for p in (root / "home" / "logs" / "leaky").glob("*.log*"))
    assert "connecting with DB_PASSWORD=***" in server_logs and SECRET not in server_logs
    assert SECRET not in (root / "up.log").read_text()
