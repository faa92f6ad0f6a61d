"""Child processes of the fleet: started in their own process group, reaped with the whole group.

A server often starts children of its own (``npx`` runs ``node``, a shell script runs
``python``); signalling only the direct child would leave them behind. Every instance process
therefore leads a new process group (session), and stopping it signals the group. Every child
is also registered with this process's :class:`~mcpfleet.runtime.reaper.Reaper`, so that none
outlives mcpfleet even when it dies by SIGKILL (how: see that module).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from mcpfleet.protocol.stdout import LINE_LIMIT, StdoutPipe
from mcpfleet.runtime.reaper import current_reaper, guarded_command, kill_session

__all__ = [
    "BASE_ENV_KEYS",
    "Child",
    "StderrLog",
    "child_env",
    "kill_group",
    "leader_exited",
    "spawn",
    "start_process",
    "terminate",
]

Stdio = int | IO[Any] | None

# What a server inherits from mcpfleet's own environment; everything else is declared in its
# config, so one server's secrets never reach another.
BASE_ENV_KEYS = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE",
    "SYSTEMROOT", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
)  # fmt: skip


def child_env(*layers: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: the base keys of ours, then each layer on top."""
    source = os.environ if base is None else base
    env = {k: source[k] for k in BASE_ENV_KEYS if k in source}
    for layer in layers:
        env.update(layer)
    return env


class Child(asyncio.subprocess.Process):
    """A stdio server's process: ``stdin`` and ``stderr`` as asyncio gives them, and its stdout
    as ``lines`` (:class:`~mcpfleet.protocol.stdout.StdoutPipe`), read in the pipe's own callback;
    ``stdout`` is None."""

    lines: StdoutPipe


class _StdioProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's protocol for a child's pipes, with stdout taken over by a StdoutPipe as soon as
    the pipes are connected. What the pipe read before that (the subprocess transport queues it
    until then) reaches the StdoutPipe first, in order."""

    lines: StdoutPipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.SubprocessTransport)
        pipe = transport.get_pipe_transport(1)
        if isinstance(pipe, asyncio.ReadTransport):
            self.lines = StdoutPipe(pipe)
            self.stdout = None  # nothing reaches the StreamReader asyncio made

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd == 1 and self.lines is not None:
            self.lines.data_received(data if isinstance(data, bytes) else data.encode())
        else:
            super().pipe_data_received(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and self.lines is not None:
            self.lines.end(exc)  # closed before the takeover; a no-op after it (the pipe said so)
        super().pipe_connection_lost(fd, exc)


async def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Child:
    """Start ``argv`` with pipes for stdio, leading its own process group."""
    pipe = asyncio.subprocess.PIPE
    loop = asyncio.get_running_loop()
    transport, protocol = await _exec(
        argv, env, cwd, (pipe, pipe, pipe), lambda: _StdioProtocol(limit=LINE_LIMIT, loop=loop)
    )
    child = Child(transport, protocol, loop)
    assert protocol.lines is not None
    child.lines = protocol.lines
    return child


async def start_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    limit: int = 2**16,
) -> asyncio.subprocess.Process:
    """Start ``argv`` (``env`` None: ours) leading its own session, so that it never outlives us:
    it gets a parent-death signal, and the reaper's watchdog kills its session if we die.
    Stop it with :func:`terminate`. A missing command raises :class:`FileNotFoundError`."""
    loop = asyncio.get_running_loop()
    transport, protocol = await _exec(
        argv, env, cwd, (stdin, stdout, stderr),
        lambda: asyncio.subprocess.SubprocessStreamProtocol(limit=limit, loop=loop),
    )  # fmt: skip
    return asyncio.subprocess.Process(transport, protocol, loop)


P = TypeVar("P", bound=asyncio.subprocess.SubprocessStreamProtocol)


async def _exec(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: Path | None,
    stdio: tuple[Stdio, Stdio, Stdio],
    protocol: Callable[[], P],
) -> tuple[asyncio.SubprocessTransport, P]:
    """What ``asyncio.create_subprocess_exec`` does, with the protocol given, for a child that
    leads its own session and is watched by the reaper (``stdio``: stdin, stdout, stderr)."""
    reaper = current_reaper()
    full_env = {**(os.environ if env is None else env), **reaper.child_env()}
    transport, made = await asyncio.get_running_loop().subprocess_exec(
        protocol,
        *guarded_command(argv, env=full_env, cwd=cwd),
        stdin=stdio[0],
        stdout=stdio[1],
        stderr=stdio[2],
        env=full_env,
        cwd=None if cwd is None else str(cwd),
        start_new_session=True,
    )
    reaper.watch(transport.get_pid())
    return transport, made


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> bool:
    """Signal a whole process group; False if nothing was left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id was reused by someone else's process: not ours
        return False
    return True


