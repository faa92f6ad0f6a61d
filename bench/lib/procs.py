"""Child processes in their own process group, free loopback ports, waiting for HTTP endpoints.

``free_port`` is the same as tests/helpers.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child started in its own process group; stopped by that group id only."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: int | None = subprocess.DEVNULL,
    ) -> None:
        self.log = log
        self.file = log.open("wb")
        self.popen = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=self.file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def tail(self, n: int = 600) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-n:]
        return ""

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds; the group's leftovers too."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        else:  # the leader is gone; its group may still hold children
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self.file.close()


async def wait_http_ok(
    url: str,
    within: float,
    *,
    every: float = 0.1,
    timeout: float = 2.0,
    headers: dict[str, str] | None = None,
    proc: Proc | None = None,
) -> bool:
    """Poll ``GET url`` until it answers 200 (True); False after ``within`` seconds, or as soon
    as ``proc`` (when given) has exited."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as http:
        while time.monotonic() < deadline:
            if proc is not None and proc.exited():
                return False
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return True
            await asyncio.sleep(every)
    return False
