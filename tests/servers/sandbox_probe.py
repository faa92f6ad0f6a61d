"""An MCP server (official SDK) that reports on the sandbox it runs in, for the container tests.

``fetch(url, proxy)`` GETs a URL (through HTTP_PROXY unless ``proxy`` is false) and returns
``"<status> <body>"`` or ``"error: <reason>"``; ``probe()`` returns what the sandbox allows:
network interfaces, writable folders, effective capabilities, no_new_privs and cgroup limits.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("sandbox-probe")


@server.tool()
def fetch(url: str, proxy: bool = True) -> str:
    """GET the URL and return its status and body."""
    handlers = [] if proxy else [urllib.request.ProxyHandler({})]
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=10) as response:
            return f"{response.status} {response.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"
    except (urllib.error.URLError, OSError) as exc:
        return f"error: {getattr(exc, 'reason', exc)}"


def _writable(folder: str) -> bool:
    try:
        (Path(folder) / f"probe-{os.getpid()}").write_text("x")
    except OSError:
        return False
    return True


def _first(*paths: str) -> str | None:
    for path in paths:
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return None


@server.tool()
def probe() -> dict[str, Any]:
    """What this process may do."""
    lines = Path("/proc/self/status").read_text().splitlines()
    status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    return {
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "root_writable": _writable("/"),
        "tmp_writable": _writable("/tmp"),
        "cap_eff": status["CapEff"].strip(),
        "no_new_privs": status.get("NoNewPrivs", "").strip(),
        "memory": _first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "pids": _first("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"),
        "cpu": _first("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    }


if __name__ == "__main__":
    server.run()
