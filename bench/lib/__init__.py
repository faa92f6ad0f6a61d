"""Shared helpers for the scripts in bench/ (which Python puts first on ``sys.path`` when one of
them runs as ``bench/NAME.py``, so they import this package as ``lib``).

- ``stats``: percentiles and the p50/p99 summaries the scripts report;
- ``procs``: children in their own process group, free ports, waiting for an HTTP endpoint;
- ``fleet``: bench's own small servers (bench/servers) as fleet specs, and ``mcpfleet up``;
- ``mcpclient`` / ``load``: the gateway benchmark's lean MCP client and load generator;
- ``targets``: what the gateway benchmark measures (``direct``, the mcpfleet variants);
- ``peers``: other gateways, one module each (install into bench/.peers with uv, then start);
- ``profiling`` / ``verdicts``: the gateway benchmark's profiling pass and its verdicts;
- ``cli`` / ``redis_keys``: argument parsing and Redis clean-up every script needs.
"""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
SERVERS = BENCH / "servers"
ECHO = str(SERVERS / "echo.py")
