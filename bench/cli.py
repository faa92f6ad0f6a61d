"""Command-line speed: how long `mcpfleet --help`, `status` and `call` take, as a person runs them.

    .venv/bin/python bench/cli.py [--runs 15]

Prints one JSON object: median and p90 wall time of each command over RUNS runs (each a new
process, as from a shell), and of `import mcpfleet.cli.main` inside a process. `status` and
`call` ask a fleet this script starts itself: `mcpfleet up` on a free loopback port, serving
bench/servers/echo.py. The children run with bytecode caching on (as an installed package has
it), after one warm-up run each. The load average is printed beside the figures, since a busy
machine slows every one of them, and so is each command's CPU time, which load changes least.
Targets (issue 16): `--help` under 0.3 s, `status` against a
running fleet under 0.5 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lib import cli
from lib.fleet import mcpfleet_up, own_server
from lib.procs import wait_http_ok
from lib.stats import percentile

from mcpfleet.config import FleetConfig

TARGETS = {"help": 0.3, "status": 0.5}
IMPORT = "import time; t = time.perf_counter(); import mcpfleet.cli.main; print(time.perf_counter() - t)"


def child_env() -> dict[str, str]:
    """The shell's environment, less what would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MCPFLEET_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    """Median and p90 wall seconds of ``argv`` over ``runs`` runs, after one warm-up run, and the
    median CPU seconds it used (user + system: what the load on the machine changes least)."""
    walls, cpus = [], []
    for i in range(runs + 1):
        started, cpu = time.perf_counter(), children_cpu()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-800:]}")
        if i:
            walls.append(wall)
            cpus.append(children_cpu() - cpu)
    return {**summary(walls), "cpu_median_s": round(statistics.median(cpus), 3)}


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(seconds), 3),
        "p90_s": round(percentile(seconds, 0.9), 3),
        "min_s": round(min(seconds), 3),
    }


def import_time(runs: int, env: dict[str, str]) -> dict[str, float]:
    """``import mcpfleet.cli.main`` timed inside the process (interpreter start-up left out)."""
    seconds = []
    for i in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT], env=env, capture_output=True, text=True, check=True
        )
        if i:
            seconds.append(float(out.stdout))
    return summary(seconds)


async def wait_live(home: Path, within: float) -> bool:
    """Until `mcpfleet up` has written the state file that `status` and `call` look for."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (home / "run" / "fleet.json").exists():
            return True
        await asyncio.sleep(0.1)
    return False


async def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--runs", type=int, default=15)
    opts = parser.parse_args()
    env = child_env()
    mcpfleet = [sys.executable, "-m", "mcpfleet"]
    results: dict[str, object] = {"benchmark": "cli", "cpus": os.cpu_count(), "runs": opts.runs}
    results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    results["import_cli_main"] = import_time(opts.runs, env)
    results["help"] = timed([*mcpfleet, "--help"], opts.runs, env)
    with tempfile.TemporaryDirectory(prefix="mcpfleet-bench-") as root:
        home = Path(root, "home")
        config = FleetConfig(home=str(home), servers={"echo": own_server("echo.py")})
        proc, port = mcpfleet_up(config, root)
        try:
            up = await wait_http_ok(f"http://127.0.0.1:{port}/readyz", 60, proc=proc)
            if not up or not await wait_live(home, 10):
                raise SystemExit(f"`mcpfleet up` did not get ready:\n{proc.tail()}")
            fleet = [*mcpfleet, "-c", f"{root}/mcpfleet.yaml"]
            results["status"] = timed([*fleet, "status"], opts.runs, env)
            results["call"] = timed([*fleet, "call", "echo", "echo", "text=hi"], opts.runs, env)
        finally:
            proc.stop()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["targets_s"] = TARGETS
    results["met"] = {name: results[name]["median_s"] < limit for name, limit in TARGETS.items()}  # type: ignore[index]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
