"""Each principal's own instance of a stdio server whose ``env`` or ``args`` use ``${user:NAME}``.

Such a server cannot share its processes: every caller would run with the same token. So it runs
none of its own. A request made for principal P (see :mod:`mcpfleet.percaller.caller`) goes to
P's instance, started on P's first request with P's secrets filled into its env and args, and
never to another principal's; with no principal, the name ``anonymous`` is looked up, as for
per-caller headers. One server keeps at most ``per_caller.max_instances`` of them: a new
principal stops the least recently used idle one, and when every one is busy its request is
refused. One idle for ``per_caller.idle_timeout`` seconds is stopped; one that died, or whose
principal's secrets changed since it started, is replaced on its principal's next request.

Secret values are read from the per-principal store (:mod:`mcpfleet.security.user_secrets`) at
most every ``ttl`` seconds per principal and secret, so a secret deleted while the fleet runs
stops its instance within that time. They are masked in the instance's stderr log and errors,
and never in status (which names principals only), logs or messages. A value in ``args`` is in
the process's command line, which other users of the machine can read: prefer ``env``.

Lists (``tools/list`` and the like) are requests too: they go to the caller's own instance, and
the gateway caches them per server (tool definitions do not depend on the caller in practice).
A health check pings the running instances; one that does not answer is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcpfleet.config import FleetConfig, ServerSpec
from mcpfleet.database import Database
from mcpfleet.exceptions import FleetError, ServerUnavailableError
from mcpfleet.launching import Launcher
from mcpfleet.percaller.caller import current_caller
from mcpfleet.percaller.config import PerCallerConfig
from mcpfleet.runtime import Instance, InstanceState
from mcpfleet.runtime.state import one_line
from mcpfleet.security.user_secrets import SecretKey, UserSecretStore

__all__ = ["ANONYMOUS", "CallerInstance", "MissingCallerSecretError", "PerCallerPools"]

log = logging.getLogger("mcpfleet.runtime")

ANONYMOUS = "anonymous"  # who a request made for no principal is looked up as
_USER_REF = re.compile(r"\$\$|\$\{user:([^}]*)\}")  # `$$` is an escaped `$`, kept as it is


class MissingCallerSecretError(FleetError):
    """A secret a per-caller server needs is not set for the caller; names the command that sets it."""

    def __init__(self, server: str, principal: str, name: str, where: str) -> None:
        super().__init__(
            f"Server {server!r} needs the secret {name!r} of {principal!r} (for its {where}), which is "
            f"not set; an operator sets it with `mcpfleet secrets set --principal {principal} {name}`"
        )


class CallerInstance(Instance):
    """An instance started for one principal, with that principal's secrets (masked in its log)."""

    principal: str = ANONYMOUS
    user_values: tuple[str, ...] = ()

    def secret_values(self) -> list[str]:
        return [*super().secret_values(), *self.user_values]


@dataclass
class _Entry:
    instance: CallerInstance
    fingerprint: str  # of the secret values it started with (a digest: never shown)
    last_used: float
    calls: int = 0


