"""``run_tool``, the runner every installer's tool goes through (npm, uv, podman/docker), with a
fake slow installer in their place: a process whose child holds its output pipe, as npm's node
does. On a timeout or a cancellation the whole process group goes, and the call returns."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from mcpfleet.install.base import run_tool
from mcpfleet.runtime.reaper import start_time

pytestmark = pytest.mark.timeout(30)

# Writes "<its pid> <its child's pid>" to argv[1], then waits; the child shares its stdout.
SLOW_INSTALLER = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{__import__('os').getpid()} {child.pid}")
time.sleep(600)
"""


async def pids_from(path: Path) -> dict[int, int]:
    for _ in range(200):
        if path.exists() and len(text := path.read_text().split()) == 2:
            return {int(pid): start_time(int(pid)) or 0 for pid in text}
        await asyncio.sleep(0.05)
    raise AssertionError("the fake installer did not start")


def running(found: dict[int, int]) -> list[int]:
    def alive(pid: int, started: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            return False
        return start_time(pid) == started and state not in (b"Z", b"X")

    return [pid for pid, started in found.items() if alive(pid, started)]


async def leftovers_after(found: dict[int, int], within: float = 5.0) -> list[int]:
    """What of ``found`` still runs ``within`` seconds (a SIGKILL takes a moment to land), then
    killed (by pid: only what the test started)."""
    for _ in range(int(within / 0.05)):
        if not running(found):
            return []
        await asyncio.sleep(0.05)
    left = running(found)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


async def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await run_tool([sys.executable, "-c", SLOW_INSTALLER, str(pids)], cwd=tmp_path, timeout=1.0)
    assert asyncio.get_running_loop().time() - started < 10  # it did not wait for the held pipe
    found = await pids_from(pids)
    assert not await leftovers_after(found)


async def test_a_cancellation_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(run_tool([sys.executable, "-c", SLOW_INSTALLER, str(pids)], cwd=tmp_path))
    found = await pids_from(pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert not await leftovers_after(found)


async def test_what_a_finished_tool_left_in_its_group_goes_too(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys\n"
        "quiet = {'stdout': subprocess.DEVNULL, 'stderr': subprocess.DEVNULL}  # it holds no pipe of ours\n"
        "print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], **quiet).pid)\n"
    )
    result = await run_tool([sys.executable, "-c", code], cwd=tmp_path, timeout=20)
    assert result.code == 0
    child = int(result.stdout)
    found = {child: start_time(child) or 0}
    assert not await leftovers_after(found)
