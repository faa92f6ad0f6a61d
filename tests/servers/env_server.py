"""A small MCP server on stdio: ``whoami()`` answers with the value of the environment variable
``TOKEN`` (and of its first argument, if given) and its own PID, as ``VALUE ARG PID``;
``hold(seconds)`` keeps its caller waiting."""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("env")


@server.tool()
def whoami() -> str:
    """The TOKEN this process was started with, its first argument, and its PID."""
    arg = sys.argv[1] if len(sys.argv) > 1 else "-"
    return f"{os.environ.get('TOKEN', '-')} {arg} {os.getpid()}"


@server.tool()
def hold(seconds: float) -> str:
    """Wait, then answer."""
    time.sleep(seconds)
    return "held"


if __name__ == "__main__":
    server.run()
