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
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpfleet.catalog import Catalog
from mcpfleet.clock import Clock
from mcpfleet.config import FleetConfig, ServerSpec, dump_config, load_config
from mcpfleet.exceptions import (
    FleetError,
    InstallError,
    MissingEnvError,
    ServerUnavailableError,
    UnknownServerError,
)
from mcpfleet.home import FleetHome
from mcpfleet.install import (
    BatchResult,
    InstallLock,
    InstallOutcome,
    InstallStrategy,
    LaunchSpec,
    install_many,
    installer_for,
)
from mcpfleet.runtime import Instance, InstanceState, Supervisor
from mcpfleet.secrets import load_env_file, references, resolve, resolve_all
from mcpfleet.settings import Settings

__all__ = ["InstallStrategy", "MCPManager", "ToolInfo"]

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
    """

    def __init__(
        self,
        config: FleetConfig | str | Path | None = None,
        *,
        home: str | Path | None = None,
        connection_pool: Any = None,
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
        self.auto_install = auto_install
        self.install_timeout = install_timeout
        self._environ = dict(os.environ if environ is None else environ)
        self._clock = clock
        self._supervisors: dict[str, Supervisor] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._round_robin: dict[str, itertools.count[int]] = {}
        self._lock_file: InstallLock | None = None
        self._listeners: list[Listener] = []

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> MCPManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every running server; no child process is left behind."""
        supervisors = list(self._supervisors.values())
        self._supervisors.clear()
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
        short = name if name in (entry.name, *entry.aliases) and "/" not in name else entry.name
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
        instance = Instance(
            server,
            0,
            spec,
            self._launch(server, spec),
            self.home,
            env=self._server_env(server, spec),
            version=self._version(server),
            clock=self._clock,
        )
        try:
            await instance.start()
            await instance.list_tools(timeout=spec.startup_timeout)
        finally:
            await instance.stop()

    # ----------------------------------------------------------------- environment

    def _variables(self, server: str) -> dict[str, str]:
        return {
            **load_env_file(self.config.env_file),
            **self._environ,
            "MCPFLEET_HOME": str(self.home.root),
            "MCPFLEET_SERVER_DATA": str(self.home.data_dir(server)),
        }

    def _server_env(self, server: str, spec: ServerSpec) -> dict[str, str]:
        return resolve_all(spec.env, self._variables(server), where=f"servers.{server}.env")

    def _launch(self, server: str, spec: ServerSpec) -> LaunchSpec:
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
        return installer.launch(server, resolved, self.home, self.lock.get(server))

    def _version(self, server: str) -> str:
        record = self.lock.get(server)
        return record.resolved if record else self.spec(server).package.version

    # ----------------------------------------------------------------- run

    def _lock_for(self, server: str) -> asyncio.Lock:
        return self._locks.setdefault(server, asyncio.Lock())

    async def start_server(self, server: str, instances: int | None = None) -> list[Instance]:
        """Start a server's instances (``instances`` overrides the config's count) and wait until ready."""
        spec = self.spec(server)
        async with self._lock_for(server):
            if server in self._supervisors:
                return self._supervisors[server].instances
            installer = installer_for(spec.package)
            if not installer.is_installed(server, spec, self.home, self.lock.get(server)):
                if not self.auto_install:
                    raise ServerUnavailableError(server, f"not installed; run `mcpfleet install {server}`")
                await asyncio.wait_for(self.install(server), timeout=self.install_timeout)
            supervisor = Supervisor(
                server,
                spec,
                self._launch(server, spec),
                self.home,
                env=self._server_env(server, spec),
                version=self._version(server),
                clock=self._clock,
                on_event=self._emit,
            )
            self._supervisors[server] = supervisor
            try:
                await supervisor.start(instances if instances is not None else max(spec.instances, 1))
            except BaseException:
                del self._supervisors[server]
                await supervisor.stop()
                raise
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
        supervisor = self._supervisors.pop(server, None)
        if supervisor is not None:
            await supervisor.stop()
            self._emit(server, "mcpfleet/stopped")

    async def restart_server(self, server: str) -> None:
        """Restart a server's instances one at a time (a server that gave up restarting starts afresh)."""
        supervisor = self._supervisors.get(server)
        if supervisor is None:
            await self.start_server(server)
        else:
            await supervisor.restart()

    def get_server_instances(self, server: str) -> list[Instance]:
        self.spec(server)
        supervisor = self._supervisors.get(server)
        return list(supervisor.instances) if supervisor else []

    def running_servers(self) -> list[str]:
        return list(self._supervisors)

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

    # ----------------------------------------------------------------- calls

    async def _instance(self, server: str) -> Instance:
        self.spec(server)
        if server not in self._supervisors:
            await self.start_server(server)
        ready = self._supervisors[server].ready_instances()
        if not ready:
            supervisor = self._supervisors[server]
            reason = supervisor.failed_reason or "no instance is ready (starting or restarting)"
            raise ServerUnavailableError(server, reason)
        counter = self._round_robin.setdefault(server, itertools.count())
        return ready[next(counter) % len(ready)]

    async def execute_tool(
        self, server: str, tool: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Call a tool and return the MCP ``CallToolResult`` (``content``, ``isError``, ...)."""
        instance = await self._instance(server)
        return await instance.call_tool(tool, dict(params or {}), timeout=timeout)

    async def request(
        self, server: str, method: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Any MCP request to one instance of a server (``resources/read``, ``prompts/get``, ...)."""
        instance = await self._instance(server)
        return await instance.call(method, dict(params or {}))

    async def list_tools(self, server: str | None = None) -> list[ToolInfo]:
        """Tools of one server, or of every running server when ``server`` is None."""
        names: Iterable[str] = [server] if server is not None else self.running_servers()
        tools: list[ToolInfo] = []
        for name in names:
            instance = await self._instance(name)
            tools += [ToolInfo(name, t) for t in await instance.list_tools()]
        return tools

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
                    "instances": [i.snapshot() for i in supervisor.instances] if supervisor else [],
                }
            )
        return rows
