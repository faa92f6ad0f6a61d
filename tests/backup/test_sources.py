"""What goes into a backup: the fleet file with literal secrets redacted (unless asked), SQLite
copied consistently while a writer keeps writing, and the PostgreSQL fleet database dumped as SQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_helpers import members, until, write_fleet
from helpers import own_server
from mcpfleet.backup import BackupManager
from mcpfleet.backup.sources import find_pg_dump
from mcpfleet.config import parse_config
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


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
