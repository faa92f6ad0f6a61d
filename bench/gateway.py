"""Gateway benchmark: MCP tools/call latency and throughput through HTTP gateways to a lean echo.

    PYTHONPATH=src .venv/bin/python bench/gateway.py [--calls 5000] [--duration 5]
        [--only direct,mcpfleet,mcpfleet-nometrics,mcpfleet-bare,mcpfleet-secured,mcpfleet-cached,
                mcpfleet-cached-redis,fastmcp,mcp-proxy,contextforge] [--profile]

Prints one JSON object. Targets, each measured with the same load generator in the same run:

- ``direct``: the upstream itself over streamable HTTP (bench/servers/echo_http.py);
- ``mcpfleet``: mcpfleet's gateway (its own process, as ``mcpfleet up`` runs it) at
  /servers/echo/mcp in front of 4 stdio instances of bench/servers/echo.py (``instances: 4``);
- ``mcpfleet-nometrics``: the same with ``gateway.metrics: false``, for what metrics cost;
- ``mcpfleet-bare``: the same with no audit log (and no authentication or access control);
- ``mcpfleet-secured``: API-key authentication, access control and the audit log (SQLite) all
  on, for what security costs (target: at least 80% of ``mcpfleet-bare``'s throughput);
- ``mcpfleet-cached`` / ``mcpfleet-cached-redis``: the echo tool's results cached in memory / in
  the Redis at 127.0.0.1:6379 (db 13), and every client repeating 8 distinct calls, so nearly
  every call is a hit (targets: a hit's p50 at most 0.3 ms over the uncached gateway's; hit
  throughput at c64 at least the uncached path's);
- ``fastmcp``: FastMCP's ``create_proxy`` of the stdio echo (bench/servers/fastmcp_proxy.py);
- ``mcp-proxy``: the ``mcp-proxy`` package, streamable HTTP in front of the stdio echo;
- ``contextforge``: ContextForge (``mcp-contextforge-gateway``) with the stdio echo bridged by
  its own ``mcpgateway.translate``, called at its virtual server's /servers/ID/mcp.

Peers are installed from PyPI into their own venvs under bench/.peers/ (with ``uv``) on first
use. The load generator is a lean httpx client, not the SDK: one persistent connection and one
MCP session (initialize + notifications/initialized) per simulated client, then tools/call
POSTs, JSON or SSE answers. Every reply is checked (its text must echo what was sent).

Each target: warm-up, then p50/p99 over sequential calls (concurrency 1), then throughput at
concurrency 1, 8 and 64. Every measurement stops at ``--calls`` calls or ``--duration``
seconds, whichever comes first. ``client_cpu_share`` is the load generator's CPU time over
wall time (1.0 would mean it saturates its core); ``server_cpu_ms_per_call`` is the target's
process tree's CPU time per call.

``--profile`` adds a pass where the mcpfleet gateway runs under cProfile at concurrency 64
and reports its top functions (and py-spy's, where bench/.peers/tools/bin/py-spy exists).
Targets (issue): mcpfleet adds at most 1 ms p50 over direct at concurrency 1, serves at least
2,000 calls/s at concurrency 64, and at least 3x the best peer's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from lib.cli import parser
from lib.load import measure
from lib.peers import contextforge, fastmcp, mcp_proxy
from lib.profiling import profile_mcpfleet
from lib.targets import Running, Starter, direct
from lib.targets import mcpfleet as mcpfleet_target
from lib.verdicts import verdict

STARTERS: dict[str, Starter] = {
    "direct": direct.start,
    **mcpfleet_target.STARTERS,  # mcpfleet, mcpfleet-nometrics, -bare, -secured, -cached, -cached-redis
    "fastmcp": fastmcp.start,
    "mcp-proxy": mcp_proxy.start,
    "contextforge": contextforge.start,
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


async def main(args: argparse.Namespace) -> dict[str, Any]:
    only = args.only.split(",") if args.only else ALL_TARGETS
    unknown = set(only) - set(ALL_TARGETS)
    if unknown:
        raise SystemExit(f"unknown target(s) {sorted(unknown)}; choose from {ALL_TARGETS}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mcpfleet-gwbench-") as tmpdir:
        tmp = Path(tmpdir)
        for name in only:
            results[name] = await run_target(name, tmp, args)
        profile = await profile_mcpfleet(tmp, args.duration, log) if args.profile else None
    report: dict[str, Any] = {
        "benchmark": "gateway",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "calls_cap": args.calls,
        "duration_cap_s": args.duration,
        "targets": results,
    }
    report["verdict"] = verdict(results)
    if profile is not None:
        report["mcpfleet_profile"] = profile
    return report


def cli() -> None:
    options = parser(__doc__)
    options.add_argument("--calls", type=int, default=5000, help="most calls per measurement")
    options.add_argument("--duration", type=float, default=5.0, help="most seconds per measurement")
    options.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ALL_TARGETS)}")
    options.add_argument("--profile", action="store_true", help="profile mcpfleet's gateway at c=64 too")
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
