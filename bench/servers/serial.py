"""A stdio MCP server (standard library only) that serves one call at a time, for scaling benchmarks.

    python serial.py [--service-ms 20]

Its one tool, ``work(key)``, takes ``--service-ms`` milliseconds and answers ``key@pid``. Calls
queue behind each other, as on a server behind one upstream connection or one lock: one
instance serves at most 1000/service-ms calls per second while its CPU stays idle, so only more
instances raise throughput, and calls in flight (queued ones included) show the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

TOOLS = [
    {
        "name": "work",
        "description": "Do one unit of work (takes --service-ms), one call at a time.",
        "inputSchema": {"type": "object", "properties": {"key": {"type": "string"}}},
        "annotations": {"readOnlyHint": True},
    }
]
INFO = {"name": "bench-serial", "version": "1.0.0"}


def answer(msg: dict, service: float) -> dict | None:
    if "id" not in msg:
        return None
    method, params = msg.get("method"), msg.get("params") or {}
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": INFO,
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call" and params.get("name") == "work":
        time.sleep(service)
        key = str((params.get("arguments") or {}).get("key", ""))
        result = {"content": [{"type": "text", "text": f"{key}@{os.getpid()}"}], "isError": False}
    else:
        error = {"code": -32601, "message": f"no method {method}"}
        return {"jsonrpc": "2.0", "id": msg["id"], "error": error}
    return {"jsonrpc": "2.0", "id": msg["id"], "result": result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service-ms", type=float, default=20.0)
    service = parser.parse_args().service_ms / 1000
    for line in sys.stdin:
        if line.strip():
            reply = answer(json.loads(line), service)
            if reply is not None:
                sys.stdout.write(json.dumps(reply, separators=(",", ":")) + "\n")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
