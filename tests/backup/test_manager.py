"""BackupManager with real things: a real fleet home, real servers (npm server-memory, our toy):
backup then restore byte for byte, the guide's steps, pruning, and a restore that refuses a used home."""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_helpers import tree, write_fleet
from helpers import npm_server, own_server
from mcpfleet.backup import BackupManager
from mcpfleet.exceptions import BackupError, BackupNotFoundError
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


GRAPH = {
    "entities": [
        {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]},
        {"name": "Engine", "entityType": "machine", "observations": ["analytical"]},
    ]
}


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


async def test_backup_then_restore_into_an_empty_home_is_byte_identical(tmp_path: Path) -> None:
    config = write_fleet(
        tmp_path, f"servers:\n  toy:\n    package: {{type: command, command: {sys.executable}}}\n"
    )
    manager = MCPManager(config)
    assert (await manager.batch_install()).ok
    data = manager.home.data_dir("toy")
    (data / "nested").mkdir(parents=True)
    (data / "notes.txt").write_text("the toy's own notes\n")
    (data / "nested" / "blob.bin").write_bytes(os.urandom(70_000))
    with sqlite3.connect(data / "app.db") as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(str(i), os.urandom(100)) for i in range(500)])
    conn.close()
    with sqlite3.connect(manager.home.database_file) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE api_keys (id TEXT, name TEXT)")
        conn.execute("INSERT INTO api_keys VALUES ('k1', 'ops')")
    conn.close()
    (manager.home.server_dir("toy") / "pkg").mkdir(parents=True)  # installed packages are not backed up

    backups = BackupManager(tmp_path / "backups")
    record = await backups.create(manager)
    assert record.servers == ("toy",)
    assert {"fleet config", "install lock", "fleet database (sqlite)", "data of toy"} <= set(record.contents)
    assert backups.last_backup == record and backups.list_backups() == [record]
    assert backups.verify(record.id) == record

    result = backups.restore(record.id, tmp_path / "restored")
    new = result.home
    assert (new / "mcpfleet.yaml").read_bytes() == config.read_bytes()
    assert (new / "configs/install-lock.json").read_bytes() == manager.home.lock_file.read_bytes()
    for name in ("notes.txt", "nested/blob.bin"):
        assert (new / "data/toy" / name).read_bytes() == (data / name).read_bytes()
    assert dump(new / "data/toy/app.db") == dump(data / "app.db")
    assert dump(new / "fleet.db") == dump(manager.home.database_file)
    assert not any((new / "servers").iterdir())
    assert any(f"--home {new}" in note for note in result.notes)  # its mcpfleet.yaml names the old home
    assert not [p for p in tmp_path.iterdir() if ".restoring-" in p.name]


async def test_memory_server_backed_up_while_running_answers_the_same_graph_after_restore(
    tmp_path: Path,
) -> None:
    memory = npm_server("server-memory", env={"MEMORY_FILE_PATH": "${MCPFLEET_SERVER_DATA}/memory.json"})
    config = write_fleet(tmp_path, "servers: {}\n")
    backups = BackupManager(tmp_path / "backups")
    async with MCPManager(config) as manager:
        await manager.apply_config("memory", memory)
        manager.save_config()
        assert (await manager.batch_install()).ok
        await manager.execute_tool("memory", "create_entities", GRAPH)
        before = (await manager.execute_tool("memory", "read_graph", {}))["structuredContent"]
        record = await backups.create(manager)  # while it runs
        after = await manager.execute_tool("memory", "read_graph", {})  # resumed after the copy
        assert after["structuredContent"] == before
    assert {e["name"] for e in before["entities"]} == {"Ada", "Engine"}

    result = backups.restore(record.id, tmp_path / "new-home")
    async with MCPManager(result.config_file, home=result.home) as restored:
        assert restored.home.root == (tmp_path / "new-home").resolve()
        assert set((await restored.start_all()).values()) == {"ready"}
        pid = restored.get_server_instances("memory")[0].pid
        graph = await restored.execute_tool("memory", "read_graph", {})
        assert graph["structuredContent"] == before
        assert pid is not None and (result.home / "data/memory/memory.json").exists()


async def test_guide_steps_and_import_into_a_running_server(tmp_path: Path) -> None:
    memory = npm_server("server-memory", env={"MEMORY_FILE_PATH": "${MCPFLEET_SERVER_DATA}/memory.json"})
    config = write_fleet(tmp_path, "servers: {}\n")
    backups = BackupManager(tmp_path / "backups")
    async with MCPManager(config) as manager:
        await manager.apply_config("memory", memory)
        await manager.apply_config("toy", own_server("toy.py"))
        assert (await manager.batch_install()).ok
        await manager.execute_tool("memory", "create_entities", GRAPH)
        saved = await manager.execute_tool("memory", "read_graph", {})

        # The guide's backup_servers(), step by step.
        await backups.backup_configs(manager.get_all_configs())
        for server in manager.list_servers():
            await backups.backup_server_data(server, await manager.export_server_data(server))
        last = backups.last_backup
        assert last is not None and last.servers == ("memory", "toy") and len(backups.list_backups()) == 1

        extra = {"entities": [{"name": "Later", "entityType": "note", "observations": []}]}
        await manager.execute_tool("memory", "create_entities", extra)
        old_pid = manager.get_server_instances("memory")[0].pid

        # The guide's restore_servers(backup_id), given what last_backup is (a record) or its id.
        configs = await backups.restore_configs(backups.last_backup)
        assert configs["memory"]["env"] == {"MEMORY_FILE_PATH": "${MCPFLEET_SERVER_DATA}/memory.json"}
        for server, server_config in configs.items():
            await manager.apply_config(server, server_config)
        for server in configs:
            data = await backups.restore_server_data(server, last if server == "memory" else last.id)
            await manager.import_server_data(server, data)
        graph = await manager.execute_tool("memory", "read_graph", {})
        assert graph["structuredContent"] == saved["structuredContent"]
        assert manager.get_server_instances("memory")[0].pid != old_pid  # restarted on the old data
        assert manager.maintenance_mode("memory") is None
    with pytest.raises(BackupError, match="holds no data of 'nope'"):
        await backups.restore_server_data("nope", last.id)
    with pytest.raises(BackupNotFoundError, match="backup list"):
        await backups.restore_configs("20990101T000000Z-000000")


async def test_restore_refuses_a_home_that_is_not_empty(tmp_path: Path, one_backup: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="not an empty folder"):
        BackupManager(tmp_path / "backups").restore(str(one_backup), tmp_path / "busy")
    assert tree(tmp_path / "busy") == {"keep.txt"}


class WallClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_prune_deletes_old_backups_and_never_the_newest(tmp_path: Path) -> None:
    clock = WallClock(datetime(2026, 1, 1, tzinfo=UTC))
    backups = BackupManager(tmp_path / "b", retention_days=30, now=clock)
    made = []
    for days in (0, 10, 40):
        clock.at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=days)
        made.append(await backups.backup_configs({}))
    clock.at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=45)
    assert [r.id for r in backups.prune()] == [made[1].id, made[0].id]
    assert backups.list_backups() == [made[2]]
    clock.at += timedelta(days=365)
    assert backups.prune() == []
    assert backups.last_backup == made[2] and made[2].path.exists()
