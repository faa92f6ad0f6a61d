"""npm packages, installed with ``npm install --prefix`` into the server's own folder, run with node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mcpfleet.config import NpmPackage, ServerSpec
from mcpfleet.exceptions import InstallError, PackageNotFoundError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller, LaunchSpec, Report, find_tool, run_tool
from mcpfleet.install.lock import LockRecord

__all__ = ["NpmInstaller"]

_HINT = "install Node.js 18+ with npm (e.g. `apt-get install nodejs npm`)"


def _package_dir(slot: Path, name: str) -> Path:
    return slot / "node_modules" / name


def _bin_entry(package_json: dict[str, object], package: NpmPackage) -> str:
    bins = package_json.get("bin")
    if isinstance(bins, str):
        return bins
    if not isinstance(bins, dict) or not bins:
        raise InstallError(package.name, "the package declares no `bin` to run; it is not a runnable server")
    if package.bin is not None:
        if package.bin not in bins:
            raise InstallError(package.name, f"it has no bin {package.bin!r}; it has {', '.join(bins)}")
        return str(bins[package.bin])
    if len(bins) == 1:
        return str(next(iter(bins.values())))
    short = package.name.rsplit("/", 1)[-1]
    for key in (short, f"mcp-{short}"):
        if key in bins:
            return str(bins[key])
    raise InstallError(package.name, f"it has several bins ({', '.join(bins)}); choose one with `bin:`")


class NpmInstaller(BaseInstaller):
    kind = "npm"

    def is_installed(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> bool:
        slot = self.slot_of(record)
        return (
            self.recorded(spec, record)
            and slot is not None
            and (_package_dir(slot, spec.package.identifier) / "package.json").exists()
        )

    async def install(
        self, server: str, spec: ServerSpec, home: FleetHome, *, locked: LockRecord | None, report: Report
    ) -> LockRecord:
        package = spec.package
        assert isinstance(package, NpmPackage)
        npm = find_tool("npm", server, _HINT)
        find_tool("node", server, _HINT)
        version = locked.resolved if self.recorded(spec, locked) and locked is not None else package.version
        slot = self.new_slot(home, server)
        report(f"npm install {package.name}@{version}", 0.2)
        try:
            if package.overrides:  # npm reads them from the package.json of the folder it installs into
                manifest = {"name": f"mcpfleet-{server}", "private": True, "overrides": package.overrides}
                (slot / "package.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            result = await run_tool(
                [npm, "install", "--prefix", str(slot), "--no-audit", "--no-fund", "--save-exact",
                 "--loglevel=error", f"{package.name}@{version}"],
                cwd=slot,
            )  # fmt: skip
            if result.code != 0:
                text = result.stderr + result.stdout
                if "E404" in text or "ETARGET" in text or "No matching version" in text:
                    raise PackageNotFoundError(
                        server,
                        f"npm has no {package.name}@{version}; check the name and version "
                        f"(`mcpfleet search {package.name.rsplit('/', 1)[-1]}`)",
                    )
                if "EOVERRIDE" in text:
                    why = f"npm refused its `overrides:` ({result.tail(3)})"
                    raise InstallError(server, f"{why}; override only its dependencies, not the package")
                raise InstallError(server, f"npm install failed (exit {result.code}):\n{result.tail()}")
            meta = json.loads((_package_dir(slot, package.name) / "package.json").read_text(encoding="utf-8"))
            _bin_entry(meta, package)  # fail now, not at first start, if it cannot run
        except BaseException:
            shutil.rmtree(slot, ignore_errors=True)
            raise
        detail = {"path": str(slot)}
        lock_file = slot / "package-lock.json"
        if lock_file.exists():
            entry = (
                json.loads(lock_file.read_text()).get("packages", {}).get(f"node_modules/{package.name}", {})
            )
            if entry.get("integrity"):
                detail["integrity"] = str(entry["integrity"])
        resolved, overrides = str(meta["version"]), package.overrides
        return LockRecord("npm", package.name, package.version, resolved, detail=detail, overrides=overrides)

    def launch(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> LaunchSpec:
        package = spec.package
        assert isinstance(package, NpmPackage)
        slot = self.slot_of(record) or home.server_dir(server)
        pkg_dir = _package_dir(slot, package.name)
        if not (pkg_dir / "package.json").exists():
            raise InstallError(server, f"{package.name} is not installed; run `mcpfleet install {server}`")
        meta = json.loads((pkg_dir / "package.json").read_text(encoding="utf-8"))
        node = shutil.which("node") or "node"
        return LaunchSpec(command=(node, str(pkg_dir / _bin_entry(meta, package)), *spec.args))
