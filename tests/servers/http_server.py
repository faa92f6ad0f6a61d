"""A small MCP server over streamable HTTP, built with the official SDK, on 127.0.0.1.

    python http_server.py PORT [--json] [--stateless-http]

Tools: ``echo(text)``, ``add(a, b)``, ``whoami()`` (the Authorization header it received).
"""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("http-toy")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def whoami(ctx: Context) -> str:
    """The Authorization header of the request."""
    request = ctx.request_context.request
    return str(request.headers.get("authorization", "")) if request is not None else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--stateless-http", action="store_true")
    opts = parser.parse_args()
    app = server.streamable_http_app(json_response=opts.json, stateless_http=opts.stateless_http)
    uvicorn.run(app, host="127.0.0.1", port=opts.port, log_level="warning")


if __name__ == "__main__":
    main()
