"""Upgrades lose nothing: the previous release's database upgrades with every key and audit record
intact, a failed upgrade leaves the database as it was, and the tables the code declares are the
tables the migrations make (so a table changed without a migration fails here). SQLite and the
local PostgreSQL (a schema of each test's own)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from database_helpers import (
    PREVIOUS,
    load_previous_release,
    pg_schema,
    previous_release_sqlite,
    previous_release_tables,
    snapshot,
)
from helpers import free_port
from mcpfleet.audit import PostgresAuditStore, SqliteAuditStore
from mcpfleet.audit.checkpoint import CheckpointKey
from mcpfleet.audit.stores.sql import SqlAuditStore
from mcpfleet.database import Database, metadata
from mcpfleet.exceptions import AuthenticationError, DatabaseMigrationError
from mcpfleet.migrations import (
    LOCK_KEY,
    PREVIOUS_RELEASE_TABLES,
    VERSION_TABLE,
    head_revision,
    revisions,
    upgrade,
)
from mcpfleet.security import ApiKeyStore

pytestmark = pytest.mark.timeout(60)

SRC = Path(__file__).parents[2] / "src"
NEW_TABLES = {"tool_pins", "tool_pin_servers", "user_secrets", "catalog_mirror", "catalog_mirror_state"}


def declared_metadata() -> MetaData:
    """The fleet database's tables as the code declares them: every module that puts tables on
    ``mcpfleet.database.metadata`` imported (found by what it imports, so new ones count too)."""
    for path in sorted((SRC / "mcpfleet").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "from mcpfleet.database import" in source and "metadata" in source:
            module = ".".join(path.relative_to(SRC).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))
    return metadata


def differences(database: Database, meta: MetaData, *, only_declared: bool = False) -> list[Any]:
    """What ``meta`` declares that the database has otherwise; ``only_declared``: leave out the
    database's other tables."""

    def include(name: str | None, kind: str, _parents: Any) -> bool:
        return not only_declared or kind != "table" or name in meta.tables

    opts = {"compare_type": True, "version_table": VERSION_TABLE, "include_name": include}
    with database.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), meta))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgresql":
        with pg_schema() as database:
            yield database
        return
    database = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def previous(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database the previous release wrote: its fleet.db on SQLite, its rows in PostgreSQL."""
    if request.param == "postgresql":
        with pg_schema() as database:
            load_previous_release(database)
            yield database
        return
    database = previous_release_sqlite(tmp_path)
    yield database
    database.dispose()


def audit_store(database: Database) -> SqlAuditStore:
    return SqliteAuditStore(database) if database.dialect == "sqlite" else PostgresAuditStore(database)


def failing_revision(folder: Path, down: str) -> Path:
    """A revision after ``down`` that changes a table, makes another, writes a row, then fails."""
    folder.mkdir()
    (folder / "r9001_fails.py").write_text(
        f'''"""Fails on purpose, half done"""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO half_done (id) VALUES (1)")
    op.add_column("api_keys", sa.Column("note", sa.Text))
    op.execute("UPDATE api_keys SET note = 'touched'")
    raise RuntimeError("revision 9001 failed on purpose")


def downgrade() -> None:
    pass
'''
    )
    return folder


# ---------------------------------------------------------------------------------- fresh


def test_a_new_database_gets_every_table_and_agrees_with_the_code(empty: Database) -> None:
    report = empty.upgrade()
    assert (report.before, report.after, report.applied) == (None, "0002", ("0001", "0002"))
    assert report.adopted == ()
    assert differences(empty, declared_metadata()) == []  # a table changed without a migration fails here
    tables = set(inspect(empty.engine).get_table_names())
    assert tables == {VERSION_TABLE, *PREVIOUS_RELEASE_TABLES, *NEW_TABLES}
    again = empty.upgrade()
    assert again.applied == () and again.describe() == "the fleet database is up to date (revision 0002)"


def test_the_revisions_in_order() -> None:
    assert [(r.id, r.down) for r in revisions()] == [("0001", None), ("0002", "0001")]
    assert head_revision() == "0002"
    assert revisions()[0].doc.startswith("The schema of the release before migrations")


def test_revision_0001_is_exactly_the_previous_release(tmp_path: Path) -> None:
    """The fixture was written by the previous release; the frozen copy of its tables agrees with
    it, and so does a database that revision 0001 made."""
    old = previous_release_sqlite(tmp_path / "old")
    new = Database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert differences(old, previous_release_tables()) == []
        new.upgrade()
        assert differences(new, previous_release_tables(), only_declared=True) == []
        removed = {d[1].name for d in differences(new, previous_release_tables()) if d[0] == "remove_table"}
        assert removed == NEW_TABLES
    finally:
        old.dispose()
        new.dispose()


def test_concurrent_upgrades_apply_once(empty: Database) -> None:
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        other = Database(empty.url.render_as_string(hide_password=False))
        try:
            reports.append(other.upgrade())
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r.applied) for r in reports) == [0, 0, 2]
    assert empty.schema_revision() == "0002"


def test_an_upgrade_waits_while_another_process_upgrades(empty: Database) -> None:
    """The database-side lock (another process's upgrade holds it here): the upgrade waits for
    it, then finds what it finds."""
    holder = empty.engine.connect()
    if empty.dialect == "postgresql":
        holder.begin()
        holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    else:
        holder.exec_driver_sql("PRAGMA user_version")  # the file exists: take its write lock
        raw = holder.connection.dbapi_connection
        assert raw is not None
        raw.isolation_level = None
        holder.exec_driver_sql("BEGIN IMMEDIATE")
    done = threading.Event()
    reports: list[Any] = []

    def run() -> None:
        other = Database(empty.url.render_as_string(hide_password=False))
        try:
            reports.append(other.upgrade())
        finally:
            other.dispose()
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert not done.wait(0.5)  # held back: the other upgrade has the lock
    finally:
        holder.rollback()
        holder.close()
        thread.join(30)
    assert [r.applied for r in reports] == [("0001", "0002")]


# ------------------------------------------------------------------------- previous release


def test_the_previous_release_upgrades_with_every_key_and_record(previous: Database) -> None:
    before = snapshot(previous)
    assert set(before) == set(PREVIOUS_RELEASE_TABLES) and previous.schema_revision() is None

    report = previous.upgrade()
    assert (report.before, report.after, report.applied) == (None, "0002", ("0001", "0002"))
    assert sorted(report.adopted) == sorted(PREVIOUS_RELEASE_TABLES)  # recognised, kept as revision 0001
    assert "kept the tables made before migrations" in report.describe()

    after = snapshot(previous)
    assert {name: after[name] for name in PREVIOUS_RELEASE_TABLES} == before  # every row, as it was
    assert set(after) == {VERSION_TABLE, *PREVIOUS_RELEASE_TABLES, *NEW_TABLES}
    assert differences(previous, declared_metadata()) == []

    keys = ApiKeyStore(previous)
    assert keys.verify(PREVIOUS["keys"]["ci-bot"]).roles == ("developer",)
    assert keys.verify(PREVIOUS["keys"]["ops"]).roles == ("admin",)
    with pytest.raises(AuthenticationError, match="revoked"):
        keys.verify(PREVIOUS["keys"]["old-bot"])

    store = audit_store(previous)
    result = store.verify(CheckpointKey.from_secret(PREVIOUS["checkpoint_secret"]))
    assert result.ok, result.describe()
    assert (result.records, result.pruned, result.checkpoints) == (PREVIOUS["records"], PREVIOUS["pruned"], 1)
    store.close()


# ------------------------------------------------------------------------------- failures


def test_a_failed_upgrade_leaves_the_database_as_it_was(empty: Database, tmp_path: Path) -> None:
    empty.upgrade()
    ApiKeyStore(empty).create("ci-bot", "developer")
    extra = failing_revision(tmp_path / "bad", down="0002")
    before = snapshot(empty)
    file_before = _file_bytes(empty)

    with pytest.raises(DatabaseMigrationError) as raised:
        upgrade(empty.engine, where=empty.where, versions=[extra])
    message = str(raised.value)
    assert "from 0002 to 9001: revision 9001 failed on purpose" in message
    assert "left as it was" in message and "`mcpfleet db upgrade`" in message and "\n" not in message

    assert snapshot(empty) == before  # no half_done table, no note column, no touched row
    assert empty.schema_revision() == "0002"
    assert _file_bytes(empty) == file_before


def test_a_failed_upgrade_of_the_previous_release_keeps_it_unversioned(
    previous: Database, tmp_path: Path
) -> None:
    """0001 (adopting), 0002 and a failing 9001 run as one: after the failure, not even the
    version table or the new tables are there."""
    before = snapshot(previous)
    file_before = _file_bytes(previous)
    with pytest.raises(DatabaseMigrationError, match="from no schema version to 9001"):
        upgrade(previous.engine, where=previous.where, versions=[failing_revision(tmp_path / "bad", "0002")])
    assert snapshot(previous) == before
    assert previous.schema_revision() is None
    assert _file_bytes(previous) == file_before
    assert previous.upgrade().applied == ("0001", "0002")  # the real upgrade still works afterwards


def test_a_database_from_a_newer_mcpfleet_is_refused(empty: Database) -> None:
    empty.upgrade()
    with empty.engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0999'"))
    with pytest.raises(
        DatabaseMigrationError, match="at schema revision '0999', which this mcpfleet does not"
    ):
        empty.upgrade()


def _file_bytes(database: Database) -> bytes | None:
    """The SQLite file, once every connection is closed (its WAL folded in); None for PostgreSQL."""
    if database.dialect != "sqlite":
        return None
    database.engine.dispose()
    return Path(str(database.url.database)).read_bytes()


def test_a_database_that_cannot_be_reached_is_one_line() -> None:
    database = Database(f"postgresql://127.0.0.1:{free_port()}/none?connect_timeout=3")  # nothing listens
    with pytest.raises(DatabaseMigrationError) as raised:
        database.upgrade()
    message = str(raised.value)
    assert message.startswith("cannot open the fleet database postgresql+psycopg://127.0.0.1:")
    assert "check database_url" in message and "\n" not in message
    database.dispose()
