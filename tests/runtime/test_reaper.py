"""Nothing mcpfleet starts outlives it (#14): `mcpfleet up` is SIGKILLed (or stopped) while its
server has grandchildren that escaped in four ways (same group, another group of the session,
the same with the environment scrubbed, their own session), and /proc is watched for anything it
started, within 5 s. Plus the reaper's parts on their own: the exec wrapper keeps the
environment and the "command not found" error, a recorded session whose leader pid was reused is
left alone, and an explicit close stops the watchdog."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import SERVERS, fleet, free_port, wait_port
from mcpfleet.config import CommandPackage, ServerSpec, dump_config
from mcpfleet.runtime.process import start_process, terminate
from mcpfleet.runtime.reaper import ENV_KEY, Reaper, kill_all, start_time

pytestmark = pytest.mark.timeout(90)

# A server whose children escape in four ways, then it becomes toy.py (same pid).
ORPHANER = """\
import os, subprocess, sys
marker, toy = sys.argv[1:3]
sleeper = [sys.executable, "-c", "import time; time.sleep(600)", marker]
subprocess.Popen(sleeper)                                # same process group
subprocess.Popen(sleeper, process_group=0)               # its own group, same session
subprocess.Popen(sleeper, process_group=0, env={})       # its own group, environment scrubbed
subprocess.Popen(sleeper, start_new_session=True)        # its own session, like a daemon
os.execv(sys.executable, [sys.executable, toy])
"""

Found = dict[int, int]  # pid -> start time (a pid reused meanwhile is another process)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _stat(pid: int) -> list[str]:
    data = _read(f"/proc/{pid}/stat")
    return data[data.rfind(b")") + 2 :].decode().split() if data else []


def scan(marker: str | None = None, parent: int | None = None) -> Found:
    """Live processes with ``marker`` in their argv or environment, or whose parent is ``parent``."""
    found: Found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        fields = _stat(pid)
        if not fields or fields[0] in ("Z", "X"):
            continue
        mine = parent is not None and int(fields[1]) == parent
        if marker is not None:
            mine = mine or any(marker.encode() in _read(f"/proc/{pid}/{f}") for f in ("cmdline", "environ"))
        if mine:
            found[pid] = int(fields[19])
    return found


def living(found: Found) -> dict[int, str]:
    """Those of ``found`` still running (not zombies), with their command lines."""
    return {
        pid: _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode()
        for pid, started in found.items()
        if start_time(pid) == started and _stat(pid)[:1] not in (["Z"], ["X"], [])
    }


async def until(check: Callable[[], object], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        if check() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def kill_leftovers(found: Found) -> None:
    for pid in living(found):  # only what this test started, by pid
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_nothing_outlives_mcpfleet_up(tmp_path: Path, sig: signal.Signals) -> None:
    marker = f"orphan-{uuid.uuid4().hex}"
    script = tmp_path / "orphaner.py"
    script.write_text(ORPHANER)
    spec = ServerSpec(
        package=CommandPackage(command=sys.executable),
        args=[str(script), marker, str(SERVERS / "toy.py")],
        env={"ORPHAN_MARKER": marker},  # the server itself; its sleepers carry it in argv
    )
    (tmp_path / "mcpfleet.yaml").write_text(dump_config(fleet(tmp_path / "home", orphaner=spec)))
    port = free_port()
    up = _start_up(tmp_path, port)
    started: Found = {}
    try:
        await wait_port(port, within=60)
        await until(lambda: len(scan(marker)) == 5, within=20)  # the server and its four sleepers
        started = scan(marker) | scan(parent=up.pid)  # ... and the watchdog, up's other child
        assert len(started) == 6, living(started)
        os.kill(up.pid, sig)
        await until(lambda: up.poll() is not None, within=30)
        assert up.poll() is not None, "mcpfleet up did not exit"
        await until(lambda: not living(started) and not scan(marker), within=5.0)
        assert not living(started) and not scan(marker), f"outlived mcpfleet up: {living(started)}"
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(10)
        kill_leftovers(started | scan(marker))


def _start_up(folder: Path, port: int) -> subprocess.Popen[bytes]:
    config = str(folder / "mcpfleet.yaml")
    command = [sys.executable, "-m", "mcpfleet", "-c", config, "up", "--port", str(port)]
    with (folder / "up.log").open("wb") as log:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)


async def test_a_child_gets_exactly_its_environment_and_a_missing_command_fails_at_once(
    tmp_path: Path,
) -> None:
    process = await start_process(
        ["env"],
        env={"PATH": os.defpath, "A": "1"},
        cwd=tmp_path,
        stdin=None,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 10)
    await terminate(process)
    env = dict(line.split("=", 1) for line in out.decode().splitlines())
    assert env.pop(ENV_KEY)  # the token the watchdog knows our children by
    assert env == {"PATH": os.defpath, "A": "1"}  # nothing added on the way (no LC_CTYPE)
    with pytest.raises(FileNotFoundError):
        await start_process(
            ["mcpfleet-no-such-command"], env={}, cwd=tmp_path, stdin=None, stdout=None, stderr=None
        )


def _sleeper_session() -> subprocess.Popen[bytes]:
    """A session of two sleepers (a leader and a child in the leader's group)."""
    code = "import subprocess, time; subprocess.Popen(['sleep', '600']); time.sleep(600)"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


async def test_a_session_whose_leader_pid_was_reused_is_not_killed() -> None:
    leader = _sleeper_session()
    try:
        await until(lambda: len(scan(parent=leader.pid)) == 1, within=10)
        session = {leader.pid: start_time(leader.pid) or 0} | scan(parent=leader.pid)
        kill_all({leader.pid: session[leader.pid] - 1}, token="not-used", within=0.5)  # not ours
        assert living(session).keys() == session.keys()
        kill_all({leader.pid: session[leader.pid]}, token="not-used", within=0.5)  # ours
        await until(lambda: not living(session), within=5.0)
        assert not living(session)
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(10)


async def test_close_kills_what_is_still_recorded_and_stops_the_watchdog() -> None:
    reaper = Reaper()  # a second one next to the process's own: only its sessions go
    kept, recorded = _sleeper_session(), _sleeper_session()
    try:
        reaper.watch(kept.pid)
        reaper.watch(recorded.pid)
        watchdog = reaper.watchdog_pid
        assert watchdog is not None
        reaper.forget(kept.pid)
        reaper.close()
        assert recorded.wait(5) == -signal.SIGKILL
        assert kept.poll() is None
        assert start_time(watchdog) is None  # gone, and reaped
    finally:
        for process in (kept, recorded):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
