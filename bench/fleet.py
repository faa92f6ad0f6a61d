"""Fleet benchmark: start-up of many instances, manager memory, execute_tool latency and throughput.

    .venv/bin/python bench/fleet.py [--instances 50] [--calls 2000] [--concurrency 32]

Prints one JSON object. The upstream is bench/servers/echo.py (a lean stdio server), so the
figures measure mcpfleet, not the server. The direct client is the official MCP SDK's `Client`
on the same server in the same run.
Targets (issue 2): at most 1 MB of manager memory per instance; execute_tool p50 within 10% of
the direct client.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from lib import ECHO, cli
from lib.fleet import own_server
from lib.stats import ms_summary

from mcpfleet.config import FleetConfig
from mcpfleet.manager import MCPManager


async def sequential(call: Any, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        start = time.perf_counter()
        await call(f"m{i}")
        latencies.append(time.perf_counter() - start)
    return latencies


async def throughput(call: Any, n: int, concurrency: int) -> float:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(f"m{i}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def bench_startup(home: Path, instances: int) -> dict[str, Any]:
    spec = own_server("echo.py", instances=instances)
    manager = MCPManager(FleetConfig(home=str(home), servers={"echo": spec}))
    await manager.install("echo")
    # Warm imports and one instance first, so the memory delta is per instance, not per import.
    await manager.start_server("echo", instances=1)
    await manager.stop_server("echo")
    before = rss()
    start = time.perf_counter()
    started = await manager.start_server("echo", instances=instances)
    ready_s = time.perf_counter() - start
    after = rss()
    ready = sum(1 for i in started if i.state.value == "ready")
    await manager.aclose()
    return {
        "instances": instances,
        "ready": ready,
        "ready_seconds": round(ready_s, 3),
        "manager_rss_per_instance_kb": round((after - before) / instances / 1024, 1),
        "target_manager_mb_per_instance": 1.0,
    }


async def bench_calls(home: Path, calls: int, concurrency: int) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    spec = own_server("echo.py", instances=1)
    results: dict[str, Any] = {}
    async with MCPManager(FleetConfig(home=str(home), servers={"echo": spec})) as manager:
        await manager.install("echo")
        await manager.start_server("echo")

        async def fleet_call(text: str) -> None:
            await manager.execute_tool("echo", "echo", {"text": text})

        await sequential(fleet_call, 200)  # warm-up
        results["mcpfleet"] = ms_summary(await sequential(fleet_call, calls))
        results["mcpfleet"][f"calls_per_s_c{concurrency}"] = round(
            await throughput(fleet_call, calls, concurrency), 1
        )

    params = StdioServerParameters(command=sys.executable, args=[ECHO])
    async with Client(params) as client:

        async def direct_call(text: str) -> None:
            await client.call_tool("echo", {"text": text})

        await sequential(direct_call, 200)
        results["direct_sdk"] = ms_summary(await sequential(direct_call, calls))
        results["direct_sdk"][f"calls_per_s_c{concurrency}"] = round(
            await throughput(direct_call, calls, concurrency), 1
        )
    ratio = results["mcpfleet"]["p50_ms"] / results["direct_sdk"]["p50_ms"]
    results["p50_ratio_fleet_over_direct"] = round(ratio, 3)
    results["target_p50_ratio_at_most"] = 1.10
    return results


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as tmp:
        startup = await bench_startup(Path(tmp) / "a", args.instances)
        calls = await bench_calls(Path(tmp) / "b", args.calls, args.concurrency)
    print(
        json.dumps(
            {
                "benchmark": "fleet",
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "startup": startup,
                "execute_tool": calls,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
