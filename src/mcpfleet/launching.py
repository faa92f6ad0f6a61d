"""How each server of a fleet comes to run: found, installed, resolved, started, and stopped.

    launcher = Launcher(config, home, os.environ, Router(LoadBalancer(), CallLatencies()))
    await launcher.install(["time"], catalog)             # a fleet server, or a catalog alias
    await launcher.start("time", config.servers["time"], 1)

A name is a fleet server, or a catalog entry that joins the fleet under its short name. Its
``${VAR}`` references resolve from the fleet's env file, then the environment given, then the
fleet's own ``MCPFLEET_HOME`` and (for a server) ``MCPFLEET_SERVER_DATA``. Its install is the one
the lock file in the fleet home names, unless another is given (a version staged beside it for a
rolling update, see :mod:`mcpfleet.rollout`); its version is that install's, or the config's for
what installs nothing. A server runs as a :class:`~mcpfleet.runtime.Supervisor` of its
instances, which take calls through the :class:`~mcpfleet.routing.Router` while it runs.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mcpfleet.catalog import Catalog
from mcpfleet.clock import Clock
from mcpfleet.config import FleetConfig, ServerSpec, dump_config
from mcpfleet.exceptions import (
    FleetError,
    InstallError,
    MissingEnvError,
    ServerStartError,
    ServerUnavailableError,
    UnknownServerError,
)
from mcpfleet.fleetfile import FleetFile
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
from mcpfleet.pooling import ConnectionPool
from mcpfleet.routing import Router
from mcpfleet.runtime import Instance, InstanceState, Supervisor
from mcpfleet.runtime.fleet import Event
from mcpfleet.runtime.instance import Updater
from mcpfleet.runtime.state import (
    ServerState,
    StartHistory,
    StateSnapshot,
    cannot_heal,
    one_line,
    server_state,
)
from mcpfleet.secrets import load_env_file, references, resolve, resolve_all
from mcpfleet.security.pins import pin_at_install

__all__ = ["Launcher", "Progress"]

Progress = Callable[[str, str, float | None], None]  # (server, message, fraction done) of an install


class Launcher:
    """Installs, launches and stops the servers of ``config`` in ``home``; ``environ`` fills ``${VAR}``.

    ``supervisors`` holds the servers that run, each one's instances behind ``router``; its
    supervisors use ``clock``, report to ``on_event`` and take remote sessions from ``pool``.
    ``installs`` holds each server's last install attempt (for metrics); ``histories`` each
    server's starts (see :meth:`server_state`).
    """

    def __init__(
        self,
        config: FleetConfig,
        home: FleetHome,
        environ: Mapping[str, str],
        router: Router,
        *,
        clock: Clock | None = None,
        on_event: Event | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.config = config
        self.home = home
        self.environ = dict(environ)
        self.router = router
        self.clock = clock
        self.on_event = on_event
        self.pool = pool
        self.supervisors: dict[str, Supervisor] = {}
        self.installs: dict[str, InstallOutcome] = {}
        self.histories: dict[str, StartHistory] = {}
        self._lock: InstallLock | None = None
        self._starts: dict[str, asyncio.Lock] = {}

    @property
    def lock(self) -> InstallLock:
        """The install lock, read from the fleet home on first use."""
        if self._lock is None:
            self._lock = InstallLock.load(self.home.lock_file)
        return self._lock

    def spec(self, server: str) -> ServerSpec:
        """A fleet server's config; :class:`UnknownServerError` names the others."""
        try:
            return self.config.servers[server]
        except KeyError:
            raise UnknownServerError(server, list(self.config.servers)) from None

    def save(self, target: Path) -> Path:
        """Write the fleet's servers to ``target``, changing only the entries that changed (see
        :meth:`FleetFile.sync <mcpfleet.fleetfile.FleetFile.sync>`); whole or not at all."""
        fleet = FleetFile.load(target)
        if fleet.sync(self.config) or not target.exists():
            fleet.save()
        return target

    def set_spec(self, server: str, config: ServerSpec | Mapping[str, Any]) -> ServerSpec:
        """Set a server's config (validated), and write it to ``configs/<server>.yaml`` in the fleet home."""
        check_server_name(server)  # it names a file below; refuse '../x' with the rule, not a traceback
        spec = config if isinstance(config, ServerSpec) else ServerSpec.model_validate(dict(config))
        self.config.servers = {**self.config.servers, server: spec}  # validated assignment checks the name
        self.home.ensure()
        (self.home.configs / f"{server}.yaml").write_text(
            dump_config(FleetConfig(home=self.config.home, servers={server: spec})), encoding="utf-8"
        )
        return spec

    # ----------------------------------------------------------------- install

    async def find(self, name: str, catalog: Catalog) -> tuple[str, ServerSpec]:
        """A fleet server, or a catalog entry added to the fleet under its alias."""
        if name in self.config.servers:
            return name, self.config.servers[name]
        try:
            entry = await catalog.resolve(name)
        except UnknownServerError:
            raise UnknownServerError(
                name,
                [*self.config.servers, *(a for e in catalog.builtin() for a in (e.name, *e.aliases))],
                where="the fleet or the catalog",
            ) from None
        spec = entry.to_server_spec()
        # A registry name (io.github.owner/server) is not a valid fleet name: use the short one.
        short = check_server_name(
            name if name in (entry.name, *entry.aliases) and "/" not in name else entry.name
        )
        self.config.servers = {**self.config.servers, short: spec}
        return short, spec

    async def install(
        self,
        names: Sequence[str],
        catalog: Catalog,
        *,
        strategy: InstallStrategy = InstallStrategy.PARALLEL,
        verify: bool = False,
        concurrency: int = 4,
        force: bool = False,
        progress: Progress | None = None,
    ) -> BatchResult:
        """Install servers (see :meth:`find`); one failure does not stop the others.

        A name that is unknown or misses ``${VAR}`` values fails before anything installs;
        ``verify`` starts each installed server once (see :meth:`verify`).
        """
        early: list[InstallOutcome] = []
        items: dict[str, ServerSpec] = {}
        known = set(self.config.servers)
        for name in names:
            try:
                name, spec = await self.find(name, catalog)
                self.check_env(name, spec)
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
            verify=self.verify if verify else None,
        )
        result.outcomes[:0] = early
        self.installs.update((o.server, o) for o in result.outcomes if not o.skipped)
        for history in (self.histories.get(o.server) for o in result.outcomes if o.ok and not o.skipped):
            if history is not None:  # installed afresh: whatever made it give up may be mended
                history.succeeded()
        # A catalog server whose install failed does not join the fleet: no half entry.
        failed = {o.server for o in result.outcomes if not o.ok}
        self.config.servers = {n: s for n, s in self.config.servers.items() if n in known or n not in failed}
        return result

    async def verify(self, server: str, spec: ServerSpec) -> None:
        """Start the server once, complete the handshake, list its tools, stop it."""
        if spec.per_caller_secrets():  # ${user:NAME}: it starts only for a caller, with their secrets
            return
        instance = self.supervisor(server, spec).new_instance()
        try:
            await instance.start()
            tools = await instance.list_tools(timeout=spec.startup_timeout)
        finally:
            await instance.stop()
        # What it was installed with is what it is trusted with (mcpfleet.security.pins).
        await asyncio.to_thread(pin_at_install, self.config, server, self.version(server, spec), tools)

    def is_installed(self, server: str, spec: ServerSpec) -> bool:
        return installer_for(spec.package).is_installed(server, spec, self.home, self.lock.get(server))

    # ----------------------------------------------------------------- run

    async def start(
        self,
        server: str,
        spec: ServerSpec,
        count: int,
        updater: Updater | None = None,
        install: Callable[[], Awaitable[object]] | None = None,
        install_timeout: float | None = None,
    ) -> list[Instance]:
        """Start ``count`` instances of a server not running yet, wait until they are ready, and put
        them behind the router; ``install()`` installs it first (within ``install_timeout``) if
        it is not installed, else that is an error.

        A failure is recorded in the server's history: one no retry can mend (not installed, a
        package the registry lacks, a command not on PATH, a config error) as given up on.
        """
        async with self._starts.setdefault(server, asyncio.Lock()):
            if server in self.supervisors:
                return self.supervisors[server].instances
            history = self.histories.setdefault(server, StartHistory())
            history.starting()
            lasting = True  # until the processes start, a failure is the install's or the config's
            secrets: list[str] = []
            try:
                if not self.is_installed(server, spec) and not self._installed_elsewhere(server, spec):
                    if install is None:
                        raise ServerUnavailableError(server, self._not_installed(server))
                    try:
                        await asyncio.wait_for(install(), timeout=install_timeout)
                    except Exception as exc:
                        outcome = self.installs.get(server)  # the install's own error, not its wrapper
                        lasting = spec.package.type == "command" or cannot_heal(  # command: not on PATH
                            outcome.error if outcome and isinstance(exc, InstallError) else exc
                        )
                        raise
                supervisor = self.supervisor(server, spec, updater)
                self._check_command(server, supervisor.launch)
                lasting = False
                self.supervisors[server] = supervisor
                try:
                    await supervisor.start(count)
                except BaseException as exc:
                    del self.supervisors[server]
                    secrets = [s for i in supervisor.instances for s in i.secret_values()]
                    await supervisor.stop()
                    self.router.start_failed(server, exc)
                    raise
            except Exception as exc:
                history.failed(one_line(exc, secrets).removeprefix(f"{server}: "), permanent=lasting)
                raise
            history.succeeded()
            self.router.start_succeeded(server)
            await self.route(server, spec, supervisor)
            self._emit(server, "mcpfleet/started")
            return supervisor.instances

    async def start_all(
        self,
        start: Callable[[str], Awaitable[object]],
        on_error: Callable[[str, FleetError], None] | None = None,
    ) -> dict[str, str]:
        """``start`` every enabled server at once; one that fails leaves the rest running.

        Returns server -> "ready" or the error message (``on_error`` hears of each error too).
        """
        names = [n for n, s in self.config.servers.items() if s.enabled and s.instances > 0]

        async def one(name: str) -> str:
            try:
                await start(name)
                return "ready"
            except FleetError as exc:
                if on_error:
                    on_error(name, exc)
                return str(exc)

        return dict(zip(names, await asyncio.gather(*(one(n) for n in names)), strict=True))

    def _installed_elsewhere(self, server: str, spec: ServerSpec) -> bool:
        """Whether another process (``mcpfleet install`` beside ``up``) installed it since; adopt it."""
        try:
            record = InstallLock.load(self.home.lock_file).get(server)
        except FleetError:
            return False
        if record is None or record == self.lock.get(server):
            return False
        self.lock.set(server, record)
        return self.is_installed(server, spec)

    def _not_installed(self, server: str) -> str:
        outcome = self.installs.get(server)
        if outcome is not None and not outcome.ok:
            why = one_line(outcome.reason).removeprefix(f"Installing {server!r} failed: ")
            why = why if len(why) <= 200 else why[:199] + "…"  # the way out must fit in one line too
            return (
                f"its install failed: {why}; fix that and `mcpfleet install {server}`, then "
                f"`mcpfleet restart {server}`"
            )
        return f"not installed; run `mcpfleet install {server}`, then `mcpfleet restart {server}`"

    @staticmethod
    def _check_command(server: str, launch: LaunchSpec) -> None:
        """A command that is not there fails every start alike: say so once, not on every retry."""
        command = launch.command[0] if launch.url is None and launch.command else None
        if command is not None and shutil.which(command) is None:  # a path, or a name on PATH
            raise ServerStartError(
                server,
                f"cannot run {command!r}: it is not on PATH or not executable; install it (or "
                f"`mcpfleet install {server} --force`), then `mcpfleet restart {server}`",
            )

    def starting(self, server: str) -> bool:
        """Whether a start of the server is under way."""
        return server in self._starts and self._starts[server].locked()

    async def route(self, server: str, spec: ServerSpec, supervisor: Supervisor) -> None:
        """Put a server's instances and backups behind the router."""
        await self.router.attach(server, spec, supervisor.instances, self.headers(server, spec))

    async def stop(self, server: str) -> None:
        """Take a running server out of the router and stop its instances."""
        self.histories.setdefault(server, StartHistory()).stop()
        supervisor = self.supervisors.pop(server, None)
        if supervisor is not None:
            await self.router.detach(server, supervisor.instances)
            await supervisor.stop()
            self._emit(server, "mcpfleet/stopped")

    async def aclose(self) -> None:
        """Stop every running server, then the router's balancer and the pool: no process is left."""
        supervisors = list(self.supervisors.values())
        self.supervisors.clear()
        await self.router.load_balancer.aclose()
        if self.pool is not None:
            await self.pool.aclose()
        await asyncio.gather(*(s.stop() for s in supervisors), return_exceptions=True)

    def ready_instances(self, server: str) -> list[Instance]:
        supervisor = self.supervisors.get(server)
        return supervisor.ready_instances() if supervisor is not None else []

    async def health_check(self, server: str, timeout: float) -> bool:
        """True if at least one instance is ready and answers within ``timeout``."""
        supervisor = self.supervisors.get(server)
        ready = [i for i in supervisor.instances if i.state is InstanceState.READY] if supervisor else []
        results = await asyncio.gather(*(i.health_check(timeout) for i in ready), return_exceptions=True)
        return any(r is True for r in results)

    def server_state(self, server: str) -> StateSnapshot:
        """Where a server is: idle, starting, ready, backing off (until when), gave up, stopped, ..."""
        return self._states(server)[0]

    def _states(self, server: str) -> tuple[StateSnapshot, list[StateSnapshot]]:
        supervisor = self.supervisors.get(server)
        instances = [supervisor.instance_state(i) for i in supervisor.instances] if supervisor else []
        state = server_state(
            instances=instances,
            history=self.histories.get(server),
            starting=self.starting(server),
            mode=self.router.load_balancer.mode(server),
        )
        return state, instances

    def status(self) -> list[dict[str, Any]]:
        """One row per server: config, install state, its state (see :mod:`mcpfleet.runtime.state`;
        ``failed`` is why it gave up) and its instances' snapshots, each with its ``phase``."""
        rows = []
        for name, spec in self.config.servers.items():
            record = self.lock.get(name)
            supervisor = self.supervisors.get(name)
            state, phases = self._states(name)
            instances = [
                {**i.snapshot(), "phase": p.state.value, "last_error": p.last_error, "next_try": p.next_try}
                for i, p in zip(supervisor.instances if supervisor else [], phases, strict=True)
            ]
            rows.append(
                {
                    "server": name,
                    "type": spec.package.type,
                    "package": spec.package.identifier,
                    "version": record.resolved if record else spec.package.version,
                    "installed": installer_for(spec.package).is_installed(name, spec, self.home, record),
                    "enabled": spec.enabled,
                    "failed": state.last_error if state.state is ServerState.GAVE_UP else None,
                    "mode": self.router.load_balancer.mode(name),
                    "backups": list(spec.backups),
                    **state.to_dict(),
                    "instances": instances,
                }
            )
        return rows

    def _emit(self, server: str, method: str) -> None:
        if self.on_event is not None:
            self.on_event(server, method, {})

    # ----------------------------------------------------------------- launch

    def supervisor(self, server: str, spec: ServerSpec, updater: Updater | None = None) -> Supervisor:
        """A supervisor for a server's instances, launched as the install and the config say;
        ``updater`` moves its instances between versions."""
        return Supervisor(
            server,
            spec,
            self.launch(server, spec),
            self.home,
            env=self.server_env(server, spec),
            version=self.version(server, spec),
            clock=self.clock,
            on_event=self.on_event,
            pool=self.pool,
            updater=updater,
        )

    def launch(self, server: str, spec: ServerSpec, record: LockRecord | None = None) -> LaunchSpec:
        """How to start the server; ``record`` is an install other than the lock's (a staged version)."""
        variables = self.variables(server)
        resolved = spec.model_copy(
            update={
                "args": [
                    resolve(a, variables, where=f"servers.{server}.args[{i}]")
                    for i, a in enumerate(spec.args)
                ],
                "headers": resolve_all(
                    spec.headers, variables, where=f"servers.{server}.headers", keep_user=True
                ),
            }
        )
        installer = installer_for(spec.package)
        return installer.launch(server, resolved, self.home, record or self.lock.get(server))

    def version(self, server: str, spec: ServerSpec) -> str:
        """The version the server runs: what the lock says, or the config for what installs nothing."""
        record = self.lock.get(server)
        return record.resolved if record else spec.package.version

    # ----------------------------------------------------------------- environment

    def variables(self, server: str) -> dict[str, str]:
        """What a server's ``${VAR}`` references resolve from (its data folder included)."""
        return {**self._fleet_variables(), "MCPFLEET_SERVER_DATA": str(self.home.data_dir(server))}

    def _fleet_variables(self) -> dict[str, str]:
        return {
            **load_env_file(self.config.env_file),
            **self.environ,
            "MCPFLEET_HOME": str(self.home.root),
        }

    def resolve_values(self, values: Mapping[str, str], *, where: str) -> dict[str, str]:
        """Fleet-level settings with their ``${VAR}`` references filled in (tracing headers, secrets)."""
        return resolve_all(values, self._fleet_variables(), where=where)

    def check_env(self, server: str, spec: ServerSpec) -> None:
        """Raise :class:`MissingEnvError` naming the references nothing sets (those with no default)."""
        variables = self.variables(server)
        missing = [
            ref
            for value in (*spec.env.values(), *spec.headers.values(), *spec.args)
            for ref in references(value)
            if not ref.startswith("file:") and ref not in variables and f"${{{ref}:-" not in value
        ]
        if missing:
            raise MissingEnvError(server, sorted(set(missing)))

    def server_env(self, server: str, spec: ServerSpec) -> dict[str, str]:
        """The server's ``env``, resolved (secrets included: never log it)."""
        return resolve_all(spec.env, self.variables(server), where=f"servers.{server}.env")

    def headers(self, server: str, spec: ServerSpec) -> dict[str, str]:
        """The HTTP headers of a remote server (and of its backups), resolved."""
        variables = self.variables(server)
        return resolve_all(spec.headers, variables, where=f"servers.{server}.headers", keep_user=True)
