"""``direct``: the upstream itself over streamable HTTP (bench/servers/echo_http.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from lib import SERVERS
from lib.procs import Proc, free_port
from lib.targets import Log, Running, one_process


async def start(tmp: Path, log: Log) -> Running:
    port = free_port()
    proc = Proc([sys.executable, str(SERVERS / "echo_http.py"), "--port", str(port)], tmp / "direct.log")
    return await one_process(proc, port, {"server": "bench/servers/echo_http.py"}, timeout=30)
