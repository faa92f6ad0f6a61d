"""A whole server's rolling update: every instance moves by surge, or every one moves back."""

from __future__ import annotations

import time

from mcpfleet.exceptions import FleetError, RolloutError
from mcpfleet.rollout.releases import NewVersion, Release, Releases, Smoke, probe
from mcpfleet.rollout.report import InstanceReport, Outcome, Progress, RolloutResult, tell
from mcpfleet.runtime import Instance, Supervisor

__all__ = ["Rollout"]


class Rollout:
    """One rolling update of one server (see :meth:`MCPManager.rolling_update`)."""

    def __init__(
        self,
        releases: Releases,
        health_timeout: float,
        drain_timeout: float,
        smoke: Smoke | None,
        progress: Progress | None,
    ) -> None:
        if health_timeout <= 0 or drain_timeout < 0:
            raise ValueError(
                f"health_timeout must be positive and drain_timeout at least 0 (seconds), "
                f"got {health_timeout} and {drain_timeout}"
            )
        self.releases = releases
        self.server = releases.server
        self.health_timeout = health_timeout
        self.drain_timeout = drain_timeout
        self.smoke = smoke
        self.progress = progress
        self.started = time.monotonic()
        self.reports: list[InstanceReport] = []

    def _tell(self, step: str, message: str, instance: str | None = None) -> None:
        tell(self.progress, self.server, step, message, instance)

    async def _surge(self, old: Instance, release: Release) -> tuple[Instance | None, str | None, int]:
        return await self.releases.surge(
            old,
            release,
            health_timeout=self.health_timeout,
            drain_timeout=self.drain_timeout,
            smoke=self.smoke,
            progress=self.progress,
        )

    def _result(self, was: str, new: Release, install: float, reason: str | None) -> RolloutResult:
        return RolloutResult(
            server=self.server,
            from_version=was,
            to_version=new.version,
            ok=reason is None,
            version=self.releases.version(),
            instances=tuple(self.reports),
            seconds=round(time.monotonic() - self.started, 3),
            install_seconds=round(install, 3),
            reason=reason,
        )

    async def run(self, target: NewVersion) -> RolloutResult:
        """Update every instance to ``target``; raises :class:`RolloutError` if it stops."""
        if self.releases.guard.locked():
            raise RolloutError(f"{self.server}: a version change is already under way; wait for it to end")
        async with self.releases.guard:
            return await self._run(target)

    async def _run(self, target: NewVersion) -> RolloutResult:
        releases = self.releases
        self.started = time.monotonic()
        was = releases.version()
        label = target if isinstance(target, str) else target.package.version
        self._tell("install", f"installing {label} beside {was}")
        try:
            new = await releases.stage(target, self.progress)
        except FleetError as exc:
            raise RolloutError(
                f"Updating {self.server} from {was} to {label} failed before any instance changed: "
                f"{exc}. Nothing changed; {self.server} still runs {was}."
            ) from exc
        install = time.monotonic() - self.started
        supervisor = releases.fleet.supervisor(self.server)
        old = releases.current() if supervisor is not None else None
        reason = await (self._trial(new) if supervisor is None else self._instances(supervisor, new))
        if reason is None:
            releases.commit(new)
            self._tell("committed", f"{self.server} runs {new.version}; the install lock and config say so")
            return self._result(was, new, install, None)
        if supervisor is not None and old is not None:
            rolled = any(r.outcome is Outcome.UPDATED for r in self.reports)
            if rolled and releases.fleet.supervisor(self.server) is supervisor:
                await self._roll_back(supervisor, old)
            self._not_reached(supervisor, old)
            if rolled:
                releases.changed(was)
        releases.discard_unused()
        result = self._result(was, new, install, reason)
        raise RolloutError(self._message(result, running=supervisor is not None), result)

    async def _trial(self, new: Release) -> str | None:
        """A server that is not running: one temporary instance must pass the gate."""
        home = self.releases.fleet.home
        instance = Instance(self.server, 0, new.spec, new.launch, home, env=new.env, version=new.version)
        self._tell("start", f"{self.server} is not running: trying {new.version} on a temporary instance")
        try:
            await instance.start()
            why = await probe(instance, self.health_timeout, self.smoke)
            why = None if why is None else f"failed its health check: {why}"
        except FleetError as exc:
            why = f"did not start: {exc}"
        finally:
            await instance.stop(grace=1.0)
        if why is not None:
            why = f"a temporary instance of {new.version} {why}"
            self._tell("failed", why)
            return why
        self._tell("healthy", f"{new.version} passed its health check")
        return None

    async def _instances(self, supervisor: Supervisor, new: Release) -> str | None:
        done: set[str] = set()
        while True:
            if self.releases.fleet.supervisor(self.server) is not supervisor:
                return f"{self.server} was stopped during the update"
            old = next((i for i in supervisor.instances if i.id not in done and not new.runs(i)), None)
            if old is None:
                return None
            done.add(old.id)
            began = time.monotonic()
            replacement, why, cut = await self._surge(old, new)
            seconds = round(time.monotonic() - began, 3)
            if replacement is None:
                self.reports.append(InstanceReport(old.id, old.id, Outcome.FAILED, old.version, seconds, why))
                self._tell("failed", f"{why}; {old.id} keeps running {old.version}", old.id)
                return why
            self.reports.append(
                InstanceReport(old.id, replacement.id, Outcome.UPDATED, new.version, seconds, None, cut)
            )
            self._tell("updated", f"{old.id} -> {replacement.id} ({new.version}) in {seconds:.2f}s", old.id)

    async def _roll_back(self, supervisor: Supervisor, old: Release) -> None:
        by_id = {i.id: i for i in supervisor.instances}
        for n, report in enumerate(self.reports):
            current = by_id.get(report.now or "")
            if report.outcome is not Outcome.UPDATED or current is None:
                continue
            began = time.monotonic()
            self._tell("rollback", f"returning {current.id} to {old.version}", current.id)
            back, why, cut = await self._surge(current, old)
            seconds = round(report.seconds + time.monotonic() - began, 3)
            if back is None:
                self.reports[n] = InstanceReport(
                    report.instance, current.id, Outcome.STUCK, current.version, seconds,
                    f"rollback failed: {why}",
                )  # fmt: skip
                self._tell("stuck", f"{current.id} stays on {current.version}: {why}", current.id)
            else:
                self.reports[n] = InstanceReport(
                    report.instance,
                    back.id,
                    Outcome.ROLLED_BACK,
                    old.version,
                    seconds,
                    None,
                    report.cut + cut,
                )
                self._tell("rolled_back", f"{current.id} -> {back.id} ({old.version})", back.id)

    def _not_reached(self, supervisor: Supervisor | None, old: Release) -> None:
        seen = {i for r in self.reports for i in (r.instance, r.now)}
        for instance in supervisor.instances if supervisor is not None else []:
            if instance.id not in seen and old.runs(instance):
                self.reports.append(
                    InstanceReport(instance.id, instance.id, Outcome.NOT_REACHED, old.version, 0.0)
                )

    def _message(self, result: RolloutResult, *, running: bool) -> str:
        was = result.from_version
        stuck = [r for r in result.instances if r.outcome is Outcome.STUCK]
        back = sum(1 for r in result.instances if r.outcome is Outcome.ROLLED_BACK)
        state = f"rolled back {back} updated instance(s); " if back else ""
        state += f"the install lock and config still say {was}"
        if stuck:
            ids = ", ".join(r.now or r.instance for r in stuck)
            state += (
                f"; {ids} could not be rolled back and still run {result.to_version} "
                f"(run the update to {was} to move them)"
            )
        elif running:
            state += f"; every instance runs {was}"
        return (
            f"Rolling update of {self.server} from {was} to {result.to_version} stopped: "
            f"{result.reason}. {state[0].upper()}{state[1:]}. Fix the new version (see `mcpfleet logs "
            f"{self.server}`) and run the update again."
        )
