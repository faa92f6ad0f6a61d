"""PyPI packages, each in its own virtual environment made with uv, run by their console script."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from uv import find_uv_bin

from mcpfleet.config import PypiPackage, ServerSpec
from mcpfleet.exceptions import InstallError, PackageNotFoundError, ToolchainMissingError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller, LaunchSpec, Report, run_tool
from mcpfleet.install.lock import LockRecord

__all__ = ["PypiInstaller"]


def _uv(server: str) -> str:
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        raise ToolchainMissingError(
            server, "uv is missing from mcpfleet's environment; reinstall mcpfleet"
        ) from None


def _script(slot: Path, package: PypiPackage) -> Path:
    return slot / "venv" / "bin" / (package.bin or package.name)


class PypiInstaller(BaseInstaller):
    kind = "pypi"

    def is_installed(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> bool:
        slot = self.slot_of(record)
        assert isinstance(spec.package, PypiPackage)
        return self.recorded(spec, record) and slot is not None and _script(slot, spec.package).exists()

    async def install(
        self, server: str, spec: ServerSpec, home: FleetHome, *, locked: LockRecord | None, report: Report
    ) -> LockRecord:
        package = spec.package
        assert isinstance(package, PypiPackage)
        uv = _uv(server)
        env = {**os.environ, "UV_NO_PROGRESS": "1"}
        env.pop("VIRTUAL_ENV", None)
        slot = self.new_slot(home, server)
        venv = slot / "venv"
        try:
            report("creating venv", 0.1)
            python = ["--python", package.python] if package.python else []
            made = await run_tool([uv, "venv", "--quiet", *python, str(venv)], env=env)
            if made.code != 0:
                raise InstallError(server, f"uv could not create its virtual environment:\n{made.tail()}")
            target = ["--python", str(venv / "bin" / "python")]
            old_freeze = self.slot_of(locked)
            if self.recorded(spec, locked) and old_freeze and (old_freeze / "requirements.lock").exists():
                # The same bits as before: every package at the version it had.
                report("uv pip install (locked)", 0.3)
                shutil.copy(old_freeze / "requirements.lock", slot / "requirements.lock")
                requirement = ["-r", str(slot / "requirements.lock")]
            else:
                report(f"uv pip install {package.name}", 0.3)
                pin = "" if package.version == "latest" else f"=={package.version}"
                requirement = [f"{package.name}{pin}"]
            held = []
            if package.constraints:  # a file, as uv takes them; each line was checked to be a requirement
                (slot / "constraints.txt").write_text("\n".join(package.constraints) + "\n", encoding="utf-8")
                held = ["--constraint", str(slot / "constraints.txt")]
            done = await run_tool([uv, "pip", "install", "--quiet", *target, *held, *requirement], env=env)
            if done.code != 0:
                raise _failure(server, package, done.stderr, done.code, done.tail(), done.tail(4))
            freeze = await run_tool([uv, "pip", "freeze", *target], env=env)
            (slot / "requirements.lock").write_text(freeze.stdout, encoding="utf-8")
            resolved = _version_in(freeze.stdout, package.name)
            if not _script(slot, package).exists():
                scripts = sorted(p.name for p in (venv / "bin").iterdir() if p.is_file())
                raise InstallError(
                    server,
                    f"it has no console script {package.bin or package.name!r}; set `bin:` to one of "
                    f"{', '.join(s for s in scripts if not s.startswith(('python', 'activate', 'pip')))}",
                )
        except BaseException:
            shutil.rmtree(slot, ignore_errors=True)
            raise
        return LockRecord(
            "pypi",
            package.name,
            package.version,
            resolved,
            detail={"path": str(slot)},
            constraints=tuple(package.constraints),
        )

    def launch(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> LaunchSpec:
        package = spec.package
        assert isinstance(package, PypiPackage)
        slot = self.slot_of(record)
        if slot is None or not _script(slot, package).exists():
            raise InstallError(server, f"{package.name} is not installed; run `mcpfleet install {server}`")
        venv = slot / "venv"
        return LaunchSpec(
            command=(str(_script(slot, package)), *spec.args),
            env={"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"},
        )


def _failure(server: str, package: PypiPackage, stderr: str, code: int, tail: str, short: str) -> Exception:
    """Why ``uv pip install`` failed: no such package or version, constraints that cannot be met,
    or something else (in uv's own words)."""
    if "does not satisfy Python" in stderr and "No solution found" in stderr:
        return InstallError(
            server,
            f"{package.name} {package.version} needs another Python than its venv has; set `python:` "
            f'(e.g. python: "3.12"):\n{short}',
        )
    if "not found in the package registry" in stderr or (
        "No solution found" in stderr and not package.constraints
    ):
        return PackageNotFoundError(
            server, f"PyPI has no {package.name} {package.version}; check the name and version:\n{short}"
        )
    if "No solution found" in stderr:
        return InstallError(
            server,
            f"no version of {package.name}'s dependencies fits {package.name} {package.version} and its "
            f"constraints ({', '.join(package.constraints)}); change `constraints:`:\n{short}",
        )
    return InstallError(server, f"uv pip install failed (exit {code}):\n{tail}")


def _version_in(freeze: str, name: str) -> str:
    wanted = name.lower().replace("_", "-")
    for line in freeze.splitlines():
        pkg, sep, version = line.partition("==")
        if sep and pkg.strip().lower().replace("_", "-") == wanted:
            return version.strip()
    return "unknown"
