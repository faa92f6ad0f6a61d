"""Nothing an mcpfleet process starts outlives it, even when it dies by SIGKILL.

A process cannot act after SIGKILL, so the cleanup is set up beforehand, in three layers:

1. **Parent-death signal.** Every child is started through a tiny exec wrapper that sets
   ``PR_SET_PDEATHSIG=SIGKILL`` and then execs the real command (same pid), so the kernel kills
   it the moment we die. A wrapper rather than ``preexec_fn``: Python code between fork and exec
   can deadlock in a threaded program, and the manager has threads. The signal follows the
   thread that forked (asyncio forks in the event loop's thread): a loop run in a thread that
   ends takes its children with it, which is what we want.
2. **Watchdog.** One small process per mcpfleet process, started at the first spawn in its own
   session (so a Ctrl-C or a signal to our process group leaves it alone), standard library
   only. It holds the read end of a pipe whose only write end is ours: the kernel closes that
   end however we exit, so EOF on the pipe is the death notice (no polling, no pid reuse). It
   then kills every process in the sessions we recorded (each child leads its own session, so
   that includes grandchildren in its group and in other groups of the session, which the
   parent-death signal does not reach) and every process whose environment carries our random
   :data:`ENV_KEY` token (a daemon that left the session still inherited it), and exits.
   A recorded session whose leader pid now belongs to a younger process is not ours and is
   skipped.
3. **Whole sessions on stop.** While we live, :func:`mcpfleet.runtime.process.terminate`
   kills what is left of a stopped child's group and session.

Rejected: ``PR_SET_CHILD_SUBREAPER`` (orphans come to us, and with us they go to init);
cgroups (they need a delegated subtree, rarely writable). Out of reach: a descendant that both
leaves the session and scrubs its environment; run the fleet in a systemd unit
(``KillMode=control-group``) or a container when that matters.

One watchdog serves every manager in the process (the test suite starts many); a spawn costs
a ~15 ms wrapper start and one pipe write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["ENV_KEY", "Reaper", "current_reaper", "guarded_command", "kill_session", "start_time"]

log = logging.getLogger("mcpfleet.runtime")

# Names this process's children in their environment (the value is a random token).
ENV_KEY = "MCPFLEET_REAPER_TOKEN"

_LINUX = sys.platform.startswith("linux")

# Runs between fork and the real exec (``python -I -S -c``: no site, no PYTHON* variables).
# Python's startup may set LC_CTYPE (PEP 538), so the child gets the one it was given, or none.
_WRAPPER = """\
import os, signal, sys
parent, lc_ctype, path, *argv = sys.argv[1:]
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(parent):  # the parent died before the signal was armed
    os.kill(os.getpid(), signal.SIGKILL)
env = dict(os.environ)
env.pop("LC_CTYPE", None)
if lc_ctype:
    env["LC_CTYPE"] = lc_ctype[1:]
try:
    os.execve(path, argv, env)
except OSError as exc:
    sys.stderr.write(f"mcpfleet: cannot run {path}: {exc.strerror}\\n")
    os._exit(127)