async def terminate(process: asyncio.subprocess.Process, grace: float = 5.0) -> int | None:
    """Stop a process and its group: close stdin, SIGTERM after a moment, SIGKILL after ``grace``.

    Always reaps the leader and kills whatever is left of its group and session, so nothing
    survives (a daemon that left the session goes when mcpfleet exits: see the reaper).
    """
    pgid = process.pid
    if process.returncode is None:
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()  # well-behaved stdio servers exit on EOF
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), min(0.5, grace))
    if process.returncode is None:
        kill_group(pgid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)
    # The leader if it is still there, and children that outlived it (they carry its group id),
    # and those that moved to another group of its session.
    kill_group(pgid, signal.SIGKILL)
    await asyncio.to_thread(kill_session, pgid)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 1.0)  # a daemon that left the session may hold its pipes
    current_reaper().forget(pgid)
    return process.returncode


async def leader_exited(process: asyncio.subprocess.Process) -> None:
    """Return when the process itself has exited, even if its children still hold its pipes
    (``process.wait()`` waits for the pipes too). Uses a pidfd where Linux offers one."""
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd here, or the process is already reaped
        while process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), 0.5)
        return
    loop = asyncio.get_running_loop()
    exited = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


class StderrLog:
    """Copies a process's stderr to ``path``, rotated at ``max_bytes`` with ``backups`` old files.

    Keeps the last few kilobytes in memory so a start failure can show the server's last words.
    """

    TAIL_BYTES = 4096
    CARRY_BYTES = 64 * 1024  # a line longer than this is masked and written in parts

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 5 * 1024 * 1024,
        backups: int = 3,
        secrets: Iterable[str] = (),
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        # The server's own secret values (its resolved ${VAR}s): never written out as they are.
        self.secrets = sorted({s.encode() for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._tail = bytearray()
        self._carry = b""
        self._task: asyncio.Task[None] | None = None

    def _masked(self, chunk: bytes, final: bool = False) -> bytes:
        """What of ``chunk`` can be written now, secrets masked: whole lines only (a secret may
        be split between two reads), unless the line runs long or the stream ended."""
        data = self._carry + chunk
        cut = len(data) if final or len(data) > self.CARRY_BYTES else data.rfind(b"\n") + 1
        ready, self._carry = data[:cut], data[cut:]
        for secret in self.secrets:
            ready = ready.replace(secret, b"***")
        return ready

    def start(self, stream: asyncio.StreamReader) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._pump(stream), name=f"mcpfleet-stderr-{self.path.stem}")

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        fh = self.path.open("ab")
        try:
            size = fh.tell()
            while True:
                raw = await stream.read(65536)
                chunk = self._masked(raw, final=not raw)
                if not raw and not chunk:
                    break
                self._tail += chunk
                del self._tail[: -self.TAIL_BYTES]
                if size + len(chunk) > self.max_bytes and size > 0:
                    fh.close()
                    self._rotate()
                    fh = self.path.open("ab")
                    size = 0
                fh.write(chunk)
                fh.flush()
                size += len(chunk)
        finally:
            fh.close()

    def _rotate(self) -> None:
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def tail(self, lines: int = 20) -> str:
        text = self._tail.decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    async def wait(self, timeout: float = 1.0) -> None:
        """Let the pump copy what is left after the process ended."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
