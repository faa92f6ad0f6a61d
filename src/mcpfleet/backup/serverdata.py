"""Moving a server's data folder (``<home>/data/<server>/``) in and out while the fleet runs.

:class:`ServerData` is the folder as files in memory: relative POSIX path -> bytes. Regular files
only; symlinks, sockets and the like are left out (and logged), so an export never reaches
outside the folder.

Consistency of an export while the server runs:

1. SQLite files (found by their header) are copied first with SQLite's online backup API, which
   gives a consistent snapshot whatever their writers do; their ``-wal``/``-shm``/``-journal``
   files are not copied (the snapshot holds what they held).
2. For the other files, mcpfleet waits for a moment with no call in flight (draining new calls
   only if the first half of ``timeout`` passes without one), then stops the server's process
   groups with SIGSTOP in that same moment, copies, and resumes them with SIGCONT. No call is
   half-way through a write; calls that arrive meanwhile wait in the pipe, none fails.

Import drains and stops the server, swaps the folder in by rename, and starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from mcpfleet.backup.archive import check_name
from mcpfleet.backup.sources import SQLITE_COMPANIONS, copy_sqlite, is_sqlite
from mcpfleet.exceptions import BackupError
from mcpfleet.runtime.process import kill_group

if TYPE_CHECKING:
    from mcpfleet.runtime.fleet import Fleet

__all__ = ["ServerData", "export_server_data", "import_server_data", "paused"]

log = logging.getLogger("mcpfleet.backup")


@dataclass(frozen=True)
class ServerData:
    """A server's data folder: ``files`` maps relative POSIX paths (``"db/app.sqlite"``) to bytes."""

    server: str
    files: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.files:
            check_name(name)  # never a path that leaves the data folder

    @property
    def size(self) -> int:
        return sum(len(content) for content in self.files.values())


def _walk(root: Path) -> list[Path]:
    """Regular files below ``root``, without following links."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                log.warning("backup: left out %s (not a regular file)", path)
                continue
            found.append(path)
        dirs[:] = [d for d in dirs if not Path(folder, d).is_symlink()]
    return sorted(found)


def _read_sqlite(path: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix="mcpfleet-sqlite-") as tmp:
        copy = Path(tmp) / "copy.db"
        copy_sqlite(path, copy)
        return copy.read_bytes()


def _read_sqlite_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): _read_sqlite(p) for p in _walk(root) if is_sqlite(p)}


def _read_other_files(root: Path, done: Mapping[str, bytes]) -> dict[str, bytes]:
    skip = set(done) | {f"{name}{suffix}" for name in done for suffix in SQLITE_COMPANIONS}
    files = {}
    for path in _walk(root):
        name = path.relative_to(root).as_posix()
        if name not in skip:
            with contextlib.suppress(FileNotFoundError):  # removed by the server since the walk
                files[name] = path.read_bytes()
    return files


@contextlib.asynccontextmanager
async def paused(fleet: Fleet, server: str, timeout: float = 30.0) -> AsyncIterator[None]:
    """Hold a running server still: no call in flight, its processes stopped (SIGSTOP) until exit."""
    lb = fleet.load_balancer
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    drained = False
    try:
        while lb.in_flight(server):
            left = deadline - loop.time()
            if left <= 0:
                raise BackupError(
                    f"{server} still had {lb.in_flight(server)} call(s) in flight after {timeout:g} s, so "
                    "its data was not copied; retry when it is less busy, or give a longer timeout"
                )
            if not drained and left < timeout / 2 and lb.mode(server) is None:
                lb.set_mode(server, "draining")  # let the calls in flight end; new ones wait elsewhere
                drained = True
            await lb.wait_idle(server, min(left, 0.25))
        # No await between the check above and the SIGSTOP below: no call can start in between.
        groups = [i.pid for i in fleet.get_server_instances(server) if i.pid is not None]
        stopped = [pid for pid in groups if kill_group(pid, signal.SIGSTOP)]
        try:
            await _until_stopped(stopped)  # a signal is sent at once but taken a moment later
            yield
        finally:
            for pid in stopped:
                kill_group(pid, signal.SIGCONT)
    finally:
        if drained and lb.mode(server) == "draining":
            lb.set_mode(server, None)


STOP_WAIT = 5.0  # seconds for a SIGSTOPped process group to come to a halt


def _group(pgid: int) -> list[psutil.Process]:
    """The processes of a process group (a server's own, started in its own session)."""
    members = []
    for process in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid:
                members.append(process)
    return members


async def _until_stopped(groups: list[int]) -> None:
    """Wait until every process of the groups is stopped, so nothing writes while files are copied."""
    members = [p for pgid in groups for p in _group(pgid)]
    deadline = asyncio.get_running_loop().time() + STOP_WAIT
    while True:
        running = []
        for process in members:
            with contextlib.suppress(psutil.NoSuchProcess):  # gone: writes nothing
                if process.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
                    running.append(process)
        if not running:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise BackupError(
                f"processes {', '.join(str(p.pid) for p in running)} did not stop within {STOP_WAIT:g} s "
                "of SIGSTOP, so the server's data was not copied; retry the backup"
            )
        members = running
        await asyncio.sleep(0.005)


async def export_server_data(fleet: Fleet, server: str, *, timeout: float = 30.0) -> ServerData:
    """Copy a server's data folder, consistent while it runs (see the module docs)."""
    fleet.spec(server)
    root = fleet.home.data_dir(server)
    if not root.is_dir():
        return ServerData(server, {})
    files = await asyncio.to_thread(_read_sqlite_files, root)
    async with paused(fleet, server, timeout):
        files.update(await asyncio.to_thread(_read_other_files, root, files))
    return ServerData(server, dict(sorted(files.items())))


def _write_tree(folder: Path, files: Mapping[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for name, content in files.items():
        path = folder / check_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())


def _swap(root: Path, staged: Path) -> None:
    old = root.with_name(f".{root.name}.old-{uuid.uuid4().hex[:8]}")
    if root.exists():
        root.rename(old)
    try:
        staged.rename(root)
    except OSError:
        if old.exists():
            old.rename(root)  # put the previous data back rather than leave none
        raise
    shutil.rmtree(old, ignore_errors=True)


async def import_server_data(fleet: Fleet, server: str, data: ServerData, *, timeout: float = 30.0) -> None:
    """Replace a server's data folder with ``data``; a running server is drained, stopped, and
    started again on the new data."""
    fleet.spec(server)
    root = fleet.home.data_dir(server)
    staged = root.with_name(f".{server}.import-{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(_write_tree, staged, data.files)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    running = fleet.supervisor(server) is not None
    mode = fleet.maintenance_mode(server)
    try:
        if running:
            await fleet.drain_connections(server, timeout)
            await fleet.stop_server(server)
        await asyncio.to_thread(_swap, root, staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if running:
        await fleet.start_server(server)
        if mode is None:
            await fleet.set_maintenance_mode(server, False)  # takes calls again once healthy
