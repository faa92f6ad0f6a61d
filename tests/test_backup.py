"""Backups with real things: a real fleet home, real servers (npm server-memory, our toy), real
SQLite and PostgreSQL, archives that are damaged, foreign or malicious."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import npm_server, own_server
from mcpfleet.backup import BackupManager, BackupScheduler, ServerData
from mcpfleet.backup.serverdata import paused
from mcpfleet.backup.sources import find_pg_dump
from mcpfleet.config import parse_config
from mcpfleet.exceptions import (
    BackupCorruptError,
    BackupError,
    BackupNotFoundError,
    ConfigError,
    ForeignArchiveError,
    UnsafeArchiveError,
)
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)

GRAPH = {
    "entities": [
        {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]},
        {"name": "Engine", "entityType": "machine", "observations": ["analytical"]},
    ]
}


def write_fleet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(f"home: {tmp_path / 'home'}\n{text}")
    return path


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition`` (something another process or task does), failing after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


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


@pytest.fixture
def no_pg_dump_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mcpfleet.backup.manager.find_pg_dump", lambda: None)


async def test_literal_secrets_are_redacted_and_env_left_out_unless_asked(
    tmp_path: Path, no_pg_dump_needed: None
) -> None:
    (tmp_path / ".env").write_text("SEARCH_TOKEN=from-dotenv\n")
    config = write_fleet(
        tmp_path,
        "env_file: .env\n"
        "database_url: postgresql://fleet:db-password@127.0.0.1/fleet\n"
        "servers:\n"
        "  gh:\n"
        "    package: {type: command, command: /bin/true}\n"
        "    env: {GITHUB_TOKEN: ghp_literal_secret, REGION: eu, API_KEY: '${SEARCH_TOKEN}'}\n"
        "    headers: {Authorization: Bearer literal-bearer}\n",
    )
    record = await BackupManager(tmp_path / "backups").create(MCPManager(config))
    inside = members(record.path)
    text = inside["fleet/mcpfleet.yaml"].decode() + inside["fleet/servers.json"].decode()
    for secret in ("ghp_literal_secret", "db-password", "literal-bearer", "from-dotenv"):
        assert secret not in text
    assert "${SEARCH_TOKEN}" in text and "REGION: eu" in text
    assert "fleet/.env" not in inside
    assert set(record.redacted) == {
        "servers.gh.env.GITHUB_TOKEN",
        "servers.gh.headers.Authorization",
        "database_url (password)",
    }
    assert any("pg_dump was not found" in note for note in record.notes)
    parse_config(inside["fleet/mcpfleet.yaml"].decode())  # still a valid fleet file


async def test_secrets_kept_when_asked(tmp_path: Path, no_pg_dump_needed: None) -> None:
    (tmp_path / ".env").write_text("SEARCH_TOKEN=from-dotenv\n")
    config = write_fleet(
        tmp_path,
        "env_file: .env\nservers:\n  gh:\n    package: {type: command, command: /bin/true}\n"
        "    env: {GITHUB_TOKEN: ghp_literal_secret}\n",
    )
    backups = BackupManager(tmp_path / "backups", include_secrets=True, include_env_file=True)
    record = await backups.create(MCPManager(config))
    inside = members(record.path)
    assert inside["fleet/mcpfleet.yaml"] == config.read_bytes()
    assert inside["fleet/.env"] == b"SEARCH_TOKEN=from-dotenv\n"
    assert record.redacted == ()


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


async def test_export_waits_for_the_call_in_flight(tmp_path: Path) -> None:
    async with MCPManager(write_fleet(tmp_path, "servers: {}\n")) as manager:
        await manager.apply_config("toy", own_server("toy.py"))
        assert (await manager.batch_install()).ok
        await manager.start_server("toy")
        (manager.home.data_dir("toy") / "state.txt").write_text("v1")
        call = asyncio.create_task(manager.execute_tool("toy", "sleep", {"seconds": 0.3}))
        await until(lambda: manager.load_balancer.in_flight("toy") > 0)
        data = await manager.export_server_data("toy")
        assert call.done() and not call.result().get("isError")
        assert data.files == {"state.txt": b"v1"}
        echoed = await manager.execute_tool("toy", "echo", {"text": "still here"})
        assert echoed["content"][0]["text"] == "still here"


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def test_paused_server_is_stopped_and_its_calls_wait_instead_of_failing(tmp_path: Path) -> None:
    async with MCPManager(write_fleet(tmp_path, "servers: {}\n")) as manager:
        await manager.apply_config("toy", own_server("toy.py"))
        assert (await manager.batch_install()).ok
        await manager.start_server("toy")
        pid = manager.get_server_instances("toy")[0].pid
        assert pid is not None
        async with paused(manager, "toy"):
            assert process_state(pid) == "T"
            call = asyncio.create_task(manager.execute_tool("toy", "echo", {"text": "queued"}))
            await until(lambda: manager.load_balancer.in_flight("toy") > 0)
        assert (await call)["content"][0]["text"] == "queued"
        assert process_state(pid) in ("S", "R")


WRITER = """
import sqlite3, sys, itertools
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("PRAGMA journal_mode=" + sys.argv[2])
conn.execute("CREATE TABLE IF NOT EXISTS rows (n INTEGER, payload BLOB)")
for n in itertools.count():
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO rows VALUES (?, randomblob(3000))", [(n,)] * 100)
    conn.execute("DELETE FROM rows WHERE n < ?", (n - 10,))
    conn.execute("COMMIT")
