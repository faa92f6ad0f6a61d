"""Installing many servers at once: strategies, per-server outcomes, the lock kept current."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import FleetError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller
from mcpfleet.install.command import CommandInstaller, RemoteInstaller
from mcpfleet.install.lock import InstallLock
from mcpfleet.install.npm import NpmInstaller
from mcpfleet.install.oci import OciInstaller
from mcpfleet.install.pypi import PypiInstaller

__all__ = ["BatchResult", "InstallOutcome", "InstallStrategy", "install_many", "installer_for"]

Progress = Callable[[str, str, float | None], None]
Verify = Callable[[str, ServerSpec], Awaitable[None]]
_INSTALLERS: dict[str, BaseInstaller] = {
    i.kind: i
    for i in (NpmInstaller(), PypiInstaller(), OciInstaller(), CommandInstaller(), RemoteInstaller())
}


def installer_for(package: object) -> BaseInstaller:
    """The installer for a package spec (by its ``type``)."""
    return _INSTALLERS[str(getattr(package, "type", ""))]


class InstallStrategy(StrEnum):
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"


@dataclass
class InstallOutcome:
    server: str
    ok: bool
    version: str | None
    reason: str | None
    duration: float
    skipped: bool = False


@dataclass
class BatchResult:
    outcomes: list[InstallOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[InstallOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def by_server(self, name: str) -> InstallOutcome:
        return next(o for o in self.outcomes if o.server == name)


async def install_many(
    items: Mapping[str, ServerSpec],
    home: FleetHome,
    lock: InstallLock,
    *,
    strategy: InstallStrategy = InstallStrategy.PARALLEL,
    concurrency: int = 4,
    force: bool = False,
    progress: Progress | None = None,
    verify: Verify | None = None,
) -> BatchResult:
    """Install ``items``; one failure never stops the others. Each success is saved to ``lock``
    at once; ``verify(server, spec)`` runs after that (a failed check fails the outcome)."""
    width = max(1, concurrency) if strategy is InstallStrategy.PARALLEL else 1
    gate = asyncio.Semaphore(width)
    home.ensure()

    def report(server: str, message: str, fraction: float | None) -> None:
        if progress is not None:
            progress(server, message, fraction)

    async def one(server: str, spec: ServerSpec) -> InstallOutcome:
        async with gate:
            started = time.monotonic()
            installer = installer_for(spec.package)
            record = lock.get(server)
            try:
                if not force and installer.is_installed(server, spec, home, record):
                    report(server, "already installed", 1.0)
                    version = record.resolved if record else None
                    return InstallOutcome(
                        server, True, version, None, time.monotonic() - started, skipped=True
                    )
                report(server, "installing", 0.05)
                record = await installer.install(
                    server, spec, home, locked=record, report=lambda m, f: report(server, m, f)
                )
                lock.set(server, record)
                lock.save()
                installer.retire_others(home, server, record)  # only now: the lock has switched
                if verify is not None:
                    report(server, "verifying: start, handshake, list tools", 0.8)
                    try:
                        await verify(server, spec)
                    except FleetError as exc:
                        reason = f"installed, but it did not start: {exc}"
                        report(server, "verify failed", 1.0)
                        return InstallOutcome(
                            server, False, record.resolved, reason, time.monotonic() - started
                        )
                report(server, f"done ({record.resolved})", 1.0)
                return InstallOutcome(server, True, record.resolved, None, time.monotonic() - started)
            except FleetError as exc:
                report(server, "failed", 1.0)
                return InstallOutcome(server, False, None, str(exc), time.monotonic() - started)

    outcomes = await asyncio.gather(*(one(name, spec) for name, spec in items.items()))
    return BatchResult(list(outcomes))
