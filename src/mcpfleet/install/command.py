"""Servers mcpfleet does not install: a command already on this machine, or a remote URL."""

from __future__ import annotations

import os
import shutil

from mcpfleet.config import CommandPackage, RemotePackage, ServerSpec
from mcpfleet.exceptions import InstallError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller, LaunchSpec, Report
from mcpfleet.install.lock import LockRecord

__all__ = ["CommandInstaller", "RemoteInstaller"]


def _which(command: str) -> str | None:
    if os.sep in command:
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    return shutil.which(command)


class CommandInstaller(BaseInstaller):
    kind = "command"

    def is_installed(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> bool:
        assert isinstance(spec.package, CommandPackage)
        return self.recorded(spec, record) and _which(spec.package.command) is not None

    async def install(
        self, server: str, spec: ServerSpec, home: FleetHome, *, locked: LockRecord | None, report: Report
    ) -> LockRecord:
        package = spec.package
        assert isinstance(package, CommandPackage)
        path = _which(package.command)
        if path is None:
            raise InstallError(
                server,
                f"command {package.command!r} not found on PATH (or not executable); install it first "
                "or give its absolute path",
            )
        return LockRecord("command", package.command, package.version, package.version, detail={"path": path})

    def launch(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> LaunchSpec:
        assert isinstance(spec.package, CommandPackage)
        return LaunchSpec(command=(_which(spec.package.command) or spec.package.command, *spec.args))


class RemoteInstaller(BaseInstaller):
    kind = "remote"

    def is_installed(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> bool:
        return self.recorded(spec, record)

    async def install(
        self, server: str, spec: ServerSpec, home: FleetHome, *, locked: LockRecord | None, report: Report
    ) -> LockRecord:
        assert isinstance(spec.package, RemotePackage)
        return LockRecord("remote", spec.package.url, spec.package.version, "remote")

    def launch(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> LaunchSpec:
        assert isinstance(spec.package, RemotePackage)
        return LaunchSpec(url=spec.package.url, headers=dict(spec.headers))
