"""Exact versions for packages left unpinned (``latest``, a tag, a range): ``--pin``.

    versions = await pin_versions(config.servers)   # {"time": "2026.10.19", "memory": "2026.8.31"}

Each registry is asked through its own client, so its configuration (``.npmrc``, ``UV_INDEX_URL``)
applies: npm packages with ``npm view NAME@SPEC version`` (the newest version the spec matches),
PyPI packages with ``uv pip compile`` of the bare requirement (the newest version that installs
on the Python the server will run, as ``mcpfleet install`` would pick it). Container images are
left alone: pin a tag or a digest by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from collections.abc import Mapping

from mcpfleet.config import NpmPackage, PypiPackage, ServerSpec
from mcpfleet.exceptions import FleetError, PackageNotFoundError
from mcpfleet.install.base import find_tool, run_tool

__all__ = ["current_version", "is_pinned", "pin_versions"]

# 1.2.3, 2026.10.19, 1.0.0-rc.1 (npm); 1.0rc1, 1.0.post1 (PyPI); never 1.x, 1.*, ^1.2 or a tag
_EXACT = re.compile(r"^v?\d+(\.\d+)*([-+][0-9A-Za-z.-]+|(a|b|rc|\.?post|\.?dev)\d+)*$")
_NPM_HINT = "install Node.js 18+ (it brings npm)"


def is_pinned(version: str) -> bool:
    """Whether ``version`` names one release (``1.2.3``), not ``latest``, a tag or a range."""
    return bool(_EXACT.match(version))


async def current_version(server: str, package: NpmPackage | PypiPackage, timeout: float = 120) -> str:
    """The exact version ``package`` (its ``version`` a tag, range or ``latest``) resolves to now."""
    if isinstance(package, NpmPackage):
        return await _npm_version(server, package, timeout)
    return await _pypi_version(server, package, timeout)


async def pin_versions(servers: Mapping[str, ServerSpec], timeout: float = 120) -> dict[str, str]:
    """The exact current version of every unpinned npm and PyPI package, by server name, asked
    of the registries all at once. Raises the first :class:`FleetError` (nothing is half done)."""
    unpinned = {
        name: spec.package
        for name, spec in servers.items()
        if isinstance(spec.package, NpmPackage | PypiPackage) and not is_pinned(spec.package.version)
    }
    found = await asyncio.gather(*(current_version(n, p, timeout) for n, p in unpinned.items()))
    return dict(zip(unpinned, found, strict=True))


async def _npm_version(server: str, package: NpmPackage, timeout: float) -> str:
    npm = find_tool("npm", server, _NPM_HINT)
    wanted = f"{package.name}@{package.version}"
    done = await run_tool([npm, "view", wanted, "version", "--json"], timeout=timeout)
    if done.code != 0:
        text = done.stderr + done.stdout
        if "E404" in text or "ETARGET" in text or "No matching version" in text:
            raise PackageNotFoundError(server, f"npm has no {wanted}; check the name and version")
        raise FleetError(f"{server}: `npm view {wanted} version` failed (exit {done.code}): {done.tail(3)}")
    try:
        found = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        found = None
    if isinstance(found, list):  # a range matches several: npm lists them oldest first
        found = found[-1] if found else None
    if not isinstance(found, str) or not is_pinned(found):
        raise PackageNotFoundError(server, f"npm has no version of {wanted}; check the name and version")
    return found


async def _pypi_version(server: str, package: PypiPackage, timeout: float) -> str:
    from uv import find_uv_bin

    try:
        uv = str(find_uv_bin())
    except FileNotFoundError:
        raise FleetError(f"{server}: uv is missing from mcpfleet's environment; reinstall mcpfleet") from None
    requirement = package.name if package.version == "latest" else f"{package.name}=={package.version}"
    python = (
        ["--python-version", package.python]
        if package.python and re.fullmatch(r"3\.\d+", package.python)
        else []
    )
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    with tempfile.TemporaryDirectory(prefix="mcpfleet-pin-") as folder:
        wanted = _requirements_in(folder, requirement)
        done = await run_tool(
            [uv, "pip", "compile", wanted, "--no-deps", "--no-header", "--no-annotate", "--quiet",
             "--refresh-package", package.name, *python],
            env={**env, "UV_NO_PROGRESS": "1"}, timeout=timeout,
        )  # fmt: skip
    if done.code != 0:
        text = done.stderr + done.stdout
        if (
            "not found in the package registry" in text
            or "no versions of" in text
            or "not satisfiable" in text
        ):
            raise PackageNotFoundError(server, f"PyPI has no {requirement}; check the name and version")
        raise FleetError(
            f"{server}: `uv pip compile` of {requirement} failed (exit {done.code}): {done.tail(3)}"
        )
    for line in done.stdout.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and _normal(name) == _normal(package.name) and is_pinned(version.strip()):
            return version.strip()
    raise FleetError(
        f"{server}: uv resolved {requirement} to nothing it printed: {done.stdout.strip()[:200]!r}"
    )


def _requirements_in(folder: str, requirement: str) -> str:
    """A requirements file (what ``uv pip compile`` reads) holding one line: a few bytes, no wait."""
    path = os.path.join(folder, "requirements.in")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(requirement + "\n")
    return path


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
