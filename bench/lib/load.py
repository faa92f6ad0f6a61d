"""The gateway benchmark's load generator: latency at concurrency 1, throughput at 1, 8 and 64.

Every measurement stops at ``calls`` calls or ``duration`` seconds, whichever comes first.
``client_cpu_share`` is the load generator's CPU time over wall time (1.0 would mean it
saturates its core); ``server_cpu_ms_per_call`` is the target's process tree's CPU time per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from lib.mcpclient import CallFailed, McpClient
from lib.stats import ms_summary

LEVELS = (1, 8, 64)


@dataclass
class Budget:
    calls: int
    duration: float
    started: float = field(default_factory=time.perf_counter)
    issued: int = 0

    def take(self) -> bool:
        if self.issued >= self.calls or time.perf_counter() - self.started >= self.duration:
            return False
        self.issued += 1
        return True


class TreeCpu:
    """CPU seconds (user + system) used by a process and its children, sampled on demand."""

    def __init__(self, pid: int | None) -> None:
        self.root = psutil.Process(pid) if pid else None

    def seconds(self) -> float:
        if self.root is None:
            return 0.0
        total = 0.0
        for proc in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


async def latency(client: McpClient, calls: int, duration: float) -> dict[str, Any]:
    samples: list[float] = []
    budget = Budget(calls, duration)
    while budget.take():
        start = time.perf_counter()
        await client.call(f"l{budget.issued}")
        samples.append(time.perf_counter() - start)
    return {"calls": len(samples), **ms_summary(samples)}


async def throughput(clients: list[McpClient], calls: int, duration: float, cpu: TreeCpu) -> dict[str, Any]:
    budget = Budget(calls, duration)
    done = errors = 0
    first_error: str | None = None

    async def worker(client: McpClient) -> None:
        nonlocal done, errors, first_error
        while budget.take():
            try:
                await client.call(f"t{budget.issued}")
                done += 1
            except (CallFailed, httpx.HTTPError) as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]

    server_cpu, client_cpu = cpu.seconds(), time.process_time()
    start = time.perf_counter()
    budget.started = start
    await asyncio.gather(*(worker(c) for c in clients))
    wall = time.perf_counter() - start
    server_cpu, client_cpu = cpu.seconds() - server_cpu, time.process_time() - client_cpu
    out: dict[str, Any] = {
        "calls": done,
        "seconds": round(wall, 3),
        "calls_per_s": round(done / wall, 1),
        "errors": errors,
        "client_cpu_share": round(client_cpu / wall, 2),
        "server_cpu_ms_per_call": round(server_cpu * 1000 / max(done, 1), 3),
    }
    if first_error:
        out["first_error"] = first_error
    return out


async def measure(
    url: str,
    pid: int | None,
    calls: int,
    duration: float,
    headers: dict[str, str] | None = None,
    tool_suffix: str = "echo",
    distinct: int | None = None,
) -> dict[str, Any]:
    """Warm-up, then ``latency_c1`` and ``throughput_c1/8/64`` of the MCP endpoint at ``url``;
    ``pid`` is the process tree whose CPU time is counted."""
    clients = [McpClient(url, headers) for _ in range(max(LEVELS))]
    for client in clients:
        client.distinct = distinct
    try:
        await asyncio.gather(*(c.open(tool_suffix) for c in clients))
        cpu = TreeCpu(pid)
        # Warm-up: every connection, then a burst at full concurrency.
        await asyncio.gather(*(c.call("warm") for c in clients))
        await throughput(clients, min(2000, calls), 2.0, cpu)
        result: dict[str, Any] = {
            "tool": clients[0].tool,
            "latency_c1": await latency(clients[0], calls, duration),
        }
        for level in LEVELS:
            await asyncio.gather(*(c.call("warm") for c in clients[:level]))  # connections idle since
            result[f"throughput_c{level}"] = await throughput(clients[:level], calls, duration, cpu)
        return result
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
