"""FastMCP's proxy (``fastmcp.server.create_proxy``) of the stdio echo, served over streamable HTTP.

    bench/.peers/fastmcp/bin/python bench/servers/fastmcp_proxy.py PORT ECHO_PYTHON

Run from FastMCP's own venv (bench/.peers/fastmcp), not mcpfleet's. FastMCP 4 has no
``FastMCP.as_proxy``; ``create_proxy`` is its documented replacement. The proxy is used as
documented, with its defaults (the stdio child is kept alive between backend sessions).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from fastmcp.client.transports import StdioTransport
from fastmcp.server import create_proxy

ECHO = str(Path(__file__).parent / "echo.py")


def main() -> None:
    port, python = int(sys.argv[1]), sys.argv[2]
    proxy = create_proxy(StdioTransport(command=python, args=[ECHO]), name="echo-proxy")
    asyncio.run(
        proxy.run_http_async(show_banner=False, host="127.0.0.1", port=port, log_level="warning", path="/mcp")
    )


if __name__ == "__main__":
    main()
