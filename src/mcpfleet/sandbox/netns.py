"""A network namespace of our own with only a loopback interface, and a TCP listener inside it.

A container started in this namespace (podman ``--network ns:PATH``) has no route anywhere:
its only interface is ``lo``, and on it the one thing listening is our socket. The socket is
made in the namespace but served from this process's own, so what the proxy behind it
connects to is decided here, not in the container.

Linux only, and creating a network namespace needs ``CAP_SYS_ADMIN`` (mcpfleet as root with a
rootful engine). ``unshare(CLONE_NEWNET)`` moves only the calling thread, so a thread of its
own enters the namespace, makes the socket and then stays parked there: the namespace's path,
``/proc/PID/task/TID/ns/net``, lives as long as that thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct
import sys
import threading

from mcpfleet.exceptions import ConfigError

__all__ = ["PrivateNetwork"]

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


class PrivateNetwork:
    """``open()`` makes the namespace and returns the listener on ``127.0.0.1:port`` inside it;
    ``path`` is the namespace to run the container in; ``close()`` lets the thread end."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.path = ""
        self._ready = threading.Event()
        self._done = threading.Event()
        self._listener: socket.socket | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._inside, name="mcpfleet-netns", daemon=True)

    def open(self) -> socket.socket:
        """Raises :class:`ConfigError` when this process may not make a network namespace."""
        self._thread.start()
        self._ready.wait(30)
        if self._listener is None:
            raise ConfigError(self._error or "the network namespace was not made within 30 s")
        return self._listener

    def close(self) -> None:
        self._done.set()
        if self._listener is not None:
            self._listener.close()

    def _inside(self) -> None:
        if not sys.platform.startswith("linux"):
            self._error = "network.allow needs Linux network namespaces; remove it on this system"
            self._ready.set()
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(_CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                hint = (
                    "; network.allow needs mcpfleet to run as root with a rootful podman"
                    if code == errno.EPERM
                    else ""
                )
                reason = os.strerror(code)
                self._error = f"cannot make a network namespace for the egress proxy: {reason}{hint}"
                return
            _loopback_up()
            listener = socket.create_server(("127.0.0.1", self.port))
            listener.setblocking(False)
            self.path = f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net"
            self._listener = listener
        except OSError as exc:
            self._error = f"cannot set up the egress proxy's network namespace: {exc}"
            return
        finally:
            self._ready.set()
        self._done.wait()


def _loopback_up() -> None:
    """``ip link set lo up`` in the calling thread's namespace (a new one starts with lo down)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))
