"""The install lock: records survive a round trip; older files without the newer fields load."""

from __future__ import annotations

import json
from pathlib import Path

from mcpfleet.install import InstallLock, LockRecord


def test_constraints_and_overrides_round_trip_and_are_left_out_when_empty(tmp_path: Path) -> None:
    lock = InstallLock(tmp_path / "lock.json")
    held = LockRecord("pypi", "x", "1.0", "1.0", detail={"path": "/p"}, constraints=("mcp<2",))
    over = LockRecord("npm", "y", "2.0", "2.0", overrides={"z": "1.0", "w": {"v": "3"}})
    lock.set("held", held)
    lock.set("over", over)
    lock.set("plain", LockRecord("command", "c", "unmanaged", "unmanaged"))
    lock.save()
    saved = json.loads(lock.path.read_text())["servers"]
    assert saved["held"]["constraints"] == ["mcp<2"] and "overrides" not in saved["held"]
    assert saved["over"]["overrides"] == {"z": "1.0", "w": {"v": "3"}} and "constraints" not in saved["over"]
    loaded = InstallLock.load(lock.path)
    assert loaded.get("held") == held and loaded.get("over") == over
    assert held.matches("pypi", "x", "1.0", ["mcp<2"]) and not held.matches("pypi", "x", "1.0")
    assert over.matches("npm", "y", "2.0", overrides={"z": "1.0", "w": {"v": "3"}})
    assert not over.matches("npm", "y", "2.0", overrides={"z": "1.1", "w": {"v": "3"}})


def test_a_lock_written_before_constraints_existed_loads(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    old = {"type": "pypi", "identifier": "x", "requested": "1", "resolved": "1", "installed_at": "t"}
    path.write_text(json.dumps({"version": 1, "servers": {"x": old}}))
    record = InstallLock.load(path).get("x")
    assert record is not None and record.constraints == () and record.matches("pypi", "x", "1")
