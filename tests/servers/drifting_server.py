"""A small MCP server on stdio (standard library only) whose tool descriptions come from its env.

    DRIFT_DESCRIPTION="Look up a word." python drifting_server.py

Tools: ``lookup(word)`` (its description is ``DRIFT_DESCRIPTION``) answers ``found <word>``;
``stable()`` never changes and answers ``stable``; with ``DRIFT_EXTRA`` set, a third tool
``extra`` appears, described by it. Starting it twice with different values is a server that
changed its tools between two starts (a rug pull, or an honest update).
"""

from __future__ import annotations

import json
import os
import sys


def tools() -> list[dict]:
    listed = [
        {
            "name": "lookup",
            "description": os.environ.get("DRIFT_DESCRIPTION", "Look up a word."),
            "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}},
        },
        {"name": "stable", "description": "Always the same.", "inputSchema": {"type": "object"}},
    ]
    if os.environ.get("DRIFT_EXTRA"):
        listed.append(
            {"name": "extra", "description": os.environ["DRIFT_EXTRA"], "inputSchema": {"type": "object"}}
        )
    return listed


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, msg_id = msg.get("method"), msg.get("id")
        if msg_id is None or method is None:
            continue
        if method == "initialize":
            protocol = (msg.get("params") or {}).get("protocolVersion")
            info = {"name": "drifting", "version": "1.0"}
            result: dict = {"protocolVersion": protocol, "capabilities": {"tools": {}}, "serverInfo": info}
        elif method == "ping":
            result = {}
        elif method == "tools/list":
            result = {"tools": tools()}
        elif method == "tools/call":
            params = msg.get("params") or {}
            name = params.get("name")
            text = (
                f"found {(params.get('arguments') or {}).get('word', '')}" if name == "lookup" else str(name)
            )
            result = {"content": [{"type": "text", "text": text}]}
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": error}) + "\n")
            sys.stdout.flush()
            continue
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": result}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
