"""What the gateway benchmark measures: a running MCP endpoint and the processes behind it.

Each target module (``direct``, ``mcpfleet``, and every peer in lib/peers) has starters of the
shape ``async start(tmp, log) -> Running``: the processes started, the URL to call, the
process tree whose CPU is counted, and what to report about the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lib.mcpclient import CallFailed, McpClient
from lib.procs import Proc

Log = Callable[[str], None]


@dataclass
class Running:
    url: str
    procs: list[Proc]
    pid: int | None  # the process tree whose CPU is counted
    info: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] | None = None
    tool_suffix: str = "echo"
    distinct: int | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        for fn in self.cleanup:
            with contextlib.suppress(Exception):
                fn()


Starter = Callable[[Path, Log], Awaitable[Running]]


async def wait_ready(url: str, proc: Proc, timeout: float, headers: dict[str, str] | None = None) -> None:
    """Until an MCP initialize on ``url`` succeeds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"exited with {proc.popen.returncode}: {proc.tail()}")
        client = McpClient(url, headers)
        try:
            await client.open()
            return
        except (CallFailed, httpx.HTTPError, KeyError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            await client.aclose()
        await asyncio.sleep(0.25)
    raise RuntimeError(f"not ready within {timeout:g}s ({last}); log: {proc.tail()}")


async def ready(running: Running, proc: Proc, timeout: float) -> None:
    """Wait for ``running.url``; on failure stop what was started before raising."""
    try:
        await wait_ready(running.url, proc, timeout, running.headers)
    except BaseException:
        running.stop()
        raise


async def one_process(proc: Proc, port: int, info: dict[str, Any], timeout: float = 60) -> Running:
    """A target that is one process serving MCP at http://127.0.0.1:PORT/mcp, once it is ready."""
    running = Running(f"http://127.0.0.1:{port}/mcp", [proc], proc.pid, info)
    await ready(running, proc, timeout)
    return running
