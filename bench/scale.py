"""Scaling benchmark: instance counts that follow load, and what they do for throughput.

    PYTHONPATH=src .venv/bin/python bench/scale.py [--scenario autoscale|rolling|all] [--clients 16]
        [--service-ms 20] [--target-in-flight 4] [--interval 0.5]
        [--instances 4] [--rate 200] [--repeat 3] [--warmup 2] [--pause 1]

Prints one JSON object, one entry per scenario under ``scenarios``. One function per scenario
(``SCENARIOS``); ``--scenario all`` (the default) runs each.

``autoscale``: one server that serves one call at a time (bench/servers/serial.py: each call
takes ``--service-ms``, so one instance serves at most 1000/service-ms calls/s with its CPU idle,
which CPU-based scaling cannot see). ``--clients`` callers call it back to back through the
manager, so ``clients / target_in_flight`` instances are needed. Phases: throughput on one
instance with the autoscaler off ("before"); the autoscaler on (step one, thresholds and
cooldowns below), instance count and calls/s sampled every half second until the count has
held for 3 s; throughput at that count ("after"); then the load stops and the count is followed
back down to ``min_instances``. Every call is checked; any failure is counted.
Verdicts: the needed count is reached and not overshot; the first instance is added no sooner
than ``scale_up_threshold`` checks; throughput rises at least 0.75 x the instance ratio.

``rolling``: a server of ``--instances`` instances (bench/servers/echo.py, a lean stdio server)
takes ``--rate`` calls per second, open loop (each call starts on schedule, whether or not the
ones before it have answered), through ``MCPManager.execute_tool``, while
``manager.rolling_update`` moves it to a new version and back, ``--repeat`` times each way.
Target (issue: rolling updates): every update completes with zero failed calls; the time an
update takes is reported, with call latency before and during updates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lib import cli
from lib.fleet import own_server

from mcpfleet.autoscale import AutoScaler
from mcpfleet.config import FleetConfig, ServerSpec
from mcpfleet.manager import MCPManager


class Load:
    """``clients`` callers calling ``work`` back to back; counts answers and failures."""

    def __init__(self, manager: MCPManager, clients: int) -> None:
        self.manager = manager
        self.clients = clients
        self.done = 0
        self.failed: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self, i: int) -> None:
        while not self._stop.is_set():
            try:
                result = await self.manager.execute_tool("serial", "work", {"key": f"c{i}"})
                if result.get("isError") or not str(result["content"][0]["text"]).startswith(f"c{i}@"):
                    self.failed.append(f"bad answer: {result}")
                else:
                    self.done += 1
            except Exception as exc:  # counted: a benchmark that hides failures measures nothing
                self.failed.append(f"{type(exc).__name__}: {exc}")

    async def rate(self, seconds: float) -> float:
        """Calls per second over the next ``seconds``."""
        before, started = self.done, time.perf_counter()
        await asyncio.sleep(seconds)
        return (self.done - before) / (time.perf_counter() - started)


def serving(manager: MCPManager, server: str) -> int:
    """Instances the balancer can send calls to."""
    return sum(1 for t in manager.load_balancer.targets(server) if t.available())


async def autoscale(opts: argparse.Namespace) -> dict[str, Any]:
    needed = math.ceil(opts.clients / opts.target_in_flight)
    spec = own_server("serial.py", "--service-ms", str(opts.service_ms), instances=1, request_timeout=120)
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as home:
        config = FleetConfig(home=home, servers={"serial": spec})
        async with MCPManager(config, auto_install=True) as manager:
            await manager.start_server("serial")
            settings: dict[str, Any] = {
                "min_instances": 1, "max_instances": needed * 2, "target_in_flight": opts.target_in_flight,
                "target_cpu": None, "target_memory": None, "scale_up_threshold": 3,
                "scale_down_threshold": 4, "scale_up_cooldown": 1.0, "scale_down_cooldown": 2.0,
                "step": "one", "interval": opts.interval, "drain_timeout": 30.0,
            }  # fmt: skip
            autoscaler = AutoScaler(manager, **settings)
            load = Load(manager, opts.clients)
            load.start()
            await load.rate(1.0)  # warm-up
            before = await load.rate(3.0)

            timeline: list[dict[str, Any]] = []
            t0, started = time.perf_counter(), time.monotonic()
            await autoscaler.start()
            reached_at: float | None = None
            count, changed_at = 1, t0
            last = (load.done, t0)
            while time.perf_counter() - t0 < opts.max_wait:
                await asyncio.sleep(0.5)
                now, seen = time.perf_counter(), serving(manager, "serial")
                rate = (load.done - last[0]) / (now - last[1])
                last = (load.done, now)
                timeline.append({"t": round(now - t0, 2), "instances": seen, "calls_per_s": round(rate, 1)})
                if seen != count:
                    count, changed_at = seen, now
                if seen >= needed and reached_at is None:
                    reached_at = now - t0
                if reached_at is not None and now - changed_at >= 3.0:
                    break
            after_count = serving(manager, "serial")
            after = await load.rate(3.0)

            await load.stop()
            t1 = time.perf_counter()
            down_timeline: list[dict[str, Any]] = []
            while serving(manager, "serial") > 1 and time.perf_counter() - t1 < opts.max_wait:
                await asyncio.sleep(0.5)
                down_timeline.append(
                    {"t": round(time.perf_counter() - t1, 2), "instances": serving(manager, "serial")}
                )
            down_s, down_to = time.perf_counter() - t1, serving(manager, "serial")
            await autoscaler.stop()
    decisions = [
        {"t": round(d.at - started, 2), "from": d.current, "to": d.desired, "why": d.detail}
        for d in autoscaler.decisions
    ]
    first_up = decisions[0]["t"] if decisions else None
    peak = max([1, *(row["instances"] for row in timeline)])
    return {
        "server": f"serial.py, one call at a time, {opts.service_ms:g} ms each "
        f"(<= {1000 / opts.service_ms:g} calls/s per instance)",
        "clients": opts.clients,
        "settings": settings,
        "needed_instances": needed,
        "before": {"instances": 1, "calls_per_s": round(before, 1)},
        "after": {"instances": after_count, "calls_per_s": round(after, 1)},
        "speedup": round(after / before, 2) if before else None,
        "seconds_to_first_scale_up": first_up,
        "seconds_to_needed": round(reached_at, 2) if reached_at is not None else None,
        "peak_instances": peak,
        "timeline": timeline,
        "decisions": decisions,
        "scale_down": {"to": down_to, "seconds": round(down_s, 2), "timeline": down_timeline},
        "calls": load.done,
        "failed_calls": len(load.failed),
        "failures": load.failed[:5],
        "verdict": {
            "reached_needed_count": after_count == needed,
            "no_overshoot": peak <= needed,
            "first_scale_up_after_threshold_checks": first_up is not None
            and first_up >= (settings["scale_up_threshold"] - 1) * opts.interval - 0.05,
            "throughput_rises_with_instances": after >= 0.75 * before * after_count,
            "scaled_back_to_min": down_to == 1,
            "no_call_failed": not load.failed,
        },
    }


def _echo(release: str, instances: int) -> ServerSpec:
    """bench/servers/echo.py as release ``release`` (a command package; only its args differ)."""
    return own_server("echo.py", "--release", release, version=release, instances=instances)


class OpenLoad:
    """``rate`` calls per second, each started on schedule; latencies kept by phase."""

    def __init__(self, manager: MCPManager, server: str, rate: float) -> None:
        self.manager = manager
        self.server = server
        self.rate = rate
        self.phase = "before"
        self.latencies: dict[str, list[float]] = {}
        self.failures: list[str] = []
        self.started = 0
        self._calls: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _one(self, phase: str) -> None:
        began = time.perf_counter()
        try:
            result = await self.manager.execute_tool(self.server, "echo", {"text": "x"}, timeout=30)
        except Exception as exc:  # every failure counts, whatever its kind
            self.failures.append(repr(exc))
            return
        if result.get("isError"):
            self.failures.append(json.dumps(result))
            return
        self.latencies.setdefault(phase, []).append(time.perf_counter() - began)

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not self._stop.is_set():
            due = start + self.started / self.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(self.phase))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            self.started += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._schedule())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await asyncio.gather(*self._calls)

    def summary(self, seconds: float) -> dict[str, Any]:
        def ms(values: list[float], q: int) -> float | None:
            if len(values) < 2:
                return None
            return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 2)

        return {
            "calls": self.started,
            "failed": len(self.failures),
            "first_failures": self.failures[:3],
            "achieved_rate": round(self.started / seconds, 1),
            "latency_ms": {
                phase: {"p50": ms(values, 50), "p99": ms(values, 99), "n": len(values)}
                for phase, values in self.latencies.items()
            },
        }


async def rolling(opts: argparse.Namespace) -> dict[str, Any]:
    """Rolling updates of an ``--instances`` server under ``--rate`` calls/s: failed calls, time."""
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as home:
        config = FleetConfig(home=home, servers={"echo": _echo("1", opts.instances)})
        async with MCPManager(config) as manager:
            await manager.install("echo")
            await manager.start_server("echo")
            load = OpenLoad(manager, "echo", opts.rate)
            began = time.perf_counter()
            load.start()
            await asyncio.sleep(opts.warmup)  # calls at full rate before the first update
            updates: list[dict[str, Any]] = []
            try:
                for n in range(opts.repeat * 2):
                    release = "2" if n % 2 == 0 else "1"
                    load.phase = "during"
                    result = await manager.rolling_update(
                        "echo", _echo(release, opts.instances), health_timeout=10, drain_timeout=10
                    )
                    load.phase = "after"
                    updates.append(
                        {
                            "to": release,
                            "ok": result.ok,
                            "seconds": result.seconds,
                            "per_instance_s": [r.seconds for r in result.instances],
                        }
                    )
                    await asyncio.sleep(opts.pause)  # settle at full rate between updates
            finally:
                await load.stop()
            seconds = time.perf_counter() - began
            versions = {i.version for i in manager.get_server_instances("echo")}
    calls = load.summary(seconds)
    update_s = [u["seconds"] for u in updates]
    return {
        "benchmark": "scale",
        "scenario": "rolling",
        "cpus": os.cpu_count(),
        "instances": opts.instances,
        "rate": opts.rate,
        "updates": updates,
        "update_seconds_median": round(statistics.median(update_s), 3),
        "update_seconds_max": round(max(update_s), 3),
        "final_versions": sorted(versions),
        **calls,
        "verdict": {
            "zero_failed_calls": calls["failed"] == 0,
            "every_update_completed": all(u["ok"] for u in updates),
            "rate_held": calls["achieved_rate"] >= 0.95 * opts.rate,
        },
    }


SCENARIOS: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "autoscale": autoscale,
    "rolling": rolling,
}


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--service-ms", type=float, default=20.0)
    parser.add_argument("--target-in-flight", type=float, default=4.0)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between autoscaler checks")
    parser.add_argument("--max-wait", type=float, default=60.0, help="seconds to wait for a count to settle")
    parser.add_argument("--instances", type=int, default=4, help="rolling: instances of the server")
    parser.add_argument("--rate", type=float, default=200.0, help="rolling: calls per second")
    parser.add_argument("--repeat", type=int, default=3, help="rolling: updates each way")
    parser.add_argument("--warmup", type=float, default=2.0, help="rolling: seconds of load first")
    parser.add_argument("--pause", type=float, default=1.0, help="rolling: seconds of load between updates")
    opts = parser.parse_args()
    names = list(SCENARIOS) if opts.scenario == "all" else [opts.scenario]
    results = {name: await SCENARIOS[name](opts) for name in names}
    print(json.dumps({"benchmark": "scale", "cpus": os.cpu_count(), "scenarios": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
