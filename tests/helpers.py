"""Test helpers (import as `helpers`): where the real MCP servers are, and fleets made of them.

The npm and PyPI servers are installed by ``scripts/test`` (tests/servers/npm, tests/servers/pypi);
small servers of our own live in tests/servers/*.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcpfleet.config import CommandPackage, FleetConfig, ServerSpec
from mcpfleet.manager import MCPManager

SERVERS = Path(__file__).parent / "servers"
NPM_BIN = SERVERS / "npm" / "node_modules" / ".bin"
PYPI_BIN = SERVERS / "pypi" / ".venv" / "bin"


def npm_server(name: str, *args: str, **spec: object) -> ServerSpec:
    """A real npm server (e.g. ``server-everything``) run from the test install, as a command."""
    path = NPM_BIN / f"mcp-{name}"
    if not path.exists():
        pytest.skip(f"{path} missing: run scripts/test, which installs the npm test servers")
    return ServerSpec(package=CommandPackage(command=str(path)), args=list(args), **spec)  # type: ignore[arg-type]


def pypi_server(name: str, *args: str, **spec: object) -> ServerSpec:
    """A real PyPI server (e.g. ``mcp-server-time``) run from the test venv, as a command."""
    path = PYPI_BIN / name
    if not path.exists():
        pytest.skip(f"{path} missing: run scripts/test, which installs the PyPI test servers")
    return ServerSpec(package=CommandPackage(command=str(path)), args=list(args), **spec)  # type: ignore[arg-type]


def own_server(script: str, *args: str, **spec: object) -> ServerSpec:
    """One of our own small servers in tests/servers, run with this Python."""
    return ServerSpec(
        package=CommandPackage(command=sys.executable),
        args=[str(SERVERS / script), *args],
        **spec,  # type: ignore[arg-type]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The body field each named request's Mcp-Name header mirrors (SEP-2243, MCP 2026-07-28).
MCP_NAME_SOURCE = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def routing_headers(body: dict[str, Any]) -> dict[str, str]:
    """The routing headers a 2026-07-28 client sends with the JSON-RPC request ``body`` (SEP-2243):
    ``Mcp-Method`` (its method) and, for tools/call and prompts/get, ``Mcp-Name`` (params.name;
    resources/read: params.uri)."""
    method = str(body["method"])
    headers = {"mcp-method": method}
    key = MCP_NAME_SOURCE.get(method)
    name = (body.get("params") or {}).get(key) if key else None
    if isinstance(name, str):
        headers["mcp-name"] = name
    return headers


def fleet(home: Path, **servers: ServerSpec) -> FleetConfig:
    return FleetConfig(home=str(home), servers=servers)


async def wait_port(port: int, within: float = 20.0) -> None:
    for _ in range(int(within / 0.1)):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@dataclass
class HttpServer:
    """One of our own servers over streamable HTTP on loopback, in its own process group."""

    url: str
    process: asyncio.subprocess.Process

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


@contextlib.asynccontextmanager
async def serve_http(script: str, *args: str, port: int | None = None) -> AsyncIterator[HttpServer]:
    """Run ``tests/servers/<script> <args>`` with ``{port}`` in args replaced by a free port."""
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SERVERS / script), *(a.replace("{port}", str(port)) for a in args),
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    server = HttpServer(f"http://127.0.0.1:{port}/mcp", process)
    try:
        await wait_port(port)
        yield server
    finally:
        server.kill(signal.SIGTERM)
        await process.wait()


@contextlib.asynccontextmanager
async def serve_gateway(manager: MCPManager) -> AsyncIterator[str]:
    """The fleet's gateway on a loopback port (``gateway.port`` 0 picks a free one); yields its URL."""
    from mcpfleet.gateway import Gateway, GatewayServer

    server = GatewayServer(Gateway(manager))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


class FakeClock:
    """A monotonic clock for tests: frozen (it moves only when told, or when something sleeps on
    it), or real time plus an offset the test moves forward (``frozen=False``)."""

    def __init__(self, frozen: bool = True) -> None:
        self.frozen = frozen
        self.base = 1000.0 if frozen else time.monotonic()
        self.offset = 0.0

    def monotonic(self) -> float:
        return (self.base if self.frozen else time.monotonic()) + self.offset

    @property
    def now(self) -> float:
        return self.monotonic()

    @now.setter
    def now(self, value: float) -> None:
        self.offset += value - self.monotonic()

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:
        self.offset += seconds
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait, polling every 10 ms, until ``condition()`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def redis_server(port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """A redis-server of this test's own on ``port``, in its own process group, killed at the end."""
    process = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        await wait_port(port, within=10)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


# server-everything's streamableHttp mode listens on every interface; this preload (a data: URL
# module, so no file) makes an unspecified-host listen() bind loopback only.
_LOOPBACK_JS = (
    'import net from "node:net";const listen=net.Server.prototype.listen;'
    "net.Server.prototype.listen=function(...a){"
    'if(typeof a[0]!=="object"&&typeof a[1]!=="string")a.splice(1,0,"127.0.0.1");'
    "return listen.apply(this,a)};"
)
LOOPBACK_ONLY = "--import=data:text/javascript," + urllib.parse.quote(_LOOPBACK_JS)


@contextlib.asynccontextmanager
async def serve_everything_http() -> AsyncIterator[str]:
    """npm server-everything in streamableHttp mode on a free loopback port; yields its MCP URL."""
    command = NPM_BIN / "mcp-server-everything"
    if not command.exists():
        pytest.skip(f"{command} missing: run scripts/test, which installs the npm test servers")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "NODE_OPTIONS": LOOPBACK_ONLY}
    process = await asyncio.create_subprocess_exec(
        str(command), "streamableHttp",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        await wait_port(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


@contextlib.contextmanager
def empty_registry() -> Iterator[dict[str, str]]:
    """A package registry on loopback that has nothing (every path answers 404), standing in for
    PyPI and npm so that installing a package that does not exist never reaches the internet.
    Yields the environment that points uv and npm at it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield {
            "UV_DEFAULT_INDEX": f"{url}/simple",
            "UV_INDEX_URL": f"{url}/simple",
            "npm_config_registry": f"{url}/",
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
