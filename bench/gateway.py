"""Gateway benchmark: MCP tools/call latency and throughput through HTTP gateways to a lean echo.

    PYTHONPATH=src .venv/bin/python bench/gateway.py [--duration 5] [--load wrk|python]
        [--only mcpfleet,cf-translate,supergateway,mcp-proxy,...] [--rounds 3] [--profile]

Prints one JSON object. Targets, each measured with the same load generator in the same run:

- ``direct``: the upstream itself over streamable HTTP (bench/servers/echo_http.py);
- ``mcpfleet``: ``mcpfleet up`` on a fleet file (nothing benchmark-only): the gateway at
  /servers/echo/mcp in front of 4 stdio instances of bench/servers/echo.py (``instances: 4``),
  default pipeline (audit log on, SQLite; metrics on);
- ``mcpfleet-nometrics``: the same with ``gateway.metrics: false``, for what metrics cost;
- ``mcpfleet-bare``: the same with no audit log (and no authentication or access control);
- ``mcpfleet-secured``: API-key authentication, access control, rate limits (far above the
  load, so none refuses) and the audit log (SQLite) all on, for what security costs (target: at
  least 80% of ``mcpfleet-bare``'s throughput);
- ``mcpfleet-cached`` / ``mcpfleet-cached-redis``: the echo tool's results cached in memory / in
  the Redis at 127.0.0.1:6379 (db 13), and every client repeating 8 distinct calls, so nearly
  every call is a hit (python load only: wrk sends distinct calls);
- ``cf-translate``: ContextForge's bridge alone, ``mcpgateway.translate --stdio echo
  --expose-streamable-http --jsonResponse`` (Python >= 3.12, from pyenv's versions folder);
- ``supergateway``: the npm package, ``--outputTransport streamableHttp --stateful``;
- ``mcp-proxy``: the ``mcp-proxy`` package, streamable HTTP in front of the stdio echo;
- ``fastmcp``: FastMCP's ``create_proxy`` of the stdio echo (bench/servers/fastmcp_proxy.py);
- ``contextforge``: the whole ContextForge gateway, the echo bridged by its translate and
  called at its virtual server's /servers/ID/mcp.

Peers are installed into their own folders under bench/.peers/ (uv, npm) on first use.

Load generators (``--load``):

- ``wrk`` (the default where ``wrk`` is installed; bench/lib/wrk.py): wrk with one thread and
  a Lua script, every connection POSTing tools/call in one MCP session, every reply checked
  for the text sent. For each target: warm-up, then 1, 8 and 64 connections for
  ``--duration`` seconds each: calls/s, p50/p99, and ``server_cpu_us_per_call``, the
  target's process tree's CPU (gateway + instances) per call, the figure that holds still on
  a shared machine. After mcpfleet stops (SIGTERM, as Ctrl-C), ``audit_after_stop`` runs
  ``mcpfleet audit verify`` and checks every answered call is in the log. The verdict
  compares with the best peer at each concurrency (issue 17's goals).
- ``python`` (bench/lib/load.py): a lean httpx client, one connection and one MCP session per
  simulated client; latency over sequential calls, then throughput at 1, 8 and 64, each
  stopping at ``--calls`` calls or ``--duration`` seconds. ``client_cpu_share`` is its CPU
  over wall time; it costs about what a fast gateway does, so it saturates first.

``--profile`` adds a pass where the mcpfleet gateway runs under py-spy (where it installs)
and cProfile at concurrency 64 and reports its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lib import wrk
from lib.cli import parser
from lib.load import measure
from lib.peers import cf_translate, contextforge, fastmcp, mcp_proxy, supergateway
from lib.profiling import profile_mcpfleet
from lib.targets import Running, Starter, direct
from lib.targets import mcpfleet as mcpfleet_target
from lib.verdicts import verdict, wrk_verdict

STARTERS: dict[str, Starter] = {
    "direct": direct.start,
    **mcpfleet_target.STARTERS,  # mcpfleet, mcpfleet-nometrics, -bare, -secured, -cached, -cached-redis
    "fastmcp": fastmcp.start,
    "mcp-proxy": mcp_proxy.start,
    "contextforge": contextforge.start,
    "cf-translate": cf_translate.start,
    "supergateway": supergateway.start,
}
ALL_TARGETS = list(STARTERS)


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


async def run_target(name: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start target ``name``, measure it, stop it; its results, or what failed."""
    log(f"{name}: starting")
    running: Running | None = None
    try:
        running = await STARTERS[name](tmp, log)
        log(f"{name}: measuring {running.url}")
        if args.load == "wrk":
            measured = await wrk.measure_wrk(
                running.url, running.pid, args.duration, running.headers, running.tool_suffix
            )
            info = running.info
            if "fleet_file" in info and info.get("variant") != "bare":  # mcpfleet with its audit log:
                # stop it (SIGTERM, as Ctrl-C), then check the log
                running.stop()
                running = None
                measured["audit_after_stop"] = audit_check(info["fleet_file"], measured)
            return {**info, **measured}
        return {
            **running.info,
            **await measure(
                running.url,
                running.pid,
                args.calls,
                args.duration,
                running.headers,
                running.tool_suffix,
                running.distinct,
            ),
        }
    except Exception as exc:
        log(f"{name}: failed: {exc}")
        return {**(running.info if running else {}), "failed": f"{type(exc).__name__}: {exc}"[:1500]}
    finally:
        if running is not None:
            running.stop()


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One target over several rounds: at each concurrency the round with the median calls/s
    (its latency and CPU with it), and every round's calls/s under ``calls_per_s_rounds``."""
    merged = dict(runs[0])
    for key in [k for k in runs[0] if re.fullmatch(r"c\d+", k)]:
        rows = [r[key] for r in runs if isinstance(r.get(key), dict)]
        rows.sort(key=lambda row: row["calls_per_s"])
        if rows:
            merged[key] = {**rows[len(rows) // 2], "calls_per_s_rounds": [row["calls_per_s"] for row in rows]}
    failed = [r["failed"] for r in runs if "failed" in r]
    if failed:
        merged["failed"] = failed[0]
    return merged


def audit_check(fleet_file: str, measured: dict[str, Any]) -> dict[str, Any]:
    """``mcpfleet audit verify`` on the fleet after it stopped, and whether every call that got
    an answer under wrk (warm-up included) is in the log. The log may hold a few more: the
    calls in flight when each wrk run ended, answered after wrk stopped counting."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mcpfleet", "-c", fleet_file, "audit", "verify"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())[:300]
    answered = measured.get("warmup_calls", 0)
    answered += sum(measured[f"c{level}"]["calls"] for level in wrk.LEVELS if f"c{level}" in measured)
    found = re.search(r"OK: (\d+) records", said)
    records = int(found.group(1)) if found else None
    return {
        "verify_exit": done.returncode,
        "verify_said": said,
        "records": records,
        "calls_answered": answered,
        "complete": records is not None and records >= answered,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.workers != 1:
        STARTERS.update(mcpfleet_target.starters(args.workers))
    only = args.only.split(",") if args.only else ALL_TARGETS
    unknown = set(only) - set(ALL_TARGETS)
    if unknown:
        raise SystemExit(f"unknown target(s) {sorted(unknown)}; choose from {ALL_TARGETS}")
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mcpfleet-gwbench-") as tmpdir:
        tmp = Path(tmpdir)
        for number in range(args.rounds):
            order = only if number % 2 == 0 else only[::-1]  # what the machine does drifts: alternate
            found: dict[str, Any] = {}
            here = tmp / f"round{number}"
            here.mkdir()
            for name in order:
                found[name] = await run_target(name, here, args)
            rounds.append(found)
        profile = await profile_mcpfleet(tmp, args.duration, log) if args.profile else None
    results = rounds[0] if len(rounds) == 1 else {name: median_of([r[name] for r in rounds]) for name in only}
    report: dict[str, Any] = {
        "benchmark": "gateway",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "calls_cap": args.calls,
        "duration_cap_s": args.duration,
        "load": args.load,
        "mcpfleet_workers": args.workers,
        "rounds": args.rounds,
        "targets": results,
    }
    report["verdict"] = verdict(results) if args.load == "python" else wrk_verdict(results)
    if profile is not None:
        report["mcpfleet_profile"] = profile
    return report


def cli() -> None:
    options = parser(__doc__)
    options.add_argument("--calls", type=int, default=5000, help="most calls per measurement")
    options.add_argument("--duration", type=float, default=5.0, help="most seconds per measurement")
    options.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ALL_TARGETS)}")
    options.add_argument(
        "--load",
        choices=("wrk", "python"),
        default="wrk" if wrk.available() else "python",
        help="load generator: wrk (one thread, one MCP session; default where installed) or the "
        "Python client (one session per connection, every reply parsed)",
    )
    options.add_argument("--profile", action="store_true", help="profile mcpfleet's gateway at c=64 too")
    options.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every target this many times, in alternating "
        "order, and report each one's median round (a busy minute on the machine then lands on all)",
    )
    options.add_argument(
        "--workers", type=int, default=1, help="gateway.workers in the mcpfleet targets' fleet files"
    )
    # The mcpfleet targets run this script again as their gateway process (lib/targets/mcpfleet.py).
    options.add_argument("--serve-gateway", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options.add_argument("--home", help=argparse.SUPPRESS)
    options.add_argument("--cprofile", help=argparse.SUPPRESS)
    options.add_argument("--variant", default="default", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.serve_gateway is not None:
        mcpfleet_target.serve(args.serve_gateway, args.home, args.cprofile, variant=args.variant)
        return
    print(json.dumps(asyncio.run(main(args)), indent=2))


if __name__ == "__main__":
    cli()
