"""A lean MCP echo server on stdio (standard library only), the upstream for benchmarks.

It answers ``initialize`` (session protocol), ``server/discover`` (2026-07-28), ``ping``,
``tools/list`` and ``tools/call`` for one tool, ``echo(text)``, as fast as Python can, so a
benchmark measures the fleet and not the server.
"""

from __future__ import annotations

import json
import sys

TOOLS = [
    {
        "name": "echo",
        "description": "Return the text it was given.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        "annotations": {"readOnlyHint": True, "idempotentHint": True},
    }
]
INFO = {"name": "bench-echo", "version": "1.0.0"}
CAPS = {"tools": {"listChanged": False}}


def answer(msg: dict) -> dict | None:
    method = msg.get("method")
    if "id" not in msg:
        return None
    params = msg.get("params") or {}
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": CAPS,
            "serverInfo": INFO,
        }
    elif method == "server/discover":
        result = {
            "supportedVersions": ["2026-07-28"],
            "capabilities": CAPS,
            "cacheScope": "public",
            "ttlMs": 0,
            "_meta": {"io.modelcontextprotocol/serverInfo": INFO},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS, "cacheScope": "public", "ttlMs": 0}
    elif method == "tools/call" and params.get("name") == "echo":
        text = str((params.get("arguments") or {}).get("text", ""))
        result = {"content": [{"type": "text", "text": text}], "isError": False}
    else:
        return {
            "jsonrpc": "2.0",
            "id": msg["id"],
            "error": {"code": -32601, "message": f"no method {method}"},
        }
    if "io.modelcontextprotocol/protocolVersion" in (params.get("_meta") or {}):
        result["resultType"] = "complete"  # required on every 2026-07-28 result
    return {"jsonrpc": "2.0", "id": msg["id"], "result": result}


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            out.write(json.dumps(reply, separators=(",", ":")) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
