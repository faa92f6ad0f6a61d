"""PyPI installs with constraints on their dependencies, against the real PyPI (through uv)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mcpfleet.config import FleetConfig, PypiPackage, ServerSpec
from mcpfleet.home import FleetHome
from mcpfleet.install import InstallLock, install_many, installer_for
from mcpfleet.manager import MCPManager

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow, pytest.mark.pypi]

TIME = PypiPackage(name="mcp-server-time", version="2026.10.19")
HELD = ServerSpec(package=TIME.model_copy(update={"constraints": ["tzlocal<5.4"]}))


def pinned(freeze: str, name: str) -> tuple[int, ...]:
    version = next(line.split("==")[1] for line in freeze.splitlines() if line.startswith(f"{name}=="))
    return tuple(int(part) for part in version.split(".")[:2])


async def test_constraints_hold_its_dependencies_are_locked_and_it_runs(tmp_path: Path) -> None:
    config = FleetConfig(servers={"time": HELD})
    async with MCPManager(config, home=tmp_path / "home") as manager:
        result = await manager.batch_install(["time"], verify=True)  # verify: start, list its tools
        assert result.ok, result.failed
        home, lock = manager.home, manager.lock
    record = lock.get("time")
    assert record is not None and record.constraints == ("tzlocal<5.4",)
    assert pinned((Path(record.detail["path"]) / "requirements.lock").read_text(), "tzlocal") < (5, 4)
    assert json.loads(home.lock_file.read_text())["servers"]["time"]["constraints"] == ["tzlocal<5.4"]

    reloaded = InstallLock.load(home.lock_file).get("time")
    installer = installer_for(HELD.package)
    assert reloaded == record and installer.is_installed("time", HELD, home, reloaded)
    for constraints in (["tzlocal<5.3"], []):  # a changed constraint asks for another install
        changed = ServerSpec(package=TIME.model_copy(update={"constraints": constraints}))
        assert not installer.is_installed("time", changed, home, reloaded)


async def test_constraints_nothing_can_meet_fail_saying_so(tmp_path: Path) -> None:
    home = FleetHome.at(tmp_path).ensure()
    lock = InstallLock.load(home.lock_file)
    spec = ServerSpec(package=TIME.model_copy(update={"constraints": ["mcp<0.1"]}))
    outcome = (await install_many({"time": spec}, home, lock)).by_server("time")
    assert not outcome.ok and "constraints (mcp<0.1)" in (outcome.reason or "")
    assert "PyPI has no" not in (outcome.reason or "")
    assert lock.get("time") is None and not home.server_dir("time").exists()  # nothing left behind


async def test_a_package_that_needs_a_newer_python_says_to_set_python(tmp_path: Path) -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("mcp-server-docker 0.3.0 needs Python 3.12, which this Python already is")
    home = FleetHome.at(tmp_path).ensure()
    package = PypiPackage(name="mcp-server-docker", version="0.3.0", python=sys.executable)
    result = await install_many({"docker": ServerSpec(package=package)}, home, InstallLock(home.lock_file))
    outcome = result.by_server("docker")
    assert not outcome.ok and "set `python:`" in (outcome.reason or "")
