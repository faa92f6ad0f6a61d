"""A server's releases: the version it runs, versions staged beside it, and the switch between them.

Also the per-instance moves behind ``Instance.update()`` and ``rollback()`` (the guide's loop),
and the steps a whole-server rollout (:mod:`mcpfleet.rollout.run`) is made of: the health gate,
draining one instance, and a surge (new beside old, then the old one goes).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import ConfigError, FleetError, RolloutError
from mcpfleet.install import LaunchSpec, LockRecord, installer_for
from mcpfleet.rollout.report import Progress, tell
from mcpfleet.runtime import Instance, InstanceState, Supervisor
from mcpfleet.runtime.fleet import Event, Fleet, Launches

__all__ = ["NewVersion", "Release", "Releases", "Smoke", "probe"]

NewVersion = str | ServerSpec  # a version string, or the server's whole next config
Smoke = tuple[str, dict[str, Any]]  # a tool and its arguments: an error result fails the gate


@dataclass(frozen=True)
class Release:
    """One version of a server: how its instances launch (``record``: its install, if any)."""

    version: str
    spec: ServerSpec
    launch: LaunchSpec
    env: dict[str, str]
    record: LockRecord | None

    def runs(self, instance: Instance) -> bool:
        return instance.version == self.version and instance.launch == self.launch


async def probe(instance: Instance, timeout: float, smoke: Smoke | None = None) -> str | None:
    """The health gate: ``tools/list`` (then the smoke call) within ``timeout``; None, or why not."""
    what = "tools/list" + (f" and the smoke call {smoke[0]}" if smoke else "")
    try:
        async with asyncio.timeout(timeout):
            await instance.list_tools(timeout=timeout)
            if smoke is not None:
                result = await instance.call_tool(smoke[0], smoke[1], timeout=timeout)
                if result.get("isError"):
                    text = " ".join(str(c.get("text", "")) for c in result.get("content") or [])
                    return f"the smoke call {smoke[0]} returned an error: {text[:300]}"
    except TimeoutError:
        return f"no answer to {what} within {timeout:g}s"
    except FleetError as exc:
        return f"{what} failed: {exc}"
    return None


class Releases:
    """The versions of one server: the one it runs, the ones staged beside it, and the switch.

    One per server (``manager.releases(server)``); it is also the ``updater`` behind each
    instance's ``update()`` and ``rollback()``. ``health_timeout``, ``drain_timeout`` and
    ``smoke`` apply to those per-instance moves. ``launcher`` says how each version launches;
    ``on_event`` tells the fleet's listeners of a version change.
    """

    def __init__(self, fleet: Fleet, server: str, launcher: Launches, on_event: Event) -> None:
        self.fleet = fleet
        self.server = server
        self.launcher = launcher
        self.on_event = on_event
        self.health_timeout = 10.0
        self.drain_timeout = 30.0
        self.smoke: Smoke | None = None
        self.save = True
        self._staged: dict[str, Release] = {}
        self.guard = asyncio.Lock()  # one version change at a time

    # ------------------------------------------------------------------ releases

    def current(self) -> Release:
        """The committed release: what the lock and the config say, and new instances start on."""
        launcher, server = self.launcher, self.server
        record = launcher.lock.get(server)
        supervisor = self.fleet.supervisor(server)
        if supervisor is not None:
            return Release(supervisor.version, supervisor.spec, supervisor.launch, supervisor.env, record)
        spec = self.fleet.spec(server)
        return Release(
            launcher.version(server, spec),
            spec,
            launcher.launch(server, spec),
            launcher.server_env(server, spec),
            record,
        )

    def version(self) -> str:
        """The committed version (what the lock says, or the config for what installs nothing)."""
        supervisor = self.fleet.supervisor(self.server)
        if supervisor is not None:
            return supervisor.version
        return self.launcher.version(self.server, self.fleet.spec(self.server))

    def next_spec(self, target: NewVersion) -> ServerSpec:
        if isinstance(target, ServerSpec):
            return target
        if not isinstance(target, str) or not target.strip():
            raise ConfigError(
                f"update {self.server} to what? Give a version string (e.g. '1.2.3') or a ServerSpec, "
                f"not {target!r}"
            )
        spec = self.fleet.spec(self.server)
        package = type(spec.package).model_validate({**spec.package.model_dump(), "version": target.strip()})
        return spec.model_copy(update={"package": package})

    async def stage(self, target: NewVersion, progress: Progress | None = None) -> Release:
        """Install ``target`` beside the running version (a new slot; the lock is not touched)."""
        home, launcher, server = self.fleet.home, self.launcher, self.server
        spec = self.next_spec(target)
        key = spec.model_dump_json()
        installer = installer_for(spec.package)
        staged = self._staged.get(key)
        if staged is not None and installer.is_installed(server, spec, home, staged.record):
            return staged  # another instance of the guide's loop asked for it already
        record = launcher.lock.get(server)
        current = self.fleet.spec(server)
        if isinstance(target, str) or spec.package != current.package or record is None:
            home.ensure()

            def report(message: str, fraction: float | None) -> None:
                tell(progress, server, "install", message)

            record = await installer.install(server, spec, home, locked=None, report=report)
        release = Release(
            record.resolved,
            spec,
            launcher.launch(server, spec, record),
            launcher.server_env(server, spec),
            record,
        )
        self._staged[key] = release
        return release

    def commit(self, release: Release) -> None:
        """Switch the lock and the config to ``release``; older slots go."""
        fleet, server, lock = self.fleet, self.server, self.launcher.lock
        if release.record is not None:
            lock.set(server, release.record)
            lock.save()
            installer_for(release.spec.package).retire_others(fleet.home, server, release.record)
        self.launcher.set_spec(server, release.spec)
        if self.save and fleet.config_path is not None:
            fleet.save_config()
        supervisor = fleet.supervisor(server)
        if supervisor is not None:
            supervisor.spec, supervisor.launch = release.spec, release.launch
            supervisor.env, supervisor.version = dict(release.env), release.version
        self._staged.clear()
        self.changed(release.version)

    def discard_unused(self) -> None:
        """Remove staged installs that no instance runs and the lock does not point at."""
        supervisor = self.fleet.supervisor(self.server)
        running = list(supervisor.instances) if supervisor is not None else []
        locked = self.launcher.lock.get(self.server)
        for key, release in list(self._staged.items()):
            if any(release.runs(i) for i in running):
                continue
            del self._staged[key]
            if release.record is not None and release.record != locked:
                installer_for(release.spec.package).discard(self.fleet.home, self.server, release.record)

    def changed(self, version: str) -> None:
        # The new version may list other tools: caches of the old list must go.
        self.on_event(self.server, "notifications/tools/list_changed", {})
        self.on_event(self.server, "mcpfleet/updated", {"version": version})

    # ------------------------------------------------------------------ one instance

    def _supervisor(self, instance: Instance | None = None) -> Supervisor:
        supervisor = self.fleet.supervisor(self.server)
        what = None
        if supervisor is None:
            what = "it is not running"
        elif instance is not None and instance not in supervisor.instances:
            what = f"{instance.id} is not one of its instances"
        if supervisor is None or what is not None:
            raise RolloutError(
                f"{self.server}: cannot change versions, {what}; start it with `mcpfleet up` or "
                "manager.start_server() and use manager.get_server_instances()"
            )
        return supervisor

    async def drain(self, instance: Instance, timeout: float) -> int:
        """Out of rotation; wait for its calls in flight. Returns how many were left at ``timeout``."""
        lb = self.fleet.load_balancer
        target = next((t for t in lb.targets(self.server) if t.id == instance.id), None)
        if instance.state is InstanceState.READY:
            instance.state = InstanceState.DRAINING
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if target is not None:
            target.draining = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await target.wait_idle()
            lb.remove_instance(self.server, instance.id)
        # Calls that reached its session other than through the balancer (the guide's loop takes
        # an instance out of the balancer itself): the session knows them all.
        session = instance.session
        if session is None:
            return 0
        return await session.wait_idle(max(0.0, deadline - loop.time()))

    async def surge(
        self,
        old: Instance,
        release: Release,
        *,
        health_timeout: float,
        drain_timeout: float,
        smoke: Smoke | None,
        progress: Progress | None,
    ) -> tuple[Instance | None, str | None, int]:
        """Start an instance of ``release`` beside ``old``; if it passes the gate, it takes over.

        Returns (the new instance, None, calls cut) or, when it failed, (None, why, 0) with
        ``old`` untouched and still in rotation.
        """
        supervisor = self._supervisor()
        new = supervisor.new_instance(
            spec=release.spec, launch=release.launch, version=release.version, env=release.env
        )
        tell(progress, self.server, "start", f"starting {new.id} ({release.version}) for {old.id}", new.id)
        adopted = False
        try:
            try:
                await new.start()
            except FleetError as exc:
                return None, f"{new.id} ({release.version}) did not start: {exc}", 0
            reason = await probe(new, health_timeout, smoke)
            if reason is not None:
                return None, f"{new.id} ({release.version}) failed its health check: {reason}", 0
            if self.fleet.supervisor(self.server) is not supervisor:
                return None, f"{self.server} was stopped during the update", 0
            supervisor.adopt(new)
            adopted = True
        finally:
            if not adopted:
                await new.stop(grace=1.0)
        self.fleet.load_balancer.add_instance(self.server, new.id, new)
        tell(progress, self.server, "healthy", f"{new.id} ({release.version}) passed; in rotation", new.id)
        tell(progress, self.server, "draining", f"draining {old.id} ({old.version})", old.id)
        cut = await self.drain(old, drain_timeout)
        await supervisor.retire(old)
        return new, None, cut

    async def update(self, instance: Instance, version: NewVersion) -> bool:
        """In place: see :meth:`Instance.update`."""
        async with self.guard:
            release = await self.stage(version)
            return await self._relaunch(instance, release)

    async def rollback(self, instance: Instance) -> bool:
        """In place, to the committed release: see :meth:`Instance.rollback`."""
        async with self.guard:
            release = self.current()
            lb = self.fleet.load_balancer
            in_rotation = any(t.id == instance.id for t in lb.targets(self.server))
            if release.runs(instance) and instance.state is InstanceState.READY and in_rotation:
                return True
            return await self._relaunch(instance, release)

    async def _relaunch(self, instance: Instance, release: Release) -> bool:
        supervisor = self._supervisor(instance)
        await self.drain(instance, self.drain_timeout)
        await supervisor.unwatch(instance)
        await instance.stop(grace=1.0)
        instance.spec, instance.launch = release.spec, release.launch
        instance.env, instance.version = dict(release.env), release.version
        try:
            await instance.start()
            reason = await probe(instance, self.health_timeout, self.smoke)
        except FleetError as exc:
            reason = f"did not start: {exc}"
        if reason is not None:
            await instance.stop(grace=1.0)
            instance.state = InstanceState.FAILED
            instance.last_error = f"version {release.version} {reason}; rollback() returns it"
            return False
        supervisor.adopt(instance)
        self.fleet.load_balancer.add_instance(self.server, instance.id, instance)
        committed = self.current()
        moved = not (committed.version == release.version and committed.launch == release.launch)
        if moved and all(release.runs(i) for i in supervisor.instances):
            self.commit(release)
        return True

    # ------------------------------------------------------------------ the whole server
