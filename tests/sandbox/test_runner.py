"""``python -m mcpfleet.sandbox.runner`` with a plain child process in place of the container:
the child joins the namespace the runner made (by the path put for ``{netns}``), as podman's
``--network ns:PATH`` does, and reaches the world only through the proxy. Needs root."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace of our own needs root")

# Joins the namespace, then GETs each URL through the proxy; prints "<status> <body>" per URL.
CHILD = """
import ctypes, sys, urllib.error, urllib.request
libc = ctypes.CDLL(None, use_errno=True)
with open(sys.argv[1]) as ns:
    assert libc.setns(ns.fileno(), 0x40000000) == 0, ctypes.get_errno()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sys.argv[2]}))
for url in sys.argv[3:]:
    try:
        with opener.open(url, timeout=10) as r:
            print(r.status, r.read().decode(), flush=True)
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode().strip(), flush=True)
sys.exit(7)
"""


async def origin(name: str) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(name), name.encode()))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
async def allowed() -> AsyncIterator[int]:
    async for port in origin("allowed"):
        yield port


@pytest.fixture
async def other() -> AsyncIterator[int]:
    async for port in origin("other"):
        yield port


async def runner(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mcpfleet.sandbox.runner", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def test_the_child_reaches_only_the_allowed_destination(allowed: int, other: int) -> None:
    port = free_port()
    process = await runner(
        "--server", "probe", "--allow", f"127.0.0.1:{allowed}", "--port", str(port), "--",
        sys.executable, "-c", CHILD, "{netns}", f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{allowed}/", f"http://127.0.0.1:{other}/",
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 7, err.decode()  # the child's own status
    lines = out.decode().splitlines()
    assert lines[0] == "200 allowed"
    assert lines[1].startswith(
        f"403 mcpfleet egress proxy: 127.0.0.1:{other} is not allowed for server 'probe'"
    )
    assert f"mcpfleet egress: refused 127.0.0.1:{other} for server 'probe'" in err.decode()


async def test_sigterm_reaches_the_child() -> None:
    child = ("sh", "-c", "echo started; exec sleep 30")
    process = await runner("--server", "probe", "--port", str(free_port()), "--", *child)
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 20) == b"started\n"
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 20)
    assert process.returncode == 128 + signal.SIGTERM  # the child was killed by it, and said so


async def test_a_missing_command_is_one_line() -> None:
    process = await runner("--server", "probe", "--port", str(free_port()), "--", "/no/such/engine", "run")
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 127
    assert err.decode().strip() == "mcpfleet sandbox (probe): cannot run '/no/such/engine'"
