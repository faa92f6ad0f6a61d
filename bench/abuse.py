"""Abuse benchmark: a real `mcpfleet up` under floods and slow clients, and a calm caller beside them.

    .venv/bin/python bench/abuse.py [--calls 200] [--flood 60] [--slow 150] [--trickle 50]

Prints one JSON object. The fleet is one echo server (bench/servers/echo.py) behind `mcpfleet up`
on a free loopback port, with a small session cap per caller. For each attack it gives the
gateway's RSS before and after (MiB) and the p50 / p99 latency of a calm caller's tools/call
while the attack runs (it calls from 127.0.0.2, another address than the attacker's):

- ``baseline``: no attack;
- ``session_flood``: ``--flood`` initialize requests, every other one with 3 MB of capabilities;
- ``slow_headers``: ``--slow`` connections that send half a request line and then nothing;
- ``trickle``: ``--trickle`` requests whose body arrives a byte a second.

Every attack is bounded in count and time; all traffic is on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from typing import Any

import httpx
import psutil
from lib import cli
from lib.fleet import mcpfleet_up, own_server
from lib.procs import Proc, wait_http_ok

from mcpfleet.config import FleetConfig, GatewayConfig

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


async def open_session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "calm"}}
    reply = await http.post(
        url, headers=JSON, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    )
    headers = {**JSON, "mcp-session-id": reply.headers["mcp-session-id"]}
    await http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return headers


async def calm_calls(url: str, calls: int) -> dict[str, Any]:
    """A caller from another address: its latencies (ms) and failures."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    latencies, failed = [], 0
    async with httpx.AsyncClient(timeout=10, transport=transport) as http:
        headers = await open_session(http, f"{url}/mcp")
        for n in range(calls):
            body = {
                "jsonrpc": "2.0",
                "id": n + 1,
                "method": "tools/call",
                "params": {"name": "echo__echo", "arguments": {"text": "x"}},
            }
            started = time.perf_counter()
            try:
                reply = await http.post(f"{url}/mcp", headers=headers, json=body)
                failed += reply.status_code != 200 or "result" not in reply.json()
            except httpx.HTTPError:
                failed += 1
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
        await http.delete(f"{url}/mcp", headers=headers)
    latencies.sort()
    return {
        "calls": calls,
        "failed": failed,
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3),
    }


async def session_flood(url: str, count: int) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    opened = []
    big = {"x": "y" * 3_000_000}
    async with httpx.AsyncClient(timeout=30) as http:
        for n in range(count):
            params = {"protocolVersion": "2025-11-25", "capabilities": big if n % 2 else {}, "clientInfo": {}}
            reply = await http.post(
                f"{url}/mcp",
                headers=JSON,
                json={"jsonrpc": "2.0", "id": n, "method": "initialize", "params": params},
            )
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            if reply.status_code == 200:
                opened.append(reply.headers["mcp-session-id"])
        for session_id in opened:
            await http.delete(f"{url}/mcp", headers={"mcp-session-id": session_id})
    return {"statuses": {str(k): v for k, v in sorted(statuses.items())}}


async def slow_headers(port: int, count: int, hold: float) -> dict[str, Any]:
    """Connections that send half a request line and then nothing; how many the gateway closed."""
    writers = []
    for _ in range(count):
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            writers.append((reader, writer))
    await asyncio.sleep(hold)
    closed = 0
    for reader, writer in writers:
        with contextlib.suppress(Exception):
            data = await asyncio.wait_for(reader.read(1024), 0.01)
            closed += data == b"" or data.startswith(b"HTTP/1.1 4")
        writer.close()
    return {"connections": len(writers), "closed_by_gateway": closed}


async def trickle(port: int, count: int, hold: float) -> dict[str, Any]:
    """Requests whose body comes a byte a second."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    conns = []
    for _ in range(count):
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
            )
            conns.append((reader, writer))
    deadline = time.monotonic() + hold
    sent = 0
    while time.monotonic() < deadline and sent < len(body):
        for _, writer in conns:
            with contextlib.suppress(Exception):
                writer.write(body[sent : sent + 1])
        sent += 1
        await asyncio.sleep(1.0)
    closed = 0
    for reader, writer in conns:
        try:
            data = await asyncio.wait_for(reader.read(1024), 0.01)
            closed += data == b"" or data.startswith(b"HTTP/1.1 4")
        except (ConnectionError, BrokenPipeError):
            closed += 1  # the gateway closed it while we were still trickling
        except TimeoutError:
            pass  # still open
        writer.close()
    return {"connections": len(conns), "closed_by_gateway": closed}


async def measured(url: str, up: psutil.Process, calls: int, attack: Any) -> dict[str, Any]:
    rss_before = up.memory_info().rss
    outcome, calm = await asyncio.gather(attack, calm_calls(url, calls))
    return {
        **outcome,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(up.memory_info().rss / 2**20, 1),
        "calm": calm,
    }


def start_fleet(root: str) -> tuple[Proc, int]:
    """`mcpfleet up` on a free port with one echo server and a small session cap per caller."""
    config = FleetConfig(home=f"{root}/home", servers={"echo": own_server("echo.py")})
    config.gateway = GatewayConfig(max_sessions_per_caller=20)
    return mcpfleet_up(config, root)


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--flood", type=int, default=60)
    parser.add_argument("--slow", type=int, default=150)
    parser.add_argument("--trickle", type=int, default=50)
    parser.add_argument("--hold", type=float, default=12.0, help="seconds each slow attack lasts")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcpfleet-abuse-") as root:
        process, port = start_fleet(root)
        url = f"http://127.0.0.1:{port}"
        try:
            if not await wait_http_ok(f"{url}/readyz", 60, proc=process):
                raise SystemExit("the fleet never became ready")
            up = psutil.Process(process.pid)
            result = {
                "baseline": await measured(url, up, opts.calls, asyncio.sleep(0, {})),
                "session_flood": await measured(url, up, opts.calls, session_flood(url, opts.flood)),
                "slow_headers": await measured(url, up, opts.calls, slow_headers(port, opts.slow, opts.hold)),
                "trickle": await measured(url, up, opts.calls, trickle(port, opts.trickle, opts.hold)),
            }
        finally:
            process.stop(grace=30)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