"""


def guarded_command(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None) -> list[str]:
    """``argv`` wrapped so that the child dies with this process (Linux; elsewhere unchanged).

    The executable is resolved here, as ``subprocess`` would (``PATH`` from ``env``, relative
    paths from ``cwd``), so a missing command still raises :class:`FileNotFoundError` at once.
    """
    if not _LINUX or not sys.executable:
        return list(argv)
    path = _resolve(argv[0], env, cwd)
    lc_ctype = "=" + env["LC_CTYPE"] if "LC_CTYPE" in env else ""
    return [sys.executable, "-I", "-S", "-c", _WRAPPER, str(os.getpid()), lc_ctype, path, *argv]


def _resolve(program: str, env: Mapping[str, str], cwd: Path | None) -> str:
    base = Path.cwd() if cwd is None else cwd
    if os.sep in program:
        path = base / program
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", program)
        if path.is_dir() or not os.access(path, os.X_OK):
            raise PermissionError(13, "Permission denied", program)
        return str(path)
    for folder in os.get_exec_path(dict(env)):
        found = shutil.which(program, path=str(base / folder))
        if found is not None:
            return str(base / found)
    raise FileNotFoundError(2, "No such file or directory", program)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].decode("ascii", "replace").split()


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a later process with its pid."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def _processes() -> Iterator[int]:
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                yield int(entry.name)


def _kill_matching(ours: Callable[[int, list[str]], bool]) -> int:
    """SIGKILL every live process (not this one) that ``ours(pid, stat fields)`` claims."""
    killed = 0
    me = os.getpid()
    for pid in _processes():
        if pid == me or not _claimed(pid, ours):
            continue
        try:
            fd = os.pidfd_open(pid)  # pins the process: the signal cannot reach a successor
        except ProcessLookupError:
            continue
        except OSError:  # no pidfd (Linux < 5.3): the pid, checked just before
            fd = -1
        try:
            if not _claimed(pid, ours):  # no longer the process that was claimed
                continue
            if fd >= 0:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:  # gone meanwhile, or not ours to signal
            pass
        finally:
            if fd >= 0:
                os.close(fd)
    return killed


def _claimed(pid: int, ours: Callable[[int, list[str]], bool]) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X") and ours(pid, fields)


def kill_session(sid: int) -> int:
    """SIGKILL every process of session ``sid`` (and of group ``sid``); how many there were."""
    return _kill_matching(lambda _pid, fields: sid in (int(fields[2]), int(fields[3])))


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return marker in b"\0" + fh.read()
    except OSError:  # gone, or not ours to read
        return False


def kill_all(
    sessions: Mapping[int, int],
    token: str,
    *,
    within: float = 3.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Kill what a dead mcpfleet process left: its recorded sessions (``{leader pid: start
    time}``) and every process with its token in the environment, rescanning until a pass finds
    nothing (a fork may race the first) or ``within`` seconds have passed."""
    live = {sid for sid, started in sessions.items() if start_time(sid) in (None, started)}
    marker = f"\0{ENV_KEY}={token}\0".encode()

    def ours(pid: int, fields: list[str]) -> bool:
        return int(fields[2]) in live or int(fields[3]) in live or _environ_has(pid, marker)

    for sid in live:
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGKILL)
    deadline = clock() + within
    while _kill_matching(ours) and clock() < deadline:
        sleep(0.05)


