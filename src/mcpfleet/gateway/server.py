"""Serving the gateway with uvicorn inside the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import psutil
import uvicorn

from mcpfleet.exceptions import FleetError
from mcpfleet.gateway.app import Gateway
from mcpfleet.gateway.limits import ConnectionGate, limited_protocol
from mcpfleet.gateway.workers import reuse_port_socket, single_worker_actions
from mcpfleet.metrics import PUBLISH_INTERVAL
from mcpfleet.security import check_exposure

__all__ = ["GatewayServer", "check_port_free"]

log = logging.getLogger("mcpfleet.gateway")


def check_port_free(host: str, port: int) -> None:
    """Refuse, before anything is installed or started, a port another process listens on:
    say which one, who holds it when that can be known, and how to choose another."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise FleetError(
                    f"The gateway cannot listen on {host}:{port} ({exc.strerror}); set --host"
                ) from None
            raise FleetError(
                f"Port {port} on {host} is already in use{_holder(port)}; stop that, or choose another port "
                "with --port or gateway.port in mcpfleet.yaml"
            ) from None


def _holder(port: int) -> str:
    """`` (by pid N, name)`` for the process listening on ``port``, where this user may see it."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                with contextlib.suppress(psutil.Error):
                    return f" (by pid {conn.pid}, {' '.join(psutil.Process(conn.pid).cmdline()[:4])})"
                return f" (by pid {conn.pid})"
    return ""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The caller owns signals (mcpfleet up's loop); uvicorn must not replace its handlers.
        yield


class GatewayServer:
    """Runs a :class:`Gateway` on host:port; ``url`` is known once ``start()`` returns."""

    def __init__(
        self, gateway: Gateway, *, host: str | None = None, port: int | None = None, reuse_port: bool = False
    ) -> None:
        """``reuse_port``: listen with SO_REUSEPORT, beside the other workers of the fleet
        (``gateway.workers``: see :mod:`mcpfleet.gateway.workers`)."""
        self.gateway = gateway
        self.reuse_port = reuse_port
        self.host = host if host is not None else gateway.config.host
        check_exposure(self.host, gateway.auth_config)  # beyond loopback only with authentication
        self.port = port if port is not None else gateway.config.port
        limits = gateway.config.connections
        # Header and body deadlines and connection caps (mcpfleet.gateway.limits); fails here,
        # before serving, if this uvicorn is not one that module knows how to extend.
        protocol, gate = limited_protocol(limits)
        self.connections: ConnectionGate = gate  # open connections, in total and per client address
        workers = gateway.config.workers
        app = gateway.app if workers <= 1 else single_worker_actions(gateway.app, workers)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            http=protocol,
            ws="none",  # no WebSocket routes; an upgrade would take the connection out of the count
            log_level="warning",
            access_log=False,
            server_header=False,  # "server: uvicorn" tells a client nothing it needs, on every reply
            lifespan="off",
            interface="asgi3",
            # uvicorn hands it to loop.call_later; it is typed int but a float works.
            timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=10,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        sockets = [reuse_port_socket(self.host, self.port)] if self.reuse_port else None
        self._task = asyncio.create_task(self._server.serve(sockets), name="mcpfleet-gateway")
        while not self._server.started:
            if self._task.done():
                exc = self._task.exception() if not self._task.cancelled() else None
                raise FleetError(
                    f"The gateway could not listen on {self.host}:{self.port}"
                    f"{f' ({exc})' if exc else ''}; is the port in use? Set gateway.port in mcpfleet.yaml."
                )
            await asyncio.sleep(0.01)
        bound = [s for server in self._server.servers for s in server.sockets]
        if bound:
            self.port = int(bound[0].getsockname()[1])
        await self.gateway.monitor.start()
        self.gateway.dashboard.start()
        if self.gateway.metrics.multiprocess_dir is not None:
            self._publisher = asyncio.create_task(self._publish(), name="mcpfleet-metrics")

    async def _publish(self) -> None:
        """Multiprocess metrics: this process's fleet state, written for the others' scrapes."""
        while True:
            try:
                self.gateway.metrics.publish()
            except Exception:  # a metrics hiccup must never stop the gateway
                log.exception("could not publish fleet metrics")
            await asyncio.sleep(PUBLISH_INTERVAL)

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the graceful timeout), close."""
        if self._task is None:
            return
        await self.gateway.monitor.stop()
        await self.gateway.dashboard.stop()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        self._server.should_exit = True
        self.gateway.sessions.close_all()
        self.gateway.mcp.publish(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self.gateway.aclose()
        self.gateway.metrics.process_stopped()
        if self.gateway.engine.tracing is not None:
            await asyncio.to_thread(self.gateway.engine.tracing.shutdown)  # export what is queued
