"""``MCPManager``: the facade the operational guide uses.

    from mcpfleet.manager import MCPManager, InstallStrategy

    async with MCPManager("mcpfleet.yaml") as manager:
        await manager.batch_install(["filesystem", "time"], strategy=InstallStrategy.PARALLEL, verify=True)
        await manager.start_server("time")
        result = await manager.execute_tool("time", "get_current_time", {"timezone": "UTC"})

The manager can be built outside an event loop; it starts nothing until asked (or until the
first ``execute_tool`` on a server that is not running yet).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpfleet.autoscale.local import resize
from mcpfleet.backup.serverdata import ServerData, export_server_data, import_server_data
from mcpfleet.catalog import Catalog
from mcpfleet.clock import Clock
from mcpfleet.config import FleetConfig, RemotePackage, ServerSpec, dump_config, load_config
from mcpfleet.exceptions import (
    CallInterruptedError,
    ConfigError,
    ConnectionClosedError,
    FleetError,
    InstallError,
    MissingEnvError,
    ServerStartError,
    ServerUnavailableError,
    UnknownServerError,
)
from mcpfleet.home import FleetHome, check_server_name
from mcpfleet.install import (
    BatchResult,
    InstallLock,
    InstallOutcome,
    InstallStrategy,
    LaunchSpec,
    LockRecord,
    install_many,
    installer_for,
)
from mcpfleet.latency import CallLatencies
from mcpfleet.loadbalancer import DESCRIBING, LoadBalancer, RemoteBackend, Target
from mcpfleet.pooling import ConnectionPool
from mcpfleet.protocol.paging import all_pages
from mcpfleet.retry import RepeatSafety
from mcpfleet.rollout import NewVersion, Releases, Rollout, RolloutResult, Smoke
from mcpfleet.rollout import Progress as RolloutProgress
from mcpfleet.runtime import Instance, InstanceState, Supervisor
from mcpfleet.secrets import load_env_file, references, resolve, resolve_all
from mcpfleet.settings import Settings

__all__ = ["InstallStrategy", "MCPManager", "ToolInfo"]

START_RETRY_AFTER = 5.0  # seconds a request waits before it may try to start a server that failed to

log = logging.getLogger("mcpfleet.manager")
Progress = Callable[[str, str, float | None], None]
Listener = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class ToolInfo:
    """One tool of one server, as the server describes it (``tool`` is the raw MCP tool object)."""

    server: str
    tool: dict[str, Any] = field(hash=False)

    @property
    def name(self) -> str:
        return str(self.tool["name"])

    @property
    def description(self) -> str:
        return str(self.tool.get("description") or "")


class MCPManager:
    """Installs, runs and calls the servers of one fleet.

    ``config`` is a :class:`FleetConfig`, a path to ``mcpfleet.yaml``, or ``None`` for the
    file named by ``MCPFLEET_CONFIG`` (default ``./mcpfleet.yaml``) if it exists, else an
    empty fleet. ``home`` overrides the config's fleet home. With ``auto_install=True`` the
    first call to a configured but not installed server installs it, within ``install_timeout``.

    Calls go through ``load_balancer`` (one is made if not given): it spreads them over a
    server's instances, skips instances that are failed, unhealthy, draining or in maintenance,
    and falls back to the server's backup URLs. Remote sessions come from ``connection_pool``
    (a :class:`~mcpfleet.pooling.ConnectionPool`) when one is given. Exits are seen at once and
    failing instances trip their circuit breaker; periodic probes are the
    :class:`~mcpfleet.monitoring.HealthMonitor`'s work (``mcpfleet up`` runs one).
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
        self.catalog = catalog or Catalog(self.config.registry_url)
        self.connection_pool = connection_pool
        self.load_balancer = load_balancer or LoadBalancer()
        self.auto_install = auto_install
        self.install_timeout = install_timeout
        self._environ = dict(os.environ if environ is None else environ)
        self._clock = clock
        self._supervisors: dict[str, Supervisor] = {}
        # Servers asked to run and not stopped since: one that could not start stays wanted,
        # and the health monitor keeps trying it (a remote server that was not up yet, say).
        self.wanted: set[str] = set()
        self.start_failures: dict[
            str, tuple[float, str]
        ] = {}  # server -> (when, why) of its last failed start
        self._locks: dict[str, asyncio.Lock] = {}
        self._repeat = RepeatSafety()
        self._lock_file: InstallLock | None = None
        self._listeners: list[Listener] = []
        self.installs: dict[str, InstallOutcome] = {}  # each server's last install attempt, for metrics
        self.latencies = CallLatencies()  # recent tools/call durations per server (autoscaler's p95)
        self._scaling: dict[str, asyncio.Lock] = {}
        self._releases: dict[str, Releases] = {}  # each server's versions, for rolling updates

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> MCPManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every running server; no child process is left behind."""
        supervisors = list(self._supervisors.values())
        self._supervisors.clear()
        await self.load_balancer.aclose()
        if self.connection_pool is not None:
            await self.connection_pool.aclose()
        await asyncio.gather(*(s.stop() for s in supervisors), return_exceptions=True)

    # ----------------------------------------------------------------- events

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

    # ----------------------------------------------------------------- config

    def list_servers(self) -> list[str]:
        """Names of the fleet's servers, in config order."""
        return list(self.config.servers)

    def spec(self, server: str) -> ServerSpec:
        try:
            return self.config.servers[server]
        except KeyError:
            raise UnknownServerError(server, list(self.config.servers)) from None

    def get_all_configs(self) -> dict[str, dict[str, Any]]:
        """Every server's config as plain data (``${VAR}`` references unresolved, so no secrets)."""
        return {name: spec.model_dump(mode="json") for name, spec in self.config.servers.items()}

    async def apply_config(self, server: str, config: ServerSpec | Mapping[str, Any]) -> None:
        """Set a server's config (validated); a running server restarts on it."""
        check_server_name(server)  # it names a file below; refuse '../x' with the rule, not a traceback
        spec = config if isinstance(config, ServerSpec) else ServerSpec.model_validate(dict(config))
        old = self.config.servers.get(server)
        servers = dict(self.config.servers)
        servers[server] = spec
        self.config.servers = servers  # validated assignment checks the name
        self.home.ensure()
        (self.home.configs / f"{server}.yaml").write_text(
            dump_config(FleetConfig(home=self.config.home, servers={server: spec})), encoding="utf-8"
        )
        if server in self._supervisors and old != spec:
            await self.stop_server(server)
            await self.start_server(server)

    def save_config(self, path: str | Path | None = None) -> Path:
        """Write the fleet config (e.g. after ``batch_install`` added catalog servers)."""
        target = Path(path) if path is not None else self.config_path or Path("mcpfleet.yaml")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(dump_config(self.config), encoding="utf-8")
        tmp.replace(target)
        return target

    # ----------------------------------------------------------------- install

    @property
    def lock(self) -> InstallLock:
        if self._lock_file is None:
            self._lock_file = InstallLock.load(self.home.lock_file)
        return self._lock_file

    async def _spec_for_install(self, name: str) -> tuple[str, ServerSpec]:
        """A fleet server, or a catalog entry added to the fleet under its alias."""
        if name in self.config.servers:
            return name, self.config.servers[name]
        try:
            entry = await self.catalog.resolve(name)
        except UnknownServerError:
            raise UnknownServerError(
                name,
                [*self.config.servers, *(a for e in self.catalog.builtin() for a in (e.name, *e.aliases))],
                where="the fleet or the catalog",
            ) from None
        spec = entry.to_server_spec()
        # A registry name (io.github.owner/server) is not a valid fleet name: use the short one.
        short = check_server_name(
            name if name in (entry.name, *entry.aliases) and "/" not in name else entry.name
        )
        self.config.servers = {**self.config.servers, short: spec}
        return short, spec

    def _check_env(self, server: str, spec: ServerSpec) -> None:
        variables = self._variables(server)
        missing = [
            ref
            for value in (*spec.env.values(), *spec.headers.values(), *spec.args)
            for ref in references(value)
            if not ref.startswith("file:") and ref not in variables and f"${{{ref}:-" not in value
        ]
        if missing:
            raise MissingEnvError(server, sorted(set(missing)))

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
        """Install servers (fleet names or catalog aliases; default: every enabled fleet server).

        One failure does not stop the others: the result names each server's outcome and reason.
        """
        names = (
            list(servers) if servers is not None else [n for n, s in self.config.servers.items() if s.enabled]
        )
        early: list[InstallOutcome] = []
        items: dict[str, ServerSpec] = {}
        for name in names:
            try:
                name, spec = await self._spec_for_install(name)
                self._check_env(name, spec)
                items[name] = spec
            except FleetError as exc:
                early.append(
                    InstallOutcome(server=name, ok=False, version=None, reason=str(exc), duration=0.0)
                )
        self.home.ensure()
        result = await install_many(
            items,
            self.home,
            self.lock,
            strategy=strategy,
            concurrency=concurrency,
            force=force,
            progress=progress,
            verify=self._verify if verify else None,
        )
        result.outcomes[:0] = early
        for outcome in result.outcomes:
            if not outcome.skipped:
                self.installs[outcome.server] = outcome
        return result

    async def install(self, server: str, *, verify: bool = False, force: bool = False) -> InstallOutcome:
        """Install one server; raises :class:`InstallError` with the reason if it fails."""
        result = await self.batch_install(
            [server], strategy=InstallStrategy.SEQUENTIAL, verify=verify, force=force
        )
        outcome = result.outcomes[0]
        if not outcome.ok:
            raise InstallError(server, outcome.reason or "unknown reason")
        return outcome

    async def _verify(self, server: str, spec: ServerSpec) -> None:
        """Start the server once, complete the handshake, list its tools, stop it."""
        instance = self._supervisor(server, spec).new_instance()
        try:
            await instance.start()
            await instance.list_tools(timeout=spec.startup_timeout)
        finally:
            await instance.stop()

    def _supervisor(self, server: str, spec: ServerSpec) -> Supervisor:
        """A supervisor for a server's instances, launched as the install and the config say."""
        return Supervisor(
            server,
            spec,
            self._launch(server, spec),
            self.home,
            env=self._server_env(server, spec),
            version=self._version(server),
            clock=self._clock,
            on_event=self._emit,
            pool=self.connection_pool,
            updater=self.releases(server),
        )

    # ----------------------------------------------------------------- environment

    def _variables(self, server: str) -> dict[str, str]:
        return {
            **load_env_file(self.config.env_file),
            **self._environ,
            "MCPFLEET_HOME": str(self.home.root),
            "MCPFLEET_SERVER_DATA": str(self.home.data_dir(server)),
        }

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment ``${VAR}`` references are resolved from (the process's, or the one given)."""
        return self._environ

    def resolve_values(self, values: Mapping[str, str], *, where: str) -> dict[str, str]:
        """Fleet-level settings with their ``${VAR}`` references filled in (tracing headers, secrets)."""
        variables = {
            **load_env_file(self.config.env_file),
            **self._environ,
            "MCPFLEET_HOME": str(self.home.root),
        }
        return resolve_all(values, variables, where=where)

    def _server_env(self, server: str, spec: ServerSpec) -> dict[str, str]:
        return resolve_all(spec.env, self._variables(server), where=f"servers.{server}.env")

    def _launch(self, server: str, spec: ServerSpec, record: LockRecord | None = None) -> LaunchSpec:
        """How to start the server; ``record`` is an install other than the lock's (a staged version)."""
        variables = self._variables(server)
        resolved = spec.model_copy(
            update={
                "args": [
                    resolve(a, variables, where=f"servers.{server}.args[{i}]")
                    for i, a in enumerate(spec.args)
                ],
                "headers": resolve_all(spec.headers, variables, where=f"servers.{server}.headers"),
            }
        )
        installer = installer_for(spec.package)
        return installer.launch(server, resolved, self.home, record or self.lock.get(server))

    def _version(self, server: str) -> str:
        record = self.lock.get(server)
        return record.resolved if record else self.spec(server).package.version

    # ----------------------------------------------------------------- run

    def _lock_for(self, server: str) -> asyncio.Lock:
        return self._locks.setdefault(server, asyncio.Lock())

    async def start_server(self, server: str, instances: int | None = None) -> list[Instance]:
        """Start a server's instances (``instances`` overrides the config's count) and wait until ready."""
        spec = self.spec(server)
        self.wanted.add(server)
        async with self._lock_for(server):
            if server in self._supervisors:
                return self._supervisors[server].instances
            installer = installer_for(spec.package)
            if not installer.is_installed(server, spec, self.home, self.lock.get(server)):
                if not self.auto_install:
                    raise ServerUnavailableError(server, f"not installed; run `mcpfleet install {server}`")
                await asyncio.wait_for(self.install(server), timeout=self.install_timeout)
            supervisor = self._supervisor(server, spec)
            self._supervisors[server] = supervisor
            try:
                await supervisor.start(instances if instances is not None else max(spec.instances, 1))
            except BaseException as exc:
                del self._supervisors[server]
                await supervisor.stop()
                if isinstance(exc, FleetError):  # its first line: stderr is for operators, not callers
                    self.start_failures[server] = (time.monotonic(), _first_line(exc, server))
                raise
            self.start_failures.pop(server, None)
            await self._route(server, spec, supervisor)
            self._emit(server, "mcpfleet/started")
            return supervisor.instances

    async def start_all(self, *, on_error: Callable[[str, FleetError], None] | None = None) -> dict[str, str]:
        """Start every enabled server; one that fails to start leaves the rest running.

        Returns server -> "ready" or the error message.
        """
        names = [n for n, s in self.config.servers.items() if s.enabled and s.instances > 0]

        async def one(name: str) -> str:
            try:
                await self.start_server(name)
                return "ready"
            except FleetError as exc:
                if on_error:
                    on_error(name, exc)
                return str(exc)

        return dict(zip(names, await asyncio.gather(*(one(n) for n in names)), strict=True))

    async def stop_server(self, server: str) -> None:
        self.spec(server)
        self.wanted.discard(server)
        supervisor = self._supervisors.pop(server, None)
        if supervisor is not None:
            for instance in supervisor.instances:
                self.load_balancer.remove_instance(server, instance.id)
            await self.load_balancer.set_backups(server, [])
            await supervisor.stop()
            self._emit(server, "mcpfleet/stopped")

    async def restart_server(self, server: str) -> None:
        """Restart a server's instances one at a time (a server that gave up restarting starts afresh)."""
        supervisor = self._supervisors.get(server)
        if supervisor is None:
            await self.start_server(server)
        else:
            await supervisor.restart()

    async def scale_server(self, server: str, count: int, *, drain_timeout: float = 30.0) -> int:
        """Run ``count`` instances of a running local server; returns how many it runs now.

        New instances join the balancer once started. Removed ones are the least busy: they take no
        new calls, finish those in flight, then stop, so no call is cut; one still busy after
        ``drain_timeout`` seconds is kept (and logged), so the result may be above ``count``.
        """
        self.spec(server)
        async with self._scaling.setdefault(server, asyncio.Lock()):
            supervisor = self._supervisors.get(server)
            before = len(supervisor.instances) if supervisor is not None else 0
            after = await resize(self, server, count, drain_timeout=drain_timeout)
        if after != before:
            self._emit(server, "mcpfleet/scaled", {"from": before, "to": after})
        return after

    def get_server_instances(self, server: str) -> list[Instance]:
        self.spec(server)
        supervisor = self._supervisors.get(server)
        return list(supervisor.instances) if supervisor else []

    def supervisor(self, server: str) -> Supervisor | None:
        """The supervisor of a running server (None when it is not running)."""
        return self._supervisors.get(server)

    def running_servers(self) -> list[str]:
        return list(self._supervisors)

    def speaks_stateless(self, server: str) -> bool:
        """Whether every ready instance of the server is spoken to in 2026-07-28 (whose servers
        ask for input in ``input_required`` results, never by requests of their own mid-call)."""
        supervisor = self._supervisors.get(server)
        ready = supervisor.ready_instances() if supervisor is not None else []
        return bool(ready) and all(i.session is not None and i.session.stateless for i in ready)

    def server_capabilities(self, server: str) -> dict[str, Any] | None:
        """What a running server declared in its handshake (None when no instance is ready)."""
        supervisor = self._supervisors.get(server)
        for instance in supervisor.ready_instances() if supervisor is not None else []:
            if instance.session is not None:
                return instance.session.capabilities
        return None

    async def health_check(self, server: str, timeout: float = 5.0) -> bool:
        """True if at least one instance is ready and answers within ``timeout``."""
        results = await asyncio.gather(
            *(
                i.health_check(timeout)
                for i in self.get_server_instances(server)
                if i.state is InstanceState.READY
            ),
            return_exceptions=True,
        )
        return any(r is True for r in results)

    # ----------------------------------------------------------------- routing

    async def _route(self, server: str, spec: ServerSpec, supervisor: Supervisor) -> None:
        """Put a server's instances and backups behind the load balancer."""
        lb = self.load_balancer
        lb.set_strategy(server, spec.balancing)
        for instance in supervisor.instances:
            if instance.id not in {t.id for t in lb.targets(server)}:
                lb.add_instance(server, instance.id, instance)
        headers = self._headers(server, spec)
        await lb.set_backups(server, spec.backups, headers=headers, pool=self.connection_pool)

    def _headers(self, server: str, spec: ServerSpec) -> dict[str, str]:
        return resolve_all(spec.headers, self._variables(server), where=f"servers.{server}.headers")

    async def _routed(
        self,
        server: str,
        method: str,
        params: dict[str, Any],
        *,
        timeout: float | None = None,
        session_key: str | None = None,
        pin: list[str] | None = None,
    ) -> dict[str, Any]:
        """Send one request to the instance the balancer picks, failing over where that is safe.

        ``pin`` holds the id of the instance to prefer (if it can take the call) and receives the
        id of the one that took it. A request that never reached an instance (it had just died)
        goes to the next one. A request cut off mid-flight is repeated once elsewhere only if it
        is safe to repeat;
        otherwise :class:`CallInterruptedError` says it may or may not have run.
        """
        spec = self.spec(server)
        if server not in self._supervisors or self._lock_for(server).locked():
            failed = self.start_failures.get(server)
            if failed is not None and time.monotonic() - failed[0] < START_RETRY_AFTER:
                raise ServerUnavailableError(
                    server,
                    f"it is unavailable: its last start, {time.monotonic() - failed[0]:.0f}s ago, failed "
                    f"({failed[1]}); "
                    f"see `mcpfleet status` and `mcpfleet logs {server}`",
                )
            try:
                await self.start_server(server)  # starts it, or waits for the start under way
            except ServerStartError as exc:
                raise ServerUnavailableError(
                    server,
                    f"it is unavailable: it failed to start ({_first_line(exc, server)}); "
                    f"see `mcpfleet logs {server}`",
                ) from None
        tried: list[str] = []
        repeated = False
        while True:
            target = self.load_balancer.get_instance(
                server,
                session_key=session_key,
                exclude=tried,
                prefer=pin[0] if pin else None,
                describe=method in DESCRIBING,
            )
            if pin is not None:
                pin[:] = [target.id]
            started = time.perf_counter()
            try:
                result = await target.request(method, params, timeout=timeout)
            except ServerUnavailableError:
                tried.append(target.id)  # not sent: any other instance may take it
                continue
            except ConnectionClosedError as exc:
                tried.append(target.id)
                if not repeated and await self._repeat.allows(
                    server, method, params, spec.retry_tools, lambda: self._tools_elsewhere(server, tried)
                ):
                    log.warning(
                        "%s: %s failed mid-call on %s; repeating it elsewhere", server, method, target.id
                    )
                    repeated = True
                    continue
                what = f"tool {params.get('name')!r}" if method == "tools/call" else method
                raise CallInterruptedError(
                    server,
                    f"{what} was cut off when {target.id} failed ({exc}); it may or may not have run, "
                    "so it was not repeated"
                    + (
                        ""
                        if repeated
                        else f". To let mcpfleet repeat it on another instance, the server must annotate "
                        f"the tool readOnlyHint or idempotentHint, or list it in servers.{server}.retry_tools"
                    ),
                ) from None
            if method == "tools/call":
                self.latencies.record(server, time.perf_counter() - started)
            if method == "tools/list":
                self._repeat.learn(server, result.get("tools") or [], first_page="cursor" not in params)
            return result

    async def _tools_elsewhere(self, server: str, tried: list[str]) -> list[dict[str, Any]]:
        """The server's tools as another instance lists them (to learn what is safe to repeat)."""
        target = self.load_balancer.get_instance(server, exclude=tried)
        return await all_pages(lambda p: target.request("tools/list", p, timeout=5.0), "tools", max_pages=20)

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
        """Call a tool and return the MCP ``CallToolResult`` (``content``, ``isError``, ...).

        ``session_key`` keeps one client's calls on one instance under the ``session_hash`` strategy.
        """
        return await self._routed(
            server,
            "tools/call",
            {"name": tool, "arguments": dict(params or {})},
            timeout=timeout,
            session_key=session_key,
        )

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
        """Any MCP request to one instance of a server (``resources/read``, ``prompts/get``, ...).

        ``pin`` keeps a multi-round request on one instance (see :meth:`_routed`).
        """
        return await self._routed(
            server, method, dict(params or {}), timeout=timeout, session_key=session_key, pin=pin
        )

    async def list_tools(self, server: str | None = None) -> list[ToolInfo]:
        """Tools of one server, or of every running server when ``server`` is None."""
        names: Iterable[str] = [server] if server is not None else self.running_servers()
        tools: list[ToolInfo] = []
        for name in names:
            listed = await all_pages(functools.partial(self.request, name, "tools/list"), "tools")
            tools += [ToolInfo(name, t) for t in listed]
        return tools

    # ----------------------------------------------------------------- maintenance

    async def drain_connections(self, server: str, timeout: float = 30.0) -> int:
        """Stop new calls to the server's instances and wait up to ``timeout`` for calls in flight.

        New calls go to its backups if it has any, else fail with a clear "draining" error, until
        ``set_maintenance_mode(server, False)``. Returns how many calls were still in flight at the
        timeout (0: drained cleanly). Nothing in flight is cut.
        """
        self.spec(server)
        lb = self.load_balancer
        if lb.mode(server) != "maintenance":
            lb.set_mode(server, "draining")
        self._emit(server, "mcpfleet/draining", {"in_flight": lb.in_flight(server)})
        left = await lb.wait_idle(server, timeout)
        if left:
            log.warning("%s: %d call(s) still in flight after draining for %gs", server, left, timeout)
        return left

    async def set_maintenance_mode(self, server: str, enabled: bool) -> None:
        """In maintenance a server takes no calls (they go to its backups, if any).

        Leaving maintenance checks health first: a running server that does not answer stays in
        maintenance and :class:`ServerUnavailableError` says so.
        """
        self.spec(server)
        if enabled:
            self.load_balancer.set_mode(server, "maintenance")
        else:
            if server in self._supervisors and not await self.health_check(server):
                raise ServerUnavailableError(
                    server,
                    "failed its health check, so it stays in maintenance; see `mcpfleet logs "
                    f"{server}`, fix it or restart it, then try again",
                )
            self.load_balancer.set_mode(server, None)
        self._emit(server, "mcpfleet/maintenance", {"enabled": enabled})

    def maintenance_mode(self, server: str) -> str | None:
        """``"maintenance"``, ``"draining"`` or ``None`` (taking calls)."""
        self.spec(server)
        return self.load_balancer.mode(server)

    # ----------------------------------------------------------------- versions

    def releases(self, server: str) -> Releases:
        """A server's versions: the committed one, those staged beside it, the switch between them."""
        self.spec(server)
        if server not in self._releases:
            self._releases[server] = Releases(self, server)
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
        """Move every instance of ``server`` to ``new_version``, one at a time, losing no call.

        ``new_version`` is a package version (npm, pypi, oci; a label for command and remote
        servers) or the server's whole next :class:`ServerSpec`. It is installed beside the
        running version; then each instance is replaced by one of the new version that must
        answer ``tools/list`` (and ``smoke``, a ``(tool, arguments)`` call) within
        ``health_timeout`` before it takes calls, and only then does the old one leave rotation,
        finish its calls (up to ``drain_timeout``) and stop. When all run it, the install lock and
        the config switch (``save``: the fleet file too). A server that is not running is
        installed and checked on one temporary instance. ``progress`` receives each step.

        A failed gate stops the update: updated instances return to the old version, the lock
        and config stay, and :class:`~mcpfleet.exceptions.RolloutError` says what happened;
        its ``result`` is the :class:`~mcpfleet.rollout.RolloutResult`. See :mod:`mcpfleet.rollout`.

            result = await manager.rolling_update("time", "2026.10.19")
        """
        releases = self.releases(server)
        releases.save = save
        rollout = Rollout(releases, health_timeout, drain_timeout, smoke, progress)
        return await rollout.run(new_version)

    # ----------------------------------------------------------------- data

    async def export_server_data(self, server: str, *, timeout: float = 30.0) -> ServerData:
        """A copy of the server's data folder, consistent while it runs: SQLite files through the
        online backup API; the rest while its processes are held still with no call in flight
        (see :mod:`mcpfleet.backup.serverdata`)."""
        return await export_server_data(self, server, timeout=timeout)

    async def import_server_data(self, server: str, data: ServerData, *, timeout: float = 30.0) -> None:
        """Replace the server's data folder with ``data`` (a running server is drained, stopped,
        and restarted on it)."""
        await import_server_data(self, server, data, timeout=timeout)

    # ----------------------------------------------------------------- failover

    async def configure_failover(
        self, server: str, primary_url: str | None, backup_urls: Sequence[str]
    ) -> None:
        """Give a server backup MCP URLs that take its calls while none of its instances can.

        For a remote server ``primary_url`` is its own URL (a server not yet in the fleet is added
        as a remote server at that URL); a local server's primary is its own processes, so pass
        ``None``. The change is saved in the server's config.
        """
        urls = [primary_url, *backup_urls] if primary_url is not None else list(backup_urls)
        bad = [u for u in urls if not isinstance(u, str) or not u.startswith(("http://", "https://"))]
        if bad:
            raise ConfigError(f"failover for {server}: not MCP URLs: {bad}; use http(s)://host:port/mcp")
        spec = self.config.servers.get(server)
        if spec is None:
            if primary_url is None:
                raise UnknownServerError(server, self.list_servers())
            spec = ServerSpec(package=RemotePackage(url=primary_url))
        elif primary_url is not None:
            if spec.package.type != "remote":
                raise ConfigError(
                    f"{server} runs locally ({spec.package.type}), so it has no primary URL; "
                    "pass primary_url=None and only backup URLs"
                )
            spec = spec.model_copy(update={"package": RemotePackage(url=primary_url)})
        await self.apply_config(server, spec.model_copy(update={"backups": list(backup_urls)}))
        if server in self._supervisors:
            await self._route(server, self.spec(server), self._supervisors[server])

    async def switch_server_url(self, server: str, url: str) -> None:
        """Send a server's calls to ``url`` after checking it answers.

        A remote server is reconnected to the new URL (saved in its config; the old URL becomes a
        backup if the new one was). A local server's calls are redirected to ``url`` until
        :meth:`restore_traffic`. Raises :class:`ServerUnavailableError` if ``url`` does not answer.
        """
        spec = self.spec(server)
        probe = RemoteBackend(server, url, headers=self._headers(server, spec), timeout=spec.startup_timeout)
        try:
            ok = await probe.health_check(timeout=spec.startup_timeout)
        finally:
            await probe.aclose()
        if not ok:
            raise ServerUnavailableError(server, f"{url} does not answer MCP; calls still go where they went")
        if isinstance(spec.package, RemotePackage):
            old = spec.package.url
            backups = [old if b == url else b for b in spec.backups]
            await self.apply_config(
                server, spec.model_copy(update={"package": RemotePackage(url=url), "backups": backups})
            )
            if server in self._supervisors:
                await self._route(server, self.spec(server), self._supervisors[server])
        else:
            await self.load_balancer.redirect_traffic(server, url)
        self._emit(server, "mcpfleet/switched", {"url": url})

    async def restore_traffic(self, server: str) -> None:
        """Undo :meth:`switch_server_url` for a local server: its own instances take calls again."""
        self.spec(server)
        await self.load_balancer.restore_traffic(server)

    def targets(self, server: str) -> list[Target]:
        """The balancer's view of a server: its instances, then its backups."""
        return [*self.load_balancer.targets(server), *self.load_balancer.backups(server)]

    def status(self) -> list[dict[str, Any]]:
        """One row per server: config, install state and its instances' snapshots."""
        rows = []
        for name, spec in self.config.servers.items():
            record = self.lock.get(name)
            installer = installer_for(spec.package)
            supervisor = self._supervisors.get(name)
            rows.append(
                {
                    "server": name,
                    "type": spec.package.type,
                    "package": spec.package.identifier,
                    "version": record.resolved if record else spec.package.version,
                    "installed": installer.is_installed(name, spec, self.home, record),
                    "enabled": spec.enabled,
                    "failed": supervisor.failed_reason if supervisor else None,
                    "mode": self.load_balancer.mode(name),
                    "backups": list(spec.backups),
                    "instances": [i.snapshot() for i in supervisor.instances] if supervisor else [],
                }
            )
        return rows

    async def deploy_with_docker(
        self, compose_file: str | Path = "docker-compose.mcp.yml", env_file: str | Path | None = None
    ) -> str:
        """Bring the fleet up with Docker Compose (or podman-compose) and wait until it is ready.

        A missing ``compose_file`` is rendered from this fleet first (``env_file`` with it); see
        :mod:`mcpfleet.deploy.compose`. Returns the gateway's URL.
        """
        from mcpfleet.deploy.compose import deploy_with_docker

        return await deploy_with_docker(self.config, compose_file, env_file, environ=self._environ)


def _first_line(exc: FleetError, server: str) -> str:
    """What went wrong, without the stderr tail a start error carries (that is for operators)."""
    return str(exc).split("\n", 1)[0].removeprefix(f"{server}: ")