class PerCallerPools:
    """The per-principal instances of every per-caller server of ``config``, launched as
    ``launcher`` launches servers; ``install(server)`` installs one that is not yet (else that is
    an error); secrets are re-read every ``ttl`` seconds."""

    def __init__(
        self,
        config: FleetConfig,
        launcher: Launcher,
        *,
        install: Callable[[str], Awaitable[object]] | None = None,
        ttl: float = 30.0,
    ) -> None:
        self.config = config
        self.launcher = launcher
        self.install = install
        self.ttl = ttl
        self._installing: dict[str, asyncio.Lock] = {}
        self._entries: dict[str, dict[str, _Entry]] = {}
        self._starting: dict[str, set[int]] = {}  # the indexes of the instances being started
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._values: dict[tuple[str, str], tuple[str, float]] = {}
        self._active: set[str] = set()
        self._database: Database | None = None
        self._store: UserSecretStore | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()  # instances being stopped in the background

    # ----------------------------------------------------------------- facts

    def handles(self, server: str) -> bool:
        """Whether ``server`` runs per caller (a stdio server with ``${user:NAME}`` in env or args)."""
        spec = self.config.servers.get(server)
        return spec is not None and bool(spec.per_caller_secrets())

    def activate(self, server: str) -> None:
        """Count the server as running (its instances start on each principal's first request)."""
        self._active.add(server)

    def active(self) -> list[str]:
        return [s for s in sorted(self._active) if self.handles(s)]

    def instances(self, server: str) -> list[tuple[str, CallerInstance]]:
        """(principal, instance) of each running instance of ``server``."""
        return [(p, e.instance) for p, e in self._entries.get(server, {}).items()]

    @staticmethod
    def settings(spec: ServerSpec) -> PerCallerConfig:
        return spec.per_caller or PerCallerConfig()

    # ----------------------------------------------------------------- requests

    async def request(
        self, server: str, method: str, params: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one request to the instance of the principal it is made for, started if need be."""
        spec = self.config.servers[server]
        principal = current_caller.get() or ANONYMOUS
        self._active.add(server)
        values = await self._secrets(server, spec, principal)
        entry = await self._entry(server, spec, principal, values)
        try:
            return await entry.instance.call(method, params, timeout=timeout)
        finally:
            entry.calls -= 1
            entry.last_used = time.monotonic()

    async def _secrets(self, server: str, spec: ServerSpec, principal: str) -> dict[str, str]:
        values: dict[str, str] = {}
        now = time.monotonic()
        for name in spec.per_caller_secrets():
            cached = self._values.get((principal, name))
            if cached is not None and cached[1] > now:
                values[name] = cached[0]
                continue
            value = await asyncio.to_thread(self._secret_store().get, principal, name)
            if value is None:
                self._values.pop((principal, name), None)
                raise MissingCallerSecretError(server, principal, name, _where(spec, name))
            self._values[(principal, name)] = (value, now + self.ttl)
            values[name] = value
        return values

    def _secret_store(self) -> UserSecretStore:
        if self._store is None:
            key = SecretKey.from_environ(self.launcher.environ)  # no key: a SecretError that says how
            self._database = Database.for_fleet(self.config)
            self._store = UserSecretStore(self._database, key)
        return self._store

    async def _entry(self, server: str, spec: ServerSpec, principal: str, values: dict[str, str]) -> _Entry:
        """The principal's running instance, started (or replaced) if need be, its call counted."""
        fingerprint = hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest()
        async with self._locks.setdefault((server, principal), asyncio.Lock()):
            entries = self._entries.setdefault(server, {})
            entry = entries.get(principal)
            if entry is not None and (
                entry.instance.state is not InstanceState.READY or entry.fingerprint != fingerprint
            ):
                why = "its secrets changed" if entry.fingerprint != fingerprint else "it ended"
                log.info("%s: replacing the instance of %s (%s)", server, principal, why)
                await self._retire(server, principal)
                entry = None
            if entry is None:
                self._make_room(server, spec)
                starting = self._starting.setdefault(server, set())
                used = starting | {e.instance.index for e in entries.values()}
                index = next(i for i in itertools.count() if i not in used)  # ids (and logs) are reused
                starting.add(index)
                try:
                    instance = await self._start(server, spec, principal, values, index)
                finally:
                    starting.discard(index)
                entry = _Entry(instance, fingerprint, 0.0)
                entries[principal] = entry
                self._ensure_reaper()
            entry.calls += 1
            entry.last_used = time.monotonic()
            return entry

    def _make_room(self, server: str, spec: ServerSpec) -> None:
        cap = self.settings(spec).max_instances
        entries = self._entries.get(server, {})
        while len(entries) + len(self._starting.get(server, ())) >= cap:
            idle = sorted((e.last_used, p) for p, e in entries.items() if e.calls == 0)
            if not idle:
                raise ServerUnavailableError(
                    server,
                    f"all {cap} of its per-caller instances are busy; try again shortly, or raise "
                    f"servers.{server}.per_caller.max_instances",
                )
            principal = idle[0][1]
            log.info("%s: stopping the instance of %s to make room for another principal", server, principal)
            self._stop_soon(entries.pop(principal).instance)

    async def _start(
        self, server: str, spec: ServerSpec, principal: str, values: Mapping[str, str], index: int
    ) -> CallerInstance:
        escaped = {name: value.replace("$", "$$") for name, value in values.items()}  # never templates

        def fill(template: str) -> str:
            return _USER_REF.sub(lambda m: escaped[m.group(1)] if m.group(1) is not None else "$$", template)

        own = spec.model_copy(
            update={"env": {k: fill(v) for k, v in spec.env.items()}, "args": [fill(a) for a in spec.args]}
        )
        async with self._installing.setdefault(server, asyncio.Lock()):
            if not self.launcher.is_installed(server, spec):
                if self.install is None:
                    raise ServerUnavailableError(
                        server, f"not installed; run `mcpfleet install {server}`, then call it again"
                    )
                await self.install(server)
        on_event = self.launcher.on_event
        instance = CallerInstance(
            server,
            index,
            spec,  # its templates, so that the env entries filled in are masked in its log
            self.launcher.launch(server, own),
            self.launcher.home,
            env=self.launcher.server_env(server, own),
            version=self.launcher.version(server, spec),
            clock=self.launcher.clock,
            on_notification=None if on_event is None else lambda m, p: on_event(server, m, p),
            pool=self.launcher.pool,
        )
        instance.principal = principal
        instance.user_values = tuple(values.values())
        try:
            await instance.start()
        except FleetError as exc:
            raise ServerUnavailableError(
                server,
                f"its instance for {principal!r} did not start "
                f"({one_line(exc, instance.secret_values()).removeprefix(f'{server}: ')}); "
                f"see `mcpfleet logs {server}`",
            ) from None
        log.info("%s: started %s for %s (pid %s)", server, instance.id, principal, instance.pid)
        return instance

    # ----------------------------------------------------------------- reaping and stopping

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_idle(), name="mcpfleet-percaller-reaper")

    async def _reap_idle(self) -> None:
        while any(self._entries.values()):
            specs = [self.config.servers[s] for s in self._entries if self.handles(s)]
            timeouts = [self.settings(spec).idle_timeout for spec in specs]
            await asyncio.sleep(min(max(min(timeouts, default=5.0) / 4, 0.05), 5.0))
            self.reap()

    def reap(self) -> list[str]:
        """Stop the instances idle for their server's ``idle_timeout`` (and the dead ones, and those
        of servers no longer per caller); returns their ids."""
        now = time.monotonic()
        reaped = []
        for server, entries in self._entries.items():
            spec = self.config.servers.get(server)
            idle_timeout = self.settings(spec).idle_timeout if spec is not None else 0.0
            for principal, entry in list(entries.items()):
                done = entry.instance.state is not InstanceState.READY or not self.handles(server)
                if entry.calls == 0 and (done or now - entry.last_used >= idle_timeout):
                    log.info("%s: stopping the idle instance of %s", server, principal)
                    reaped.append(entries.pop(principal).instance.id)
                    self._stop_soon(entry.instance)
        return reaped

    def _stop_soon(self, instance: Instance) -> None:
        task = asyncio.create_task(instance.stop(grace=2.0), name=f"mcpfleet-stop-{instance.id}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _retire(self, server: str, principal: str) -> None:
        entry = self._entries.get(server, {}).pop(principal, None)
        if entry is not None:
            await entry.instance.stop(grace=2.0)

    async def stop(self, server: str, *, keep_running: bool = False) -> None:
        """Stop every instance of ``server``; with ``keep_running`` new requests start new ones
        (a changed config), else the server counts as stopped until its next request."""
        if not keep_running:
            self._active.discard(server)
        entries = self._entries.get(server, {})  # cleared in place: a start under way still lands here
        running = list(entries.values())
        entries.clear()
        await asyncio.gather(*(e.instance.stop() for e in running), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop every instance; no process is left."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for server in list(self._entries):
            await self.stop(server)
        await asyncio.gather(*self._stopping, return_exceptions=True)
        self._values.clear()
        if self._database is not None:
            self._database.dispose()

    # ----------------------------------------------------------------- health and status

    async def health_check(self, server: str, timeout: float) -> bool:
        """True when every running instance of ``server`` answers (none running: nothing is sick);
        one that does not is stopped, and its principal's next request starts a fresh one."""
        running = list(self._entries.get(server, {}).items())
        answers = await asyncio.gather(*(e.instance.health_check(timeout) for _, e in running))
        for (principal, entry), answered in zip(running, answers, strict=True):
            if not answered and entry.calls == 0 and self._entries.get(server, {}).get(principal) is entry:
                log.warning("%s: the instance of %s does not answer; stopping it", server, principal)
                await self._retire(server, principal)
        return all(answers)

    def with_instances(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Status rows (:meth:`Launcher.status`) with each per-caller server's instances, each
        naming its principal (never a value), and the server's ``per_caller`` settings."""
        now = time.monotonic()
        for row in rows:
            server = row["server"]
            if not self.handles(server):
                continue
            own = []
            for principal, entry in self._entries.get(server, {}).items():
                instance = entry.instance
                error = instance.last_error
                own.append(
                    {
                        **instance.snapshot(),
                        "principal": principal,
                        "idle": None if entry.calls else round(now - entry.last_used, 1),
                        "phase": instance.state.value,
                        "last_error": None if error is None else one_line(error, instance.secret_values()),
                        "next_try": None,
                    }
                )
            settings = self.settings(self.config.servers[server])
            row["instances"] = [*row["instances"], *own]
            row["per_caller"] = {**settings.model_dump(), "principals": sorted(e["principal"] for e in own)}
        return rows


def _where(spec: ServerSpec, name: str) -> str:
    """Where a server uses the secret ``name``: ``env GITHUB_TOKEN`` or ``args``."""
    ref = f"${{user:{name}}}"
    key = next((k for k, v in spec.env.items() if ref in v), None)
    return f"env {key}" if key is not None else "args"
