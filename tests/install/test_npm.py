"""npm installs with overrides of their dependencies, against the real npm registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcpfleet.config import FleetConfig, NpmPackage, ServerSpec
from mcpfleet.install import InstallLock, installer_for
from mcpfleet.manager import MCPManager

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow, pytest.mark.npm]

SDK = "@modelcontextprotocol/sdk"
MEMORY = NpmPackage(name="@modelcontextprotocol/server-memory", version="2026.8.31")
HELD = ServerSpec(package=MEMORY.model_copy(update={"overrides": {SDK: "1.31.0"}}))


async def test_overrides_pick_its_dependency_are_locked_and_it_runs(tmp_path: Path) -> None:
    async with MCPManager(FleetConfig(servers={"memory": HELD}), home=tmp_path / "home") as manager:
        result = await manager.batch_install(["memory"], verify=True)  # verify: start, list its tools
        assert result.ok, result.failed
        home, lock = manager.home, manager.lock
    record = lock.get("memory")
    assert record is not None and record.overrides == {SDK: "1.31.0"}
    slot = Path(record.detail["path"])
    assert json.loads((slot / "package.json").read_text())["overrides"] == {SDK: "1.31.0"}
    assert json.loads((slot / "node_modules" / SDK / "package.json").read_text())["version"] == "1.31.0"

    reloaded = InstallLock.load(home.lock_file).get("memory")
    installer = installer_for(MEMORY)
    assert reloaded == record and installer.is_installed("memory", HELD, home, reloaded)
    assert not installer.is_installed("memory", ServerSpec(package=MEMORY), home, reloaded)
