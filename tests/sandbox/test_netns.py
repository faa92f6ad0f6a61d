"""The private network namespace: only loopback, our listener inside, unreachable from outside.

Needs CAP_SYS_ADMIN (root); skipped, saying so, elsewhere."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from mcpfleet.exceptions import ConfigError
from mcpfleet.sandbox.netns import PrivateNetwork

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def network() -> Iterator[tuple[PrivateNetwork, socket.socket]]:
    net = PrivateNetwork(free_port())
    try:
        listener = net.open()
    except ConfigError as exc:
        pytest.skip(f"this process may not make a network namespace: {exc}")
    yield net, listener
    net.close()


def inside(path: str, work: Callable[[], T]) -> T:
    """``work()`` in a thread that joined the namespace at ``path``, as the container does."""
    box: list[T | BaseException] = []

    def run() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(path) as ns:
            if libc.setns(ns.fileno(), 0x40000000) != 0:
                box.append(OSError(ctypes.get_errno(), "setns"))
                return
        try:
            box.append(work())
        except Exception as exc:  # handed to the caller
            box.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def test_only_loopback_and_our_listener(network: tuple[PrivateNetwork, socket.socket]) -> None:
    net, listener = network
    assert os.readlink(net.path) != os.readlink("/proc/self/ns/net")
    assert inside(net.path, socket.if_nameindex) == [(1, "lo")]
    listener.setblocking(True)
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"inside")
        accepted.append(conn)

    def connect() -> bytes:
        with socket.create_connection(("127.0.0.1", net.port), timeout=5) as s:
            return s.recv(100)

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    assert inside(net.path, connect) == b"inside"  # from inside the namespace: our listener
    acceptor.join(5)
    for conn in accepted:
        conn.close()
    # From this process's own namespace the port is free: nothing of the namespace shows here.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", net.port), timeout=5).close()


def test_nothing_else_is_reachable_from_inside(network: tuple[PrivateNetwork, socket.socket]) -> None:
    net, _ = network
    outside = socket.create_server(("127.0.0.1", 0))  # listening here, in our own namespace
    port = outside.getsockname()[1]

    def connect() -> int:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError as exc:
            return exc.errno or 0
        return 0

    assert inside(net.path, connect) == errno.ECONNREFUSED
    outside.close()
