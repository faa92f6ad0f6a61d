"""What `mcpfleet up` would trip over, found before anything starts: ``mcpfleet config validate``.

Problems stop `up` (a command that is not there, a ``${VAR}`` with no value, a tool an install
needs, exposure without authentication); warnings do not (a package left unpinned, so two
installs may get different code).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcpfleet.config import CommandPackage, FleetConfig, NpmPackage, OciPackage, PypiPackage
from mcpfleet.exceptions import FleetError
from mcpfleet.install.pinning import is_pinned
from mcpfleet.secrets import load_env_file, references
from mcpfleet.security import check_exposure

__all__ = ["Preflight", "preflight"]

_BUILTIN = frozenset({"MCPFLEET_HOME", "MCPFLEET_SERVER_DATA"})


@dataclass
class Preflight:
    """``problems`` stop `up`; ``warnings`` are worth knowing. Each starts with where it is."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _runnable(command: str, path: str | None) -> bool:
    if os.sep in command:
        target = Path(command).expanduser()
        return target.is_file() and os.access(target, os.X_OK)
    return shutil.which(command, path=path) is not None


def preflight(config: FleetConfig, environ: Mapping[str, str] | None = None) -> Preflight:
    """Check what `up` checks before it starts anything, and more: see the module docstring."""
    environ = os.environ if environ is None else environ
    found = Preflight()
    try:
        check_exposure(config.gateway.host, config.auth)
    except FleetError as exc:
        found.problems.append(f"gateway.host: {exc}")
    try:
        variables = {**load_env_file(config.env_file), **environ}
    except FleetError as exc:
        found.problems.append(f"env_file: {exc}")
        variables = dict(environ)
    path = variables.get("PATH")
    for name, spec in config.servers.items():
        if not spec.enabled:
            continue
        where = f"servers.{name}"
        package = spec.package
        if isinstance(package, CommandPackage) and not _runnable(package.command, path):
            found.problems.append(
                f"{where}.package.command: {package.command!r} is not on PATH or not executable; "
                "install it, or give its full path"
            )
        elif isinstance(package, NpmPackage) and not shutil.which("npm", path=path):
            found.problems.append(f"{where}: npm is not installed here (Node.js 18+ brings it)")
        elif isinstance(package, OciPackage) and not any(
            shutil.which(e, path=path) for e in ("docker", "podman")
        ):
            found.problems.append(f"{where}: no container engine (docker or podman) is installed here")
        if isinstance(package, NpmPackage | PypiPackage | OciPackage) and not is_pinned(package.version):
            how = (
                "an exact tag"
                if isinstance(package, OciPackage)
                else "an exact version (`mcpfleet config validate --pin` writes the current one)"
            )
            found.warnings.append(
                f"{where}.package.version: {package.version!r} is not pinned, so two installs may get "
                f"different code; write {how}"
            )
        missing = sorted(
            {
                ref
                for value in (*spec.env.values(), *spec.headers.values(), *spec.args)
                for ref in references(value)
                if not ref.startswith("file:")
                and ref not in variables
                and ref not in _BUILTIN
                and f"${{{ref}:-" not in value
            }
        )
        if missing:
            found.problems.append(
                f"{where}: {', '.join('${' + m + '}' for m in missing)} has no value; set it in the "
                f"environment or in {config.env_file or 'an env_file'}"
            )
        for value in (*spec.env.values(), *spec.headers.values()):
            for ref in references(value):
                if ref.startswith("file:") and not Path(ref[5:]).expanduser().is_file():
                    found.problems.append(f"{where}: the secret file {ref[5:]!r} does not exist")
    return found
