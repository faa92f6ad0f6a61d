"""One backup of a small fleet (a toy server with 200 KB of data), for the tests that damage or
restore it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backup_helpers import write_fleet
from helpers import own_server
from mcpfleet.backup import BackupManager
from mcpfleet.manager import MCPManager


@pytest.fixture
async def one_backup(tmp_path: Path) -> Path:
    config = write_fleet(tmp_path, "servers: {}\n")
    manager = MCPManager(config)
    await manager.apply_config("toy", own_server("toy.py"))
    (manager.home.data_dir("toy")).mkdir(parents=True)
    (manager.home.data_dir("toy") / "big.bin").write_bytes(os.urandom(200_000))
    record = await BackupManager(tmp_path / "backups").create(manager)
    return record.path