"""


@pytest.fixture
def writer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[bytes]]:
    db = tmp_path / "home" / "data" / "store" / "app.db"
    db.parent.mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(db), request.param])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("writer", ["delete", "wal"], indirect=True)
async def test_sqlite_copied_while_a_writer_keeps_writing_passes_integrity_check(
    tmp_path: Path, writer: subprocess.Popen[bytes]
) -> None:
    async with MCPManager(write_fleet(tmp_path, "servers: {}\n")) as manager:
        await manager.apply_config("store", own_server("toy.py"))
        assert (await manager.batch_install()).ok
        await manager.start_server("store")
        db = manager.home.data_dir("store") / "app.db"
        await until(lambda: db.exists() and db.stat().st_size > 50_000)
        for i in range(20):
            with sqlite3.connect(db, timeout=30) as conn:
                floor = conn.execute("SELECT max(n) FROM rows").fetchone()[0]
            conn.close()
            data = await manager.export_server_data("store")
            assert writer.poll() is None, "the writer must still be writing"
            assert not {"app.db-wal", "app.db-shm", "app.db-journal"} & set(data.files)
            copy = tmp_path / f"copy{i}.db"
            copy.write_bytes(data.files["app.db"])
            with sqlite3.connect(copy) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                rows, batches, newest = conn.execute(
                    "SELECT count(*), count(DISTINCT n), max(n) FROM rows"
                ).fetchone()
            conn.close()
            assert rows == batches * 100  # whole transactions only
            assert newest >= floor  # committed data is in the copy, wherever it was (WAL included)


def archive_of(
    entries: list[tuple[tarfile.TarInfo, bytes]], manifest_extra: dict[str, Any] | None = None
) -> bytes:
    """A tar.gz with a valid manifest (checksums right) and the given entries."""
    files = {
        info.name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
        for info, content in entries
    }
    manifest = {
        "format": "mcpfleet-backup", "version": 1, "id": "20260101T000000Z-abcdef",
        "created": "2026-01-01T00:00:00+00:00", "servers": ["evil"], "files": files, **(manifest_extra or {}),
    }  # fmt: skip
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        blob = json.dumps(manifest).encode()
        head = tarfile.TarInfo("manifest.json")
        head.size = len(blob)
        tar.addfile(head, io.BytesIO(blob))
        for info, content in entries:
            if info.isreg():
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return raw.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b"pwned" if kind == tarfile.REGTYPE else b""


MALICIOUS = {
    "dotdot": [entry("home/data/evil/../../../x")],
    "dotdot-top": [entry("../x")],
    "absolute": [entry("/tmp/mcpfleet-evil-x")],
    "symlink-out": [entry("home/data/evil/etc", tarfile.SYMTYPE, "/etc"), entry("home/data/evil/etc/x")],
    "hardlink-out": [entry("home/data/evil/passwd", tarfile.LNKTYPE, "/etc/passwd")],
    "device": [entry("home/data/evil/null", tarfile.CHRTYPE)],
    "fifo": [entry("home/data/evil/pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_malicious_archives_are_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    backups = BackupManager(tmp_path / "backups")
    backups.backup_dir.mkdir()
    archive = backups.backup_dir / "mcpfleet-backup-20260101T000000Z-abcdef.tar.gz"
    archive.write_bytes(archive_of(MALICIOUS[case]))
    before = tree(tmp_path)
    with pytest.raises(UnsafeArchiveError) as caught:
        backups.restore("20260101T000000Z-abcdef", tmp_path / "target" / "home")
    assert "refused" in str(caught.value) or "outside" in str(caught.value)
    with pytest.raises(UnsafeArchiveError):
        backups.verify(str(archive))
    assert tree(tmp_path) == before  # not even the target folder
    assert not Path("/tmp/mcpfleet-evil-x").exists() and not Path("/etc/x").exists()
    assert not (tmp_path / "x").exists() and not Path("/x").exists()


@pytest.fixture
async def one_backup(tmp_path: Path) -> Path:
    config = write_fleet(tmp_path, "servers: {}\n")
    manager = MCPManager(config)
    await manager.apply_config("toy", own_server("toy.py"))
    (manager.home.data_dir("toy")).mkdir(parents=True)
    (manager.home.data_dir("toy") / "big.bin").write_bytes(os.urandom(200_000))
    record = await BackupManager(tmp_path / "backups").create(manager)
    return record.path


def damaged(path: Path, how: str) -> Path:
    raw = bytearray(path.read_bytes())
    if how == "flipped-middle":
        raw[len(raw) // 2] ^= 0x01
    elif how == "flipped-end":
        raw[-12] ^= 0x40  # inside the last deflate block or the gzip trailer
    elif how == "truncated":
        raw = raw[: len(raw) * 2 // 3]
    elif how == "truncated-tail":
        raw = raw[:-4]
    out = path.with_name(f"mcpfleet-backup-{how}.tar.gz")
    out.write_bytes(bytes(raw))
    return out


@pytest.mark.parametrize("how", ["flipped-middle", "flipped-end", "truncated", "truncated-tail"])
def test_damaged_archives_are_refused(tmp_path: Path, one_backup: Path, how: str) -> None:
    bad = damaged(one_backup, how)
    backups = BackupManager(tmp_path / "backups")
    with pytest.raises(BackupCorruptError, match=r"corrupted|truncated|damaged"):
        backups.verify(str(bad))
    with pytest.raises(BackupCorruptError):
        backups.restore(str(bad), tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".restored")]


def test_altered_members_are_refused(tmp_path: Path) -> None:
    good = {"sha256": hashlib.sha256(b"pwned").hexdigest(), "size": 5}
    cases = {
        "does not match its SHA-256": {"home/data/evil/a": {"sha256": "0" * 64, "size": 5}},
        "truncated: home/data/evil/b missing": {"home/data/evil/a": good, "home/data/evil/b": good},
        "not in its manifest": {},
    }
    backups = BackupManager(tmp_path)
    for message, files in cases.items():
        path = tmp_path / "altered.tar.gz"
        path.write_bytes(archive_of([entry("home/data/evil/a")], {"files": files}))
        with pytest.raises(BackupCorruptError, match=message):
            backups.restore(str(path), tmp_path / "restored")
        assert not (tmp_path / "restored").exists()


def test_foreign_archives_are_refused(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w:gz") as tar:
        info, content = entry("README")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("manifest.json", "{}")
    other_format = archive_of([], {"format": "something-else"})
    newer = archive_of([], {"version": 99})
    backups = BackupManager(tmp_path)
    for name, blob, error in [
        ("tar", plain.getvalue(), "does not start with manifest.json"),
        ("zip", zipped.getvalue(), "not a gzip-compressed tar"),
        ("random", os.urandom(5000), "not a gzip-compressed tar"),
        ("other", other_format, "names no mcpfleet-backup"),
        ("newer", newer, "format version 99"),
    ]:
        path = tmp_path / f"{name}.tar.gz"
        path.write_bytes(blob)
        with pytest.raises(ForeignArchiveError, match=error):
            backups.restore(str(path), tmp_path / "restored")
        assert not (tmp_path / "restored").exists()
    (tmp_path / "empty.tar.gz").write_bytes(b"")
    with pytest.raises(BackupCorruptError, match="empty"):
        backups.verify(str(tmp_path / "empty.tar.gz"))


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


class StepClock:
    """Sleeps end when the test says so; ``sleeping()`` waits until the scheduler sleeps again."""

    def __init__(self) -> None:
        self.ticks: asyncio.Queue[None] = asyncio.Queue()
        self.asleep = asyncio.Event()
        self.delays: list[float] = []

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.asleep.set()
        await self.ticks.get()

    async def sleeping(self) -> None:
        await asyncio.wait_for(self.asleep.wait(), 10)
        self.asleep.clear()


async def test_scheduler_keeps_running_after_a_failed_backup(tmp_path: Path) -> None:
    config = write_fleet(tmp_path, "backup: {every: 6h, keep_days: 30, dir: backups}\nservers: {}\n")
    manager = MCPManager(config)
    clock = StepClock()
    scheduler = BackupScheduler.for_fleet(manager, clock=clock)
    assert scheduler is not None and scheduler.every == 6 * 3600
    assert scheduler.backups.backup_dir == manager.home.root / "backups"
    manager.home.root.mkdir(parents=True)
    (manager.home.root / "backups").write_text("a file where the folder should be")
    scheduler.start()
    try:
        await clock.sleeping()
        clock.ticks.put_nowait(None)
        await clock.sleeping()
        assert scheduler.failures == 1 and scheduler.running and "backups" in (scheduler.last_error or "")
        (manager.home.root / "backups").unlink()
        clock.ticks.put_nowait(None)
        await clock.sleeping()
        assert len(scheduler.completed) == 1 and scheduler.running
        assert scheduler.backups.last_backup == scheduler.completed[0]
        assert clock.delays == [0.0, 6 * 3600, 6 * 3600]  # at once (no backup yet), then every 6h
    finally:
        await scheduler.stop()
    # A restarted fleet waits only for what is left of the interval since its newest backup.
    made = scheduler.completed[0].created
    scheduler.backups.now = lambda: made + timedelta(hours=4)
    assert scheduler.first_delay() == 2 * 3600
    assert not scheduler.running
    assert not list((manager.home.root / "backups").glob(".*partial*"))
    assert BackupScheduler.for_fleet(MCPManager(write_fleet(tmp_path, "servers: {}\n"))) is None


@pytest.mark.parametrize(
    ("every", "seconds"), [("30m", 1800), ("6h", 21600), ("1d", 86400), ("90s", 90), ("1.5h", 5400)]
)
def test_backup_config_durations(every: str, seconds: float) -> None:
    assert parse_config(f"backup: {{every: {every}}}").backup.interval == seconds


@pytest.mark.parametrize("every", ["6 hours", "0h", "-1h", "h", "6"])
def test_bad_durations_say_how_to_write_one(every: str) -> None:
    with pytest.raises(ConfigError, match="30m, 6h, 1d") as caught:
        parse_config(f"backup: {{every: '{every}'}}")
    assert "backup.every (line 1)" in str(caught.value)
    with pytest.raises(ConfigError, match=r"backup\.keep \(line 1\).*remove it"):
        parse_config("backup: {keep: 3}")


@pytest.fixture
def pg_database() -> Iterator[str]:
    if find_pg_dump() is None:
        pytest.skip("pg_dump not found (PATH, /usr/lib/postgresql/*/bin): install postgresql-client")
    psycopg = pytest.importorskip("psycopg")
    name = f"mcpfleet_backup_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable: {exc}")
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE api_keys (id text primary key, name text)")
                conn.execute("INSERT INTO api_keys VALUES ('k-42', 'backup-ops')")
            yield url
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_postgresql_fleet_database_is_dumped_and_restored_as_sql(
    tmp_path: Path, pg_database: str
) -> None:
    config = write_fleet(tmp_path, f"database_url: {pg_database}\nservers: {{}}\n")
    backups = BackupManager(tmp_path / "backups")
    record = await backups.create(MCPManager(config))
    assert "fleet database (postgresql)" in record.contents
    dumped = members(record.path)["database.sql"].decode()
    assert "CREATE TABLE public.api_keys" in dumped and "backup-ops" in dumped
    result = backups.restore(record.id, tmp_path / "restored")
    assert (result.home / "fleet-db.sql").read_text() == dumped
    assert any("psql" in note for note in result.notes)


def test_server_data_refuses_paths_that_leave_the_folder() -> None:
    with pytest.raises(UnsafeArchiveError):
        ServerData("x", {"../escape": b""})
