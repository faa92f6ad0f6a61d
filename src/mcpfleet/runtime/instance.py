"""``Instance``: one running copy of a server, a supervised child process or a remote endpoint.

States: ``starting`` -> ``ready`` -> (``draining`` | ``maintenance`` | ``unhealthy``) -> ``stopped``;
``failed`` when it could not start or its supervisor gave up on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import (
    STDERR_MARKER,
    ConnectionClosedError,
    FleetError,
    HandshakeTimeoutError,
    ProtocolError,
    ServerStartError,
    ServerUnavailableError,
)
from mcpfleet.home import FleetHome
from mcpfleet.install import LaunchSpec
from mcpfleet.protocol import ClientSession, HttpTransport, StdioTransport
from mcpfleet.protocol.channel import current_channel
from mcpfleet.runtime.process import StderrLog, child_env, kill_group, leader_exited, spawn, terminate

__all__ = ["Instance", "InstanceState", "Updater"]

log = logging.getLogger("mcpfleet.runtime")
_REFERENCE = re.compile(r"\$\{([^}]+)\}")
Notify = Callable[[str, dict[str, Any]], None]


class InstanceState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    MAINTENANCE = "maintenance"
    UNHEALTHY = "unhealthy"
    FAILED = "failed"
    STOPPED = "stopped"


class Updater(Protocol):
    """What moves one instance to another version and back (the manager's rollout machinery)."""

    async def update(self, instance: Instance, version: Any) -> bool: ...

    async def rollback(self, instance: Instance) -> bool: ...


class Instance:
    """One copy of ``server``: ``start()`` spawns it and completes the MCP handshake.

    ``env`` is the server's resolved environment (secrets included; never logged).
    ``ended`` is set when the instance ends without being asked to (process exit).
    """

    def __init__(
        self,
        server: str,
        index: int,
        spec: ServerSpec,
        launch: LaunchSpec,
        home: FleetHome,
        *,
        env: Mapping[str, str],
        version: str,
        clock: Clock | None = None,
        on_notification: Notify | None = None,
        pool: Any = None,
        updater: Updater | None = None,
    ) -> None:
        self.server = server
        self.index = index
        self.id = f"{server}-{index}"
        self.spec = spec
        self.launch = launch
        self.home = home
        self.env = dict(env)
        self.version = version
        self.clock = clock or MonotonicClock()
        self.on_notification = on_notification
        self.pool = pool if launch.url is not None else None  # only remote sessions are pooled
        self.counted = pool if launch.url is None else None  # stdio sessions are counted, not pooled
        self.pool_key = f"{server} {launch.url or 'stdio:' + self.id}"
        self._attached = False
        self.state = InstanceState.STOPPED
        self.process: asyncio.subprocess.Process | None = None
        self.session: ClientSession | None = None
        self.stderr: StderrLog | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.last_error: str | None = None
        self.ended = asyncio.Event()
        self.updater = updater
        self._watch: asyncio.Task[None] | None = None
        # A remote server that speaks both generations: session clients' requests go over a
        # session-protocol connection, where the server can ask them for input mid-call.
        self._legacy: ClientSession | None = None
        self._legacy_refused = False
        self._legacy_lock = asyncio.Lock()

    # ------------------------------------------------------------------ facts

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    @property
    def url(self) -> str | None:
        return self.launch.url

    @property
    def in_flight(self) -> int:
        return self.session.in_flight if self.session is not None else 0

    def accepting(self) -> bool:
        return self.state is InstanceState.READY

    def uptime(self) -> float | None:
        if self.started_at is None or self.state is not InstanceState.READY:
            return None
        return self.clock.monotonic() - self.started_at

    def snapshot(self) -> dict[str, Any]:
        """Plain data for status tables and the admin API."""
        session = self.session
        return {
            "id": self.id,
            "state": self.state.value,
            "pid": self.pid,
            "url": self.url,
            "version": self.version,
            "protocol": session.protocol_version if session is not None else None,
            "restarts": self.restarts,
            "uptime": self.uptime(),
            "in_flight": self.in_flight,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Spawn (or connect) and complete the handshake within ``spec.startup_timeout``."""
        self.state = InstanceState.STARTING
        self.ended.clear()
        try:
            if self.launch.transport == "http":
                await self._connect_remote()
            else:
                await self._spawn_local()
        except BaseException as exc:
            self.state = InstanceState.FAILED
            self.last_error = str(exc) if isinstance(exc, FleetError) else repr(exc)
            await self._teardown()
            raise
        self.state = InstanceState.READY
        self.started_at = self.clock.monotonic()
        self.last_error = None

    async def _connect_remote(self) -> None:
        assert self.launch.url is not None  # transport "http" means a URL
        transport = HttpTransport(self.launch.url, server=self.server, headers=self.launch.headers)
        self.session = ClientSession(
            transport,
            server=self.server,
            protocol=self.spec.protocol,
            on_notification=self._notify,
            listen=True,
        )
        await self.session.open(self.spec.startup_timeout)

    async def _spawn_local(self) -> None:
        cwd = self.home.data_dir(self.server)
        cwd.mkdir(parents=True, exist_ok=True)
        env = child_env(
            self.launch.env,
            {"MCPFLEET_HOME": str(self.home.root), "MCPFLEET_SERVER_DATA": str(cwd)},
            self.env,
        )
        try:
            self.process = process = await spawn(self.launch.command, env=env, cwd=cwd)
        except OSError as exc:
            raise ServerStartError(
                self.server,
                f"cannot run {self.launch.command[0]!r} ({exc.strerror or exc}); "
                f"reinstall it with `mcpfleet install {self.server} --force`",
            ) from None
        assert process.stdin is not None and process.stderr is not None
        self.stderr = StderrLog(
            self.home.log_dir(self.server) / f"{self.id}.log", secrets=self.secret_values()
        )
        self.stderr.start(process.stderr)
        transport = StdioTransport(
            process.lines, process.stdin, server=self.server, extra_trouble=self._stderr_trouble
        )
        self.session = ClientSession(
            transport,
            server=self.server,
            protocol=self.spec.protocol,
            on_notification=self._notify,
            listen=True,
        )
        try:
            await self.session.open(self.spec.startup_timeout)
        except (ConnectionClosedError, ServerUnavailableError, HandshakeTimeoutError) as exc:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 1.0)
            if process.returncode is not None:
                await self.stderr.wait()
                raise ServerStartError(
                    self.server,
                    f"its process exited with code {process.returncode} during start",
                    self.stderr.tail(),
                ) from None
            if transport.garbage_lines and isinstance(exc, HandshakeTimeoutError):
                raise ProtocolError(self.server, str(exc).removeprefix(f"{self.server}: ")) from None
            raise
        self._watch = asyncio.create_task(self._watch_exit(process), name=f"mcpfleet-watch-{self.id}")
        if self.counted is not None:
            self.counted.attach(self.pool_key)
            self._attached = True

    def secret_values(self) -> list[str]:
        """Its resolved secrets: env entries written as ``${VAR}`` or ``${file:...}`` (the fleet's
        own ``${MCPFLEET_*}`` paths aside), masked in its logs."""
        secret = []
        for key, raw in self.spec.env.items():
            names = _REFERENCE.findall(str(raw))
            if key in self.env and any(not name.startswith("MCPFLEET_") for name in names):
                secret.append(self.env[key])
        return secret

    def _stderr_trouble(self) -> str:
        tail = self.stderr.tail(10) if self.stderr is not None else ""
        return f"{STDERR_MARKER}{tail}" if tail.strip() else ""

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        if self.on_notification is not None:
            self.on_notification(method, params)

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        await leader_exited(process)
        if self.state in (InstanceState.STOPPED, InstanceState.FAILED):
            return
        # What the leader left behind goes too: a child holding its stdout would keep the
        # calls in flight waiting for answers that will never come.
        kill_group(process.pid)
        with contextlib.suppress(TimeoutError):  # a daemon that left its session may hold the pipes
            await asyncio.wait_for(process.wait(), 5.0)
        code = process.returncode
        if self.session is not None:
            await self.session.aclose()
        if self.stderr is not None:
            await self.stderr.wait(0.5)
        tail = self.stderr.tail(5) if self.stderr is not None else ""
        self.last_error = f"exited with code {code}" + (f": {tail}" if tail else "")
        log.warning("%s exited unexpectedly with code %s", self.id, code)
        self._detach()
        self.state = InstanceState.FAILED
        self.ended.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop it; its whole process group is reaped. Calls in flight fail (they may have run)."""
        self.state = InstanceState.STOPPED
        await self._teardown(grace)

    def _detach(self) -> None:
        if self._attached and self.counted is not None:
            self.counted.detach(self.pool_key)
            self._attached = False

    async def _teardown(self, grace: float = 5.0) -> None:
        self._detach()
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        self._watch = None
        # The process first: once it is gone its pipes reach EOF and close on their own.
        if self.process is not None:
            await terminate(self.process, grace)
        if self.session is not None:
            await self.session.aclose()
        if self._legacy is not None:
            await self._legacy.aclose()
            self._legacy = None
        if self.stderr is not None:
            await self.stderr.wait(0.5)
            await self.stderr.aclose()

    # ------------------------------------------------------------------ calls

    def _ready_session(self) -> ClientSession:
        session = self.session
        if session is None or self.state in (InstanceState.STOPPED, InstanceState.FAILED):
            raise ServerUnavailableError(self.server, f"instance {self.id} is {self.state.value}")
        return session

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """One MCP request (``timeout`` defaults to the server's ``request_timeout``)."""
        session = self._ready_session()
        timeout = self.spec.request_timeout if timeout is None else timeout
        if self.counted is not None:
            with self.counted.using(self.pool_key):
                return await session.request(method, params, timeout=timeout)
        if self.pool is not None:
            async with self.pool.connection(self.pool_key, self._connect_pooled) as pooled:
                result: dict[str, Any] = await pooled.request(method, params, timeout=timeout)
                return result
        if session.stateless and self.launch.url is not None and not self._legacy_refused:
            channel = current_channel.get()
            if channel is not None and not channel.stateless and self.spec.protocol == "auto":
                session = await self._legacy_session(session)
        return await session.request(method, params, timeout=timeout)

    async def _legacy_session(self, modern: ClientSession) -> ClientSession:
        """The session-protocol connection for session clients (``modern`` if the server has none)."""
        async with self._legacy_lock:
            if self._legacy is not None and not self._legacy.closed:
                return self._legacy
            assert self.launch.url is not None
            try:
                self._legacy = await ClientSession.over_http(
                    self.launch.url,
                    server=self.server,
                    headers=self.launch.headers,
                    protocol="session",
                    timeout=self.spec.startup_timeout,
                    on_notification=self._notify,
                )
            except FleetError as exc:
                log.info(
                    "%s: no session-protocol connection (%s); session clients share 2026-07-28", self.id, exc
                )
                self._legacy_refused = True
                return modern
            return self._legacy

    async def _connect_pooled(self) -> ClientSession:
        assert self.launch.url is not None
        return await ClientSession.over_http(
            self.launch.url,
            server=self.server,
            headers=self.launch.headers,
            protocol=self.spec.protocol,
            timeout=self.spec.startup_timeout,
            on_notification=self._notify,
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        return await self.call("tools/call", {"name": name, "arguments": arguments or {}}, timeout=timeout)

    async def list_tools(self, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every tool, following ``nextCursor`` pages."""
        session = self._ready_session()
        return await session.list_all(
            "tools/list", "tools", timeout=self.spec.request_timeout if timeout is None else timeout
        )

    async def execute(self, tool: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The guide's spelling of :meth:`call_tool`."""
        return await self.call_tool(tool, params)

    async def health_check(self, timeout: float = 5.0) -> bool:
        """True if it answers ``ping`` (``server/discover`` on 2026-07-28) within ``timeout``."""
        if self.session is None or self.state in (InstanceState.STOPPED, InstanceState.FAILED):
            return False
        try:
            await self.session.ping(timeout=timeout)
        except FleetError as exc:
            self.last_error = str(exc)
            return False
        return True

    # ------------------------------------------------------------------ versions

    async def update(self, version: Any) -> bool:
        """Move this instance to ``version`` in place (the guide's rolling-update loop).

        ``version`` is a package version string or a whole :class:`ServerSpec`. The instance
        leaves rotation, its calls in flight finish, it restarts on the new version and returns
        to rotation only if it passes a health check (``tools/list``). Returns False when it
        failed to start or to pass: it is then stopped and :meth:`rollback` brings the old
        version back. Once every instance runs the new version, the install lock and the
        config switch to it. :meth:`MCPManager.rolling_update` does all of this for a whole
        server, without losing capacity.
        """
        return await self._updater().update(self, version)

    async def rollback(self) -> bool:
        """Return this instance to the version the fleet's install lock holds, back in rotation."""
        return await self._updater().rollback(self)

    def _updater(self) -> Updater:
        if self.updater is None:
            raise FleetError(
                f"{self.id} was not started by an MCPManager, so it cannot change versions; "
                "start the server with MCPManager.start_server() and use the instances it returns"
            )
        return self.updater
