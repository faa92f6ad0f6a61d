"""A small MCP server on stdio (standard library only) for the cases real servers do not show.

    python toy.py [--protocol session|stateless|both] [--mode MODE] [--banner] [--exit-if FILE]

Modes: ``normal``; ``exit`` (writes to stderr and exits 3 at once); ``hang`` (reads but never
answers); ``garbage`` (answers everything with a line that is not JSON).
``--banner`` prints a non-JSON line on stdout first, as some servers do.

Tools: ``echo(text)``; ``sleep(seconds)`` (answers after that long, requests run concurrently);
``crash(code)`` (exits at once); ``pid()``; ``spawn_child()`` (starts a ``sleep`` grandchild in
the same process group and returns its pid); ``notify(text)`` (sends a logging notification and
a tools/list_changed before answering); ``fail()`` (a JSON-RPC error).
Each request's ``_meta`` is echoed back under ``structuredContent.meta`` for ``echo``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

INFO = {"name": "toy", "version": "1.0.0"}
CAPS = {"tools": {"listChanged": True}, "logging": {}}
TOOLS = [
    {
        "name": "echo",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        "annotations": {"readOnlyHint": True},
    },
    {"name": "sleep", "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}}},
    {"name": "crash", "inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}},
    {"name": "pid", "inputSchema": {"type": "object"}},
    {"name": "spawn_child", "inputSchema": {"type": "object"}},
    {"name": "notify", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "fail", "inputSchema": {"type": "object"}},
]
lock = threading.Lock()


def send(message: dict) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def text(value: object, **extra: object) -> dict:
    return {"content": [{"type": "text", "text": str(value)}], "isError": False, **extra}


def call_tool(msg_id: object, params: dict) -> None:
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "echo":
        result = text(args.get("text", ""), structuredContent={"meta": params.get("_meta")})
    elif name == "sleep":
        time.sleep(float(args.get("seconds", 1)))
        result = text(f"slept {args.get('seconds', 1)}")
    elif name == "crash":
        sys.stderr.write("toy: crashing as asked\n")
        sys.stderr.flush()
        os._exit(int(args.get("code", 7)))
    elif name == "pid":
        result = text(os.getpid())
    elif name == "spawn_child":
        child = subprocess.Popen(["sleep", "1000"])
        result = text(child.pid)
    elif name == "notify":
        send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "data": args.get("text", "")},
            }
        )
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        result = text("notified")
    elif name == "fail":
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32000, "message": "toy failure"}})
        return
    else:
        send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32602, "message": f"Unknown tool: {name}"}})
        return
    send({"jsonrpc": "2.0", "id": msg_id, "result": result})


def answer(msg: dict, protocol: str) -> None:
    method, msg_id = msg.get("method"), msg.get("id")
    if "id" not in msg or method is None:
        return
    params = msg.get("params") or {}
    if method == "initialize" and protocol in ("session", "both"):
        result = {"protocolVersion": params.get("protocolVersion"), "capabilities": CAPS, "serverInfo": INFO}
    elif method == "server/discover" and protocol in ("stateless", "both"):
        result = {"supportedVersions": ["2026-07-28"], "capabilities": CAPS, "serverInfo": INFO}
    elif method == "ping" and protocol != "stateless":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        threading.Thread(target=call_tool, args=(msg_id, params), daemon=True).start()
        return
    else:
        error = {"code": -32601, "message": f"Method not found: {method}"}
        send({"jsonrpc": "2.0", "id": msg_id, "error": error})
        return
    send({"jsonrpc": "2.0", "id": msg_id, "result": result})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", default="session", choices=["session", "stateless", "both"])
    parser.add_argument("--mode", default="normal", choices=["normal", "exit", "hang", "garbage"])
    parser.add_argument("--banner", action="store_true")
    parser.add_argument(
        "--exit-if", metavar="FILE", help="exit at start (like --mode exit) while FILE exists"
    )
    opts = parser.parse_args()
    if opts.exit_if and os.path.exists(opts.exit_if):
        opts.mode = "exit"
    sys.stderr.write(f"toy: starting in {opts.mode} mode\n")
    sys.stderr.flush()
    if opts.mode == "exit":
        sys.stderr.write("toy: fatal: missing configuration, exiting\n")
        sys.exit(3)
    if opts.banner:
        sys.stdout.write("Toy server v1 ready!\n")
        sys.stdout.flush()
    for line in sys.stdin:
        if opts.mode == "hang" or not line.strip():
            continue
        if opts.mode == "garbage":
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
            continue
        answer(json.loads(line), opts.protocol)


if __name__ == "__main__":
    main()
