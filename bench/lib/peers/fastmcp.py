"""``fastmcp``: FastMCP's ``create_proxy`` of the stdio echo (bench/servers/fastmcp_proxy.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from lib import SERVERS
from lib.peers import ensure_peer, peer_version
from lib.procs import Proc, free_port
from lib.targets import Log, Running, one_process

VENV = "fastmcp"
REQUIREMENT = "fastmcp==4.1.6"


async def start(tmp: Path, log: Log) -> Running:
    venv = ensure_peer(VENV, REQUIREMENT, log)
    port = free_port()
    proc = Proc(
        [str(venv / "bin" / "python"), str(SERVERS / "fastmcp_proxy.py"), str(port), sys.executable],
        tmp / "fastmcp.log",
        env={"FASTMCP_LOG_LEVEL": "WARNING"},
    )
    info = {
        "version": peer_version(venv, "fastmcp"),
        "how": "fastmcp.server.create_proxy(StdioTransport(echo))",
    }
    return await one_process(proc, port, info)
