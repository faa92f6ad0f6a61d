"""A server that prints its secret to stderr, as careless servers do, and can crash mid-call.

``echo(text)`` answers; ``crash()`` writes ``connecting with DB_PASSWORD=...`` to stderr and
exits before answering, so the caller's error is about a server that died with a secret in its
last words.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("leaky")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
def crash() -> str:
    """Die mid-call with the secret on stderr."""
    print(f"connecting with DB_PASSWORD={os.environ.get('DB_PASSWORD', '')}", file=sys.stderr, flush=True)
    os._exit(3)


if __name__ == "__main__":
    print(f"starting; DB_PASSWORD={os.environ.get('DB_PASSWORD', '')}", file=sys.stderr, flush=True)
    server.run()
