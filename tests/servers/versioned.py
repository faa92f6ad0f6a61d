"""A small MCP server on stdio (standard library only) that says which version of it runs.

    python versioned.py --version 2.0 [--broken-if FILE] [--broken-as silent|exit]

Tools: ``version()`` answers ``<version>@<pid>``; ``work(seconds)`` answers the same after that
long (calls run concurrently, so a test can keep calls in flight). ``serverInfo.version`` is the
version too.

``--broken-if FILE``: while FILE exists when it starts, this copy is broken, as a bad release
would be: ``silent`` completes the handshake and answers ping but never answers ``tools/list``
(a health check times out); ``exit`` exits at once with code 4.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

lock = threading.Lock()
TOOLS = [
    {"name": "version", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}},
    {
        "name": "work",
        "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}},
        "annotations": {"readOnlyHint": True},
    },
]


def send(message: dict) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def call(msg_id: object, params: dict, version: str) -> None:
    name = params.get("name")
    if name not in ("version", "work"):
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32602, "message": f"no tool {name}"}})
        return
    if name == "work":
        time.sleep(float((params.get("arguments") or {}).get("seconds", 0.01)))
    text = f"{version}@{os.getpid()}"
    send({"jsonrpc": "2.0", "id": msg_id, "result": {"content": [{"type": "text", "text": text}]}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", required=True)
    parser.add_argument("--broken-if", metavar="FILE")
    parser.add_argument("--broken-as", choices=["silent", "exit"], default="silent")
    opts = parser.parse_args()
    broken = opts.broken_if is not None and os.path.exists(opts.broken_if)
    if broken and opts.broken_as == "exit":
        sys.stderr.write(f"versioned {opts.version}: broken release, exiting\n")
        sys.exit(4)
    info = {"name": "versioned", "version": opts.version}
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, msg_id = msg.get("method"), msg.get("id")
        if msg_id is None or method is None:
            continue
        if method == "initialize":
            protocol = (msg.get("params") or {}).get("protocolVersion")
            result = {"protocolVersion": protocol, "capabilities": {"tools": {}}, "serverInfo": info}
        elif method == "ping":
            result = {}
        elif method == "tools/list":
            if broken:
                continue  # never answers: the health check must time out
            result = {"tools": TOOLS}
        elif method == "tools/call":
            threading.Thread(
                target=call, args=(msg_id, msg.get("params") or {}, opts.version), daemon=True
            ).start()
            continue
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            send({"jsonrpc": "2.0", "id": msg_id, "error": error})
            continue
        send({"jsonrpc": "2.0", "id": msg_id, "result": result})


if __name__ == "__main__":
    main()
