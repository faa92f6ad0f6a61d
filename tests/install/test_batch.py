"""Installers against the real registries (npm, PyPI through uv): install once per module."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from mcpfleet.config import CommandPackage, NpmPackage, OciPackage, PypiPackage, ServerSpec
from mcpfleet.exceptions import ServerStartError
from mcpfleet.home import FleetHome
from mcpfleet.install import InstallLock, InstallStrategy, install_many, installer_for
from mcpfleet.install.oci import engine_cli
from mcpfleet.protocol import ClientSession, StdioTransport
from mcpfleet.runtime.process import spawn, terminate

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

MEMORY = ServerSpec(package=NpmPackage(name="@modelcontextprotocol/server-memory", version="2026.8.31"))
TIME = ServerSpec(package=PypiPackage(name="mcp-server-time", version="2026.10.19"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[FleetHome, InstallLock, list[object]]:
    """One real npm and one real PyPI install, plus two that cannot succeed, in one batch."""
    home = FleetHome.at(tmp_path_factory.mktemp("fleet")).ensure()
    lock = InstallLock.load(home.lock_file)
    seen: list[object] = []
    items = {
        "memory": MEMORY,
        "time": TIME,
        "nonpm": ServerSpec(package=NpmPackage(name="@mcpfleet-test/does-not-exist-xyz", version="1.0.0")),
        "nopypi": ServerSpec(package=PypiPackage(name="mcpfleet-no-such-package-xyz", version="1.0")),
    }
    result = asyncio.run(install_many(items, home, lock, progress=lambda s, m, f: seen.append((s, m, f))))
    return home, lock, [result, seen]


async def handshake(home: FleetHome, server: str, spec: ServerSpec, lock: InstallLock) -> str:
    launch = installer_for(spec.package).launch(server, spec, home, lock.get(server))
    process = await spawn(launch.command, env={**launch.env, "PATH": "/usr/bin:/bin"}, cwd=home.root)
    assert process.stdin is not None
    session = ClientSession(StdioTransport(process.lines, process.stdin, server=server), server=server)
    try:
        await session.open(60)
        return ",".join(t["name"] for t in await session.list_tools())
    finally:
        await session.aclose()
        await terminate(process)


@pytest.mark.npm
async def test_npm_install_is_pinned_locked_and_runs(
    installed: tuple[FleetHome, InstallLock, list[object]],
) -> None:
    home, lock, (result, _) = installed
    assert result.by_server("memory").ok, result.by_server("memory").reason  # type: ignore[attr-defined]
    record = lock.get("memory")
    assert record is not None and record.resolved == "2026.8.31" and record.detail.get("integrity")
    saved = json.loads(home.lock_file.read_text())["servers"]["memory"]
    assert saved["resolved"] == "2026.8.31"
    assert "create_entities" in await handshake(home, "memory", MEMORY, lock)


@pytest.mark.pypi
async def test_pypi_install_in_its_own_venv_runs(
    installed: tuple[FleetHome, InstallLock, list[object]],
) -> None:
    home, lock, (result, _) = installed
    assert result.by_server("time").ok, result.by_server("time").reason  # type: ignore[attr-defined]
    record = lock.get("time")
    assert record is not None and record.resolved == "2026.10.19"
    assert "mcp-server-time==2026.10.19" in (Path(record.detail["path"]) / "requirements.lock").read_text()
    assert "get_current_time" in await handshake(home, "time", TIME, lock)


def test_missing_packages_fail_alone_with_a_clear_reason(
    installed: tuple[FleetHome, InstallLock, list[object]],
) -> None:
    _, lock, (result, seen) = installed
    assert "npm has no @mcpfleet-test/does-not-exist-xyz@1.0.0" in result.by_server("nonpm").reason  # type: ignore[attr-defined]
    assert "PyPI has no mcpfleet-no-such-package-xyz" in result.by_server("nopypi").reason  # type: ignore[attr-defined]
    assert lock.get("nonpm") is None and lock.get("nopypi") is None
    assert ("memory", "done (2026.8.31)", 1.0) in seen  # type: ignore[operator]


async def test_second_install_is_skipped_and_force_reinstalls_the_same_bits(
    installed: tuple[FleetHome, InstallLock, list[object]],
) -> None:
    home, lock, _ = installed
    again = await install_many({"time": TIME}, home, lock)
    assert again.by_server("time").skipped
    before = lock.get("time")
    forced = await install_many({"time": TIME}, home, lock, force=True)
    after = lock.get("time")
    assert forced.by_server("time").ok and not forced.by_server("time").skipped
    assert before is not None and after is not None and after.resolved == before.resolved
    assert after.detail["path"] != before.detail["path"] and not Path(before.detail["path"]).exists()
    assert "get_current_time" in await handshake(home, "time", TIME, lock)


async def test_sequential_runs_one_at_a_time_parallel_overlaps(tmp_path: Path) -> None:
    home = FleetHome.at(tmp_path).ensure()
    items = {
        f"c{i}": ServerSpec(package=CommandPackage(command=shutil.which("true") or "/bin/true"))
        for i in range(4)
    }
    for strategy, expect_overlap in ((InstallStrategy.SEQUENTIAL, False), (InstallStrategy.PARALLEL, True)):
        running, peak = 0, 0

        async def verify(server: str, spec: ServerSpec) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1

        result = await install_many(
            items, home, InstallLock.load(tmp_path / f"{strategy}.json"), strategy=strategy, verify=verify
        )
        assert result.ok and (peak > 1) is expect_overlap


async def test_command_not_found_and_oci_without_engine(tmp_path: Path) -> None:
    home = FleetHome.at(tmp_path).ensure()
    items = {
        "gone": ServerSpec(package=CommandPackage(command="no-such-command-xyz")),
        "image": ServerSpec(package=OciPackage(image="ghcr.io/github/github-mcp-server")),
    }
    result = await install_many(items, home, InstallLock.load(home.lock_file))
    assert "not found on PATH" in (result.by_server("gone").reason or "")
    if engine_cli() is None:
        assert "neither `docker` nor `podman`" in (result.by_server("image").reason or "")
    else:
        reason = result.by_server("image").reason or ""
        if result.by_server("image").ok:
            pytest.skip("a container engine runs here, so the no-engine error cannot be shown")
        assert "container engine" in reason or "image" in reason


async def test_a_server_that_fails_its_check_is_not_kept_and_fails_again(tmp_path: Path) -> None:
    """A failed verify leaves the lock as it was: the next install tries again, never "already installed"."""
    home = FleetHome.at(tmp_path).ensure()
    lock = InstallLock.load(home.lock_file)
    spec = ServerSpec(package=CommandPackage(command=shutil.which("true") or "/bin/true"))

    async def broken(server: str, spec: ServerSpec) -> None:
        raise ServerStartError(server, "exited with code 3")

    for _ in range(2):
        outcome = (await install_many({"c": spec}, home, lock, verify=broken)).by_server("c")
        assert not outcome.ok and not outcome.skipped and "not kept" in (outcome.reason or "")
        assert lock.get("c") is None and InstallLock.load(home.lock_file).get("c") is None
    assert (await install_many({"c": spec}, home, lock)).ok  # no check: installed
    record = lock.get("c")
    outcome = (await install_many({"c": spec}, home, lock, force=True, verify=broken)).by_server("c")
    assert not outcome.ok and lock.get("c") == record == InstallLock.load(home.lock_file).get("c")
