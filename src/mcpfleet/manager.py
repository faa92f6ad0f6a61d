"""``MCPManager``: the facade the operational guide uses.

    from mcpfleet.manager import MCPManager, InstallStrategy

    async with MCPManager("mcpfleet.yaml") as manager:
        await manager.batch_install(["filesystem", "time"], strategy=InstallStrategy.PARALLEL, verify=True)
        await manager.start_server("time")
        result = await manager.execute_tool("time", "get_current_time", {"timezone": "UTC"})

The manager can be built outside an event loop; it starts nothing until asked (or until the
first ``execute_tool`` on a server that is not running yet). It composes the modules that do the
work: :mod:`mcpfleet.launching` (install, start, stop), :mod:`mcpfleet.routing` (calls, traffic),
:mod:`mcpfleet.rollout`, :mod:`mcpfleet.autoscale` and :mod:`mcpfleet.backup.serverdata`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mcpfleet.autoscale.local import resize
from mcpfleet.backup.serverdata import ServerData, export_server_data, import_server_data
from mcpfleet.catalog import Catalog
from mcpfleet.clock import Clock
from mcpfleet.config import FleetConfig, ServerSpec, load_config
from mcpfleet.exceptions import FleetError, InstallError, ServerUnavailableError
from mcpfleet.home import FleetHome
from mcpfleet.install import BatchResult, InstallLock, InstallOutcome, InstallStrategy
from mcpfleet.latency import CallLatencies
from mcpfleet.launching import Launcher, Progress
from mcpfleet.loadbalancer import LoadBalancer, Target
from mcpfleet.percaller.pool import PerCallerPools
from mcpfleet.pooling import ConnectionPool
from mcpfleet.rollout import NewVersion, Releases, Rollout, RolloutResult, Smoke
from mcpfleet.rollout import Progress as RolloutProgress
from mcpfleet.routing import Router, ToolInfo, tools_of, with_failover
from mcpfleet.runtime import Instance, Supervisor
from mcpfleet.runtime.fleet import Event as Listener
from mcpfleet.runtime.state import ServerState, StateSnapshot
from mcpfleet.settings import Settings

__all__ = ["InstallStrategy", "MCPManager", "ToolInfo"]

log = logging.getLogger("mcpfleet.manager")


class MCPManager:
    """Installs, runs and calls the servers of one fleet.

    ``config`` is a :class:`FleetConfig`, a path to ``mcpfleet.yaml``, or ``None`` for the
    file named by ``MCPFLEET_CONFIG`` (default ``./mcpfleet.yaml``) if it exists, else an
    empty fleet. ``home`` overrides the config's fleet home. With ``auto_install=True`` the
    first call to a configured but not installed server installs it, within ``install_timeout``.

    Calls go through ``load_balancer`` (one is made if not given) to instances that can take them,
    else to the server's backup URLs; remote sessions come from ``connection_pool`` if given.
    Periodic probes are the :class:`~mcpfleet.monitoring.HealthMonitor`'s work (``mcpfleet up``).
    """

    def __init__(
        self,
        config: FleetConfig | str | Path | None = None,
        *,
        home: str | Path | None = None,
        connection_pool: ConnectionPool | None = None,
        load_balancer: LoadBalancer | None = None,
        catalog: Catalog | None = None,
        auto_install: bool = False,
        install_timeout: float = 120.0,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        settings = Settings()
        self.config_path: Path | None = None
        if isinstance(config, FleetConfig):
            self.config = config
        elif config is not None or settings.config.exists():
            self.config_path = Path(config if config is not None else settings.config)
            self.config = load_config(self.config_path)
        else:
            self.config = FleetConfig()
        if home is not None or settings.home is not None:
            self.config.home = str(home if home is not None else settings.home)
        self.home = FleetHome.at(self.config.home_path())
        self.catalog = catalog or Catalog.for_fleet(self.config)
        self.connection_pool = connection_pool
        self.load_balancer = load_balancer or LoadBalancer()
        self.auto_install = auto_install
        self.install_timeout = install_timeout
        self.latencies = CallLatencies()  # recent tools/call durations per server (autoscaler's p95)
        self._router = Router(self.load_balancer, self.latencies, connection_pool, on_event=self._emit)
        self.start_failures = self._router.start_failures  # server -> (when, why) of its last failed start
        self._launcher = Launcher(
            self.config, self.home, os.environ if environ is None else environ, self._router,
            clock=clock, on_event=self._emit, pool=connection_pool,
        )  # fmt: skip
        install = self.install if auto_install else None
        self.per_caller = PerCallerPools(self.config, self._launcher, install=install)  # ${user:...} env
        self.installs = self._launcher.installs  # each server's last install attempt, for metrics
        self.start_histories = self._launcher.histories  # each server's starts (see server_state)
        self.wanted: set[str] = set()  # asked to run, not stopped since: the health monitor keeps trying
        self._listeners: list[Listener] = []
        self._scaling: dict[str, asyncio.Lock] = {}
        self._releases: dict[str, Releases] = {}  # each server's versions, for rolling updates

    async def __aenter__(self) -> MCPManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every running server; no child process is left behind."""
        await self.per_caller.aclose()
        await self._launcher.aclose()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(server, method, params)`` for every notification an upstream server sends,
        and for the fleet's own ``mcpfleet/started`` and ``mcpfleet/stopped`` events."""
        self._listeners.append(listener)

    def _emit(self, server: str, method: str, params: dict[str, Any] | None = None) -> None:
        for listener in self._listeners:
            try:
                listener(server, method, params or {})
            except Exception:  # a listener's bug must not break the server's reader
                log.exception("listener failed on %s from %s", method, server)

    # ----------------------------------------------------------------- config and install

    def list_servers(self) -> list[str]:
        """Names of the fleet's servers, in config order."""
        return list(self.config.servers)

    def spec(self, server: str) -> ServerSpec:
        return self._launcher.spec(server)

    def get_all_configs(self) -> dict[str, dict[str, Any]]:
        """Every server's config as plain data (``${VAR}`` references unresolved, so no secrets)."""
        return {name: spec.model_dump(mode="json") for name, spec in self.config.servers.items()}

    async def apply_config(self, server: str, config: ServerSpec | Mapping[str, Any]) -> None:
        """Set a server's config (validated); a running server restarts on it."""
        old = self.config.servers.get(server)
        spec = self._launcher.set_spec(server, config)
        if old != spec:  # each principal's next request starts an instance on the new config
            await self.per_caller.stop(server, keep_running=True)
        if self.supervisor(server) is not None and old != spec:
            await self.stop_server(server)
            await self.start_server(server)

    def save_config(self, path: str | Path | None = None) -> Path:
        """Write the fleet config (e.g. after ``batch_install`` added catalog servers)."""
        return self._launcher.save(
            Path(path) if path is not None else self.config_path or Path("mcpfleet.yaml")
        )

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment ``${VAR}`` references are resolved from (the process's, or the one given)."""
        return self._launcher.environ

    def resolve_values(self, values: Mapping[str, str], *, where: str) -> dict[str, str]:
        """Fleet-level settings with their ``${VAR}`` references filled in (tracing headers, secrets)."""
        return self._launcher.resolve_values(values, where=where)

    @property
    def lock(self) -> InstallLock:
        return self._launcher.lock

    async def batch_install(
        self,
        servers: Sequence[str] | None = None,
        strategy: InstallStrategy = InstallStrategy.PARALLEL,
        verify: bool = False,
        *,
        concurrency: int = 4,
        force: bool = False,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Install servers (fleet names or catalog aliases; default: every enabled fleet server); one
        failure does not stop the others: the result names each server's outcome and reason."""
        names = servers if servers is not None else [n for n, s in self.config.servers.items() if s.enabled]
        return await self._launcher.install(
            list(names), self.catalog, strategy=strategy, verify=verify, concurrency=concurrency,
            force=force, progress=progress,
        )  # fmt: skip

    async def install(self, server: str, *, verify: bool = False, force: bool = False) -> InstallOutcome:
        """Install one server; raises :class:`InstallError` with the reason if it fails."""
        strategy = InstallStrategy.SEQUENTIAL
        outcome = (await self.batch_install([server], strategy, verify=verify, force=force)).outcomes[0]
        if not outcome.ok:
            raise InstallError(server, outcome.reason or "unknown reason")
        return outcome

    # ----------------------------------------------------------------- run

    async def start_server(self, server: str, instances: int | None = None) -> list[Instance]:
        """Start a server's instances (``instances`` overrides the config's count) and wait until ready."""
        spec = self.spec(server)
        if self.per_caller.handles(server):  # one instance per principal, each on its first request
            self.per_caller.activate(server)
            return []
        self.wanted.add(server)
        count = instances if instances is not None else max(spec.instances, 1)
        install = functools.partial(self.install, server) if self.auto_install else None
        return await self._launcher.start(
            server, spec, count, self.releases(server), install, self.install_timeout
        )

    async def start_all(self, *, on_error: Callable[[str, FleetError], None] | None = None) -> dict[str, str]:
        """Start every enabled server; one that fails to start leaves the rest running.
        Returns server -> "ready" or the error message."""
        return await self._launcher.start_all(self.start_server, on_error)

    async def stop_server(self, server: str) -> None:
        self.spec(server)
        self.wanted.discard(server)
        await self.per_caller.stop(server)
        await self._launcher.stop(server)

    async def restart_server(self, server: str) -> None:
        """Restart a server's instances one at a time (a server that gave up restarting starts afresh)."""
        if self.per_caller.handles(server):  # its principals' next requests start fresh instances
            return await self.per_caller.stop(server, keep_running=True)
        supervisor = self.supervisor(server)
        await (self.start_server(server) if supervisor is None else supervisor.restart())

    async def scale_server(self, server: str, count: int, *, drain_timeout: float = 30.0) -> int:
        """Run ``count`` instances of a running local server; returns how many it runs now (one still
        busy after ``drain_timeout`` is kept: no call is cut; see :mod:`mcpfleet.autoscale.local`)."""
        self.spec(server)
        lock = self._scaling.setdefault(server, asyncio.Lock())
        return await resize(self, server, count, drain_timeout=drain_timeout, lock=lock, on_event=self._emit)

    def get_server_instances(self, server: str) -> list[Instance]:
        self.spec(server)
        supervisor = self.supervisor(server)
        return list(supervisor.instances) if supervisor else []

    def supervisor(self, server: str) -> Supervisor | None:
        """The supervisor of a running server (None when it is not running)."""
        return self._launcher.supervisors.get(server)

    def runs_instances(self, server: str) -> bool:
        """Whether the server, once started, runs instances of its own (not one per caller, not none)."""
        return self.spec(server).instances > 0 and not self.per_caller.handles(server)

    def running_servers(self) -> list[str]:
        return [*self._launcher.supervisors, *self.per_caller.active()]

    def speaks_stateless(self, server: str) -> bool:
        """Whether every ready instance of the server is spoken to in 2026-07-28 (whose servers
        ask for input in ``input_required`` results, never by requests of their own mid-call)."""
        ready = self._launcher.ready_instances(server)
        return bool(ready) and all(i.session is not None and i.session.stateless for i in ready)

    def server_capabilities(self, server: str) -> dict[str, Any] | None:
        """What a running server declared in its handshake (None when no instance is ready)."""
        sessions = [i.session for i in self._launcher.ready_instances(server) if i.session is not None]
        return sessions[0].capabilities if sessions else None

    async def health_check(self, server: str, timeout: float = 5.0) -> bool:
        """True if at least one instance is ready and answers within ``timeout``."""
        self.spec(server)
        if self.per_caller.handles(server):  # its principals' instances (none running: none sick)
            return await self.per_caller.health_check(server, timeout)
        return await self._launcher.health_check(server, timeout)

    def status(self) -> list[dict[str, Any]]:
        """One row per server: config, install state, its state and its instances' snapshots."""
        return self.per_caller.with_instances(self._launcher.status())

    def server_state(self, server: str) -> StateSnapshot:
        """Where a server is: idle, starting, ready, backing off (until when), gave up, stopped,
        draining or maintenance, with its last error and restarts (see :mod:`mcpfleet.runtime.state`)."""
        self.spec(server)
        return self._launcher.server_state(server)

    # ----------------------------------------------------------------- calls

    async def execute_tool(
        self,
        server: str,
        tool: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        session_key: str | None = None,
    ) -> dict[str, Any]:
        """Call a tool and return the MCP ``CallToolResult`` (``content``, ``isError``, ...); ``session_key``
        keeps one client's calls on one instance under the ``session_hash`` strategy."""
        call = {"name": tool, "arguments": dict(params or {})}
        return await self.request(server, "tools/call", call, timeout=timeout, session_key=session_key)

    async def request(
        self,
        server: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        session_key: str | None = None,
        pin: list[str] | None = None,
    ) -> dict[str, Any]:
        """Any MCP request to one instance of a server (``resources/read``, ``prompts/get``, ...), started
        first if need be; ``pin`` keeps a multi-round request on one instance (see :class:`Router`)."""
        spec = self.spec(server)
        if self.per_caller.handles(server):  # the instance of the principal it is made for
            return await self.per_caller.request(server, method, dict(params or {}), timeout=timeout)
        if self.supervisor(server) is None or self._launcher.starting(server):
            state = self._launcher.server_state(server)
            if state.state is ServerState.GAVE_UP:  # for good: a request does not try it again
                raise ServerUnavailableError(server, f"it is unavailable: {state.summary()}")
            await self._router.start(server, self.start_server)
        return await self._router.send(
            server, method, dict(params or {}), retry_tools=spec.retry_tools, timeout=timeout,
            session_key=session_key, pin=pin,
        )  # fmt: skip

    async def list_tools(self, server: str | None = None) -> list[ToolInfo]:
        """Tools of one server, or of every running server when ``server`` is None."""
        return await tools_of([server] if server is not None else self.running_servers(), self.request)

    # ----------------------------------------------------------------- traffic

    async def drain_connections(self, server: str, timeout: float = 30.0) -> int:
        """Stop new calls to the server's instances and wait up to ``timeout`` for calls in flight;
        returns how many were left then (see :meth:`mcpfleet.routing.Router.drain`)."""
        self.spec(server)
        return await self._router.drain(server, timeout)

    async def set_maintenance_mode(self, server: str, enabled: bool) -> None:
        """In maintenance a server takes no calls (they go to its backups, if any); a running server
        leaves it only if it passes a health check (else :class:`ServerUnavailableError`)."""
        self.spec(server)
        healthy = functools.partial(self.health_check, server) if self.supervisor(server) else None
        await self._router.set_maintenance(server, enabled, healthy)

    def maintenance_mode(self, server: str) -> str | None:
        """``"maintenance"``, ``"draining"`` or ``None`` (taking calls)."""
        self.spec(server)
        return self.load_balancer.mode(server)

    async def configure_failover(
        self, server: str, primary_url: str | None, backup_urls: Sequence[str]
    ) -> None:
        """Give a server backup MCP URLs that take its calls while none of its instances can; saved in
        its config (``primary_url``: a remote server's own URL; see :func:`.routing.with_failover`)."""
        await self._reconfigure(server, with_failover(self.config, server, primary_url, backup_urls))

    async def switch_server_url(self, server: str, url: str) -> None:
        """Send a server's calls to ``url`` once it answers: a remote server moves there; a local one's
        calls go there until :meth:`restore_traffic` (see :meth:`mcpfleet.routing.Router.switch`)."""
        spec = self.spec(server)
        move = functools.partial(self._reconfigure, server)
        await self._router.switch(server, spec, url, self._launcher.headers(server, spec), move)

    async def _reconfigure(self, server: str, spec: ServerSpec) -> None:
        """Apply a server's next config; a running server's balancer entries follow it."""
        await self.apply_config(server, spec)
        supervisor = self.supervisor(server)
        if supervisor is not None:
            await self._launcher.route(server, self.spec(server), supervisor)

    async def restore_traffic(self, server: str) -> None:
        """Undo :meth:`switch_server_url` for a local server: its own instances take calls again."""
        self.spec(server)
        await self.load_balancer.restore_traffic(server)

    def targets(self, server: str) -> list[Target]:
        """The balancer's view of a server: its instances, then its backups."""
        return [*self.load_balancer.targets(server), *self.load_balancer.backups(server)]

    # ----------------------------------------------------------------- versions, data, deployment

    def releases(self, server: str) -> Releases:
        """A server's versions: the committed one, those staged beside it, the switch between them."""
        self.spec(server)
        if server not in self._releases:
            self._releases[server] = Releases(self, server, self._launcher, self._emit)
        return self._releases[server]

    async def rolling_update(
        self,
        server: str,
        new_version: NewVersion,
        *,
        health_timeout: float = 10.0,
        drain_timeout: float = 30.0,
        smoke: Smoke | None = None,
        progress: RolloutProgress | None = None,
        save: bool = True,
    ) -> RolloutResult:
        """Move every instance of ``server`` to ``new_version`` (a package version, or its next
        :class:`ServerSpec`), one at a time behind a health gate, losing no call; a failed gate rolls
        back and raises :class:`~mcpfleet.exceptions.RolloutError` (see :mod:`mcpfleet.rollout`).

            result = await manager.rolling_update("time", "2026.10.19")
        """
        releases = self.releases(server)
        releases.save = save
        return await Rollout(releases, health_timeout, drain_timeout, smoke, progress).run(new_version)

    async def export_server_data(self, server: str, *, timeout: float = 30.0) -> ServerData:
        """A copy of the server's data folder, consistent while it runs (SQLite files through the online
        backup API, the rest with its processes held still; see :mod:`mcpfleet.backup.serverdata`)."""
        return await export_server_data(self, server, timeout=timeout)

    async def import_server_data(self, server: str, data: ServerData, *, timeout: float = 30.0) -> None:
        """Replace the server's data folder with ``data`` (a running server is drained, stopped,
        and restarted on it)."""
        await import_server_data(self, server, data, timeout=timeout)

    async def deploy_with_docker(
        self, compose_file: str | Path = "docker-compose.mcp.yml", env_file: str | Path | None = None
    ) -> str:
        """Bring the fleet up with Docker Compose (or podman-compose), rendering a missing ``compose_file``
        first; returns the gateway's URL once ready (see :mod:`mcpfleet.deploy.compose`)."""
        from mcpfleet.deploy.compose import deploy_with_docker

        return await deploy_with_docker(self.config, compose_file, env_file, environ=self.environ)
