"""Health-check benchmark: one round over many instances, and what a steady loop costs.

    .venv/bin/python bench/health.py [--instances 100] [--rounds 10] [--interval 10]

Prints one JSON object. The instances are bench/servers/echo.py (a lean stdio server). A round
is ``HealthMonitor.round()``: a real MCP probe of every instance, alerting and recovery logic.
The loop's CPU share is the process CPU time one round takes, divided by the interval.
Targets (issue 4): a round over 100 instances in at most 1 s of wall time; at most 5% of one
core at a 10 s interval.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time

from lib import cli
from lib.fleet import own_server

from mcpfleet.config import FleetConfig
from mcpfleet.manager import MCPManager
from mcpfleet.monitoring import HealthMonitor


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--interval", type=float, default=10.0)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as home:
        config = FleetConfig(home=home, servers={"echo": own_server("echo.py", instances=opts.instances)})
        async with MCPManager(config, auto_install=True) as manager:
            started = time.perf_counter()
            await manager.start_server("echo")
            ready_s = time.perf_counter() - started
            monitor = HealthMonitor(manager, interval=opts.interval, alerts=[])
            await monitor.round()  # warm-up
            walls, cpus = [], []
            for _ in range(opts.rounds):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                status = await monitor.round()
                walls.append(time.perf_counter() - wall0)
                cpus.append(time.process_time() - cpu0)
            healthy = sum(d["healthy"] for d in status["echo"]["instances"])
    round_wall = statistics.median(walls)
    cpu_share = statistics.median(cpus) / opts.interval
    print(
        json.dumps(
            {
                "benchmark": "health",
                "cpus": os.cpu_count(),
                "instances": opts.instances,
                "instances_ready_s": round(ready_s, 2),
                "healthy_in_last_round": healthy,
                "round_wall_s_median": round(round_wall, 4),
                "round_wall_s_max": round(max(walls), 4),
                "round_cpu_s_median": round(statistics.median(cpus), 4),
                "cpu_share_of_one_core_at_interval": round(cpu_share, 5),
                "interval_s": opts.interval,
                "verdict": {
                    "round_at_most_1s": round_wall <= 1.0,
                    "cpu_at_most_5_percent": cpu_share <= 0.05,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
