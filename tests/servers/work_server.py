"""A small MCP server for routing tests: who answered, how long a call takes, what is safe to repeat.

    python work_server.py              # stdio
    python work_server.py --http PORT  # streamable HTTP on 127.0.0.1:PORT

Tools: ``lookup(key, delay)`` (read-only), ``count(delay)`` (idempotent), ``store(key, delay)``
(neither, so never retried). Each answers ``<what>@<pid>`` so a test can see which instance ran it.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("work")
stored: list[str] = []


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def lookup(key: str, delay: float = 0.0) -> str:
    """Look a key up (read-only)."""
    await asyncio.sleep(delay)
    return f"{key}@{os.getpid()}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=True))
async def count(delay: float = 0.0) -> str:
    """How many keys are stored (idempotent)."""
    await asyncio.sleep(delay)
    return f"{len(stored)}@{os.getpid()}"


@server.tool()
async def store(key: str, delay: float = 0.0) -> str:
    """Store a key (not safe to repeat)."""
    await asyncio.sleep(delay)
    stored.append(key)
    return f"stored {key}@{os.getpid()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    opts = parser.parse_args()
    if opts.http is None:
        server.run()
        return
    import uvicorn

    app = server.streamable_http_app(json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=opts.http, log_level="warning")


if __name__ == "__main__":
    main()
