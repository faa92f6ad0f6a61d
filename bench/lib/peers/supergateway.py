"""``supergateway``: the npm package, stateful streamable HTTP in front of the stdio echo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lib import ECHO
from lib.peers import PEERS
from lib.procs import Proc, free_port
from lib.targets import Log, Running, one_process

VENV = "supergateway"
REQUIREMENT = "supergateway@4.0.0"


def ensure(log: Log) -> Path:
    """bench/.peers/supergateway/node_modules/supergateway (npm install once, reused after)."""
    root = PEERS / VENV
    package = root / "node_modules" / "supergateway"
    if not (package / "package.json").exists():
        log(f"installing {REQUIREMENT} into {root}")
        root.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(root), REQUIREMENT],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"npm install {REQUIREMENT} failed: {done.stderr[-800:]}")
    return package


async def start(tmp: Path, log: Log) -> Running:
    package = ensure(log)
    port = free_port()
    argv = ["node", str(package / "dist" / "index.js"), "--stdio", f"{sys.executable} {ECHO}"]
    argv += ["--outputTransport", "streamableHttp", "--stateful", "--port", str(port), "--logLevel", "none"]
    proc = Proc(argv, tmp / "supergateway.log")
    version = json.loads((package / "package.json").read_text())["version"]
    info = {
        "version": version,
        "how": "supergateway --stdio 'python echo.py' --outputTransport streamableHttp --stateful",
    }
    return await one_process(proc, port, info)
