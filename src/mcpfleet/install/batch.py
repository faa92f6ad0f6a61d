"""Installing many servers at once: strategies, per-server outcomes, the lock kept current."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import ConfigError, FleetError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller
from mcpfleet.install.command import CommandInstaller, RemoteInstaller
from mcpfleet.install.lock import InstallLock, LockRecord
from mcpfleet.install.npm import NpmInstaller
from mcpfleet.install.oci import OciInstaller
from mcpfleet.install.pypi import PypiInstaller

__all__ = ["BatchResult", "InstallOutcome", "InstallStrategy", "install_many", "installer_for", "uninstall"]

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
    error: FleetError | None = field(default=None, repr=False, compare=False)  # what ``reason`` says


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
                previous = record
                record = await installer.install(
                    server, spec, home, locked=record, report=lambda m, f: report(server, m, f)
                )
                lock.set(server, record)
                lock.save()
                if verify is not None:
                    report(server, "verifying: start, handshake, list tools", 0.8)
                    try:
                        await verify(server, spec)
                    except FleetError as exc:
                        # Not installed after all: the lock says what it said before, the new files
                        # go, and the next attempt tries again rather than finding it "installed".
                        _restore(lock, server, previous)
                        installer.discard(home, server, record)
                        _tidy(home, server)
                        report(server, "verify failed", 1.0)
                        reason = f"it installed but did not start, so it was not kept: {exc}"
                        return InstallOutcome(server, False, None, reason, time.monotonic() - started)
                installer.retire_others(home, server, record)  # only now: the lock has switched for good
                report(server, f"done ({record.resolved})", 1.0)
                return InstallOutcome(server, True, record.resolved, None, time.monotonic() - started)
            except FleetError as exc:
                _tidy(home, server)
                report(server, "failed", 1.0)
                return InstallOutcome(server, False, None, str(exc), time.monotonic() - started, error=exc)

    outcomes = await asyncio.gather(*(one(name, spec) for name, spec in items.items()))
    return BatchResult(list(outcomes))


def uninstall(server: str, home: FleetHome, lock: InstallLock) -> bool:
    """Remove a server's install: its lock record, its files in ``servers/<name>/`` and its
    applied config; its ``data/`` and ``logs/`` stay. Returns whether it was installed."""
    record = lock.get(server)
    if record is not None:
        lock.remove(server)
        lock.save()
    folder = home.server_dir(server)
    had_files = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    (home.configs / f"{server}.yaml").unlink(missing_ok=True)
    return record is not None or had_files


def _tidy(home: FleetHome, server: str) -> None:
    """A failed first install leaves no empty ``servers/<name>/`` folder behind."""
    with contextlib.suppress(OSError, ConfigError):  # not empty (an older install), or no such name
        home.server_dir(server).rmdir()


def _restore(lock: InstallLock, server: str, record: LockRecord | None) -> None:
    if record is None:
        lock.remove(server)
    else:
        lock.set(server, record)
    lock.save()
