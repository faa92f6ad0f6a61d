"""``mcp-proxy``: the ``mcp-proxy`` package, streamable HTTP in front of the stdio echo."""

from __future__ import annotations

import sys
from pathlib import Path

from lib import ECHO
from lib.peers import ensure_peer, peer_version
from lib.procs import Proc, free_port
from lib.targets import Log, Running, one_process

VENV = "mcp-proxy"
REQUIREMENT = "mcp-proxy==0.13.0"


async def start(tmp: Path, log: Log) -> Running:
    venv = ensure_peer(VENV, REQUIREMENT, log)
    port = free_port()
    argv = [str(venv / "bin" / "mcp-proxy"), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "WARNING", "--", sys.executable, ECHO]
    proc = Proc(argv, tmp / "mcp-proxy.log")
    info = {
        "version": peer_version(venv, "mcp-proxy"),
        "how": "mcp-proxy --port P -- python echo.py (streamable HTTP)",
    }
    return await one_process(proc, port, info)