def _watchdog(token: str) -> int:
    """The watchdog's main: record sessions from stdin (``+pid start`` / ``-pid``); at EOF, kill."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only EOF (our owner's exit) or SIGKILL ends it
    os.chdir("/")
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # hold nothing of our owner's but the pipe
    sessions: dict[int, int] = {}
    for line in sys.stdin.buffer:
        match line.split():
            case [b"+", pid, started]:
                sessions[int(pid)] = int(started)
            case [b"-", pid]:
                sessions.pop(int(pid), None)
    kill_all(sessions, token)
    return 0


class Reaper:
    """The parent side: starts the watchdog and tells it which sessions to kill if we die.
    :func:`mcpfleet.runtime.process.start_process` does all of this::

        reaper = current_reaper()
        env = {**env, **reaper.child_env()}  # before the spawn
        reaper.watch(process.pid)  # after it; reaper.forget(process.pid) once it is reaped
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.token = secrets.token_hex(16)
        self.owner = os.getpid()
        self.clock = clock
        self.sleep = sleep
        self.watchdog_pid: int | None = None
        self._sessions: dict[int, int] = {}
        self._fd = -1
        self._lock = threading.Lock()  # event loops in several threads may spawn

    def child_env(self) -> dict[str, str]:
        return {ENV_KEY: self.token}

    def watch(self, pid: int) -> None:
        """Kill session ``pid`` (a child that leads its own session) if this process dies."""
        started = start_time(pid)
        if started is None:  # already gone
            return
        with self._lock:
            self._sessions[pid] = started
            if self._fd < 0:
                self._start()
            else:
                self._send(f"+ {pid} {started}\n")

    def forget(self, pid: int) -> None:
        """Session ``pid`` is reaped: its number may go to someone else's process."""
        with self._lock:
            if self._sessions.pop(pid, None) is not None and self._fd >= 0:
                self._send(f"- {pid}\n")

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watchdog; it first kills what is still recorded, as if we had died."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._reap_watchdog(timeout)

    def _start(self) -> None:
        if not _LINUX or not sys.executable:
            return
        read, write = os.pipe()
        env = {k: v for k, v in os.environ.items() if k != ENV_KEY}
        try:
            # posix_spawn, not Popen: nothing to warn about if the process outlives the object.
            self.watchdog_pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", "-S", __file__, self.token],
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,
            )
        except (OSError, NotImplementedError) as exc:  # NotImplementedError: no setsid in posix_spawn
            os.close(write)
            log.warning("no watchdog for child processes (%s): a SIGKILL of mcpfleet may leave some", exc)
            return
        finally:
            os.close(read)
        self._fd = write
        # A fresh pipe holds 64 KiB: the sessions so far fit without waiting for the reader.
        lines = "".join(f"+ {pid} {started}\n" for pid, started in self._sessions.items()).encode()
        try:
            while lines:
                lines = lines[os.write(write, lines) :]
        except OSError as exc:
            log.warning("the child-process watchdog did not start (%s)", exc)
            self._kill_watchdog()
            return
        os.set_blocking(write, False)  # from now on a stuck watchdog must not stall the event loop

    def _send(self, line: str) -> None:
        try:
            os.write(self._fd, line.encode())  # under PIPE_BUF: all or nothing
        except OSError as exc:  # it died (EPIPE) or stopped reading (EAGAIN): replace it
            log.warning("the child-process watchdog stopped (%s); starting another", exc)
            self._kill_watchdog()
            self._start()

    def _kill_watchdog(self) -> None:
        # SIGKILL before closing the pipe: on EOF it would kill what still runs.
        if self.watchdog_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.watchdog_pid, signal.SIGKILL)
            self._reap_watchdog(2.0)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _reap_watchdog(self, timeout: float) -> None:
        """Wait for it to exit, SIGKILL it after ``timeout``; give up after as long again."""
        pid, self.watchdog_pid = self.watchdog_pid, None
        if pid is None:
            return
        deadline, killed = self.clock() + timeout, False
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                return
            if self.clock() > deadline:
                if killed:
                    log.warning("the child-process watchdog (pid %s) did not exit", pid)
                    return
                os.kill(pid, signal.SIGKILL)
                deadline, killed = self.clock() + timeout, True
            self.sleep(0.01)

    def _after_fork(self) -> None:
        # A forked child must not hold the pipe open, or our death would go unnoticed.
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self.watchdog_pid = None
        self._sessions.clear()
        self._lock = threading.Lock()


_current: Reaper | None = None
_current_lock = threading.Lock()
_fork_hook = False


def current_reaper() -> Reaper:
    """This process's :class:`Reaper`, made at first use (its watchdog starts at the first watch).

    One per process, not per manager: what it guards against is this process's death.
    """
    global _current, _fork_hook
    with _current_lock:
        if _current is None or _current.owner != os.getpid():
            if not _fork_hook:
                os.register_at_fork(after_in_child=_forked)
                _fork_hook = True
            _current = Reaper()
        return _current


def _forked() -> None:
    global _current, _current_lock
    _current_lock = threading.Lock()  # another thread may have held it at the fork
    if _current is not None:
        _current._after_fork()
        _current = None


if __name__ == "__main__":
    sys.exit(_watchdog(sys.argv[1]))
