"""Running the migrations: all pending revisions in one transaction, or none of them.

PostgreSQL has transactional DDL: the upgrade runs in one transaction that first takes an
advisory lock, so gateways starting together upgrade once, one after the other. SQLite has
transactional DDL too, but Python's sqlite3 module only opens a transaction before INSERT,
UPDATE and DELETE, so a ``CREATE TABLE`` would commit on its own: here the connection is put in
manual mode and the upgrade runs inside ``BEGIN IMMEDIATE`` (which also keeps a second writer
out), so a failure rolls everything back, new tables included.

A database made before mcpfleet had migrations has the tables of revision 0001 and no version
table: it is recognised by those tables, which revision 0001 then adopts (each must have the
columns that revision gives it, or the upgrade stops and says which table differs), and the
later revisions run as usual.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from mcpfleet.exceptions import DatabaseMigrationError

__all__ = [
    "LOCK_KEY",
    "PREVIOUS_RELEASE_TABLES",
    "VERSION_TABLE",
    "Revision",
    "UpgradeReport",
    "current_revision",
    "head_revision",
    "revisions",
    "upgrade",
]

HERE = Path(__file__).parent
VERSIONS = HERE / "versions"
VERSION_TABLE = "mcpfleet_schema_version"  # not alembic_version: the database may hold another app's
PREVIOUS_RELEASE_TABLES = ("api_keys", "audit_checkpoints", "audit_records")  # revision 0001
LOCK_KEY = zlib.crc32(b"mcpfleet schema migrations")  # pg_advisory_xact_lock key
_IN_PROCESS = threading.Lock()  # alembic's `context` and `op` are process-wide: one upgrade at a time


@dataclass(frozen=True)
class Revision:
    """One migration: its id, the one before it, and what it does (its docstring's first line)."""

    id: str
    down: str | None
    doc: str


@dataclass(frozen=True)
class UpgradeReport:
    """What an upgrade did: the revision before (None: no version table) and after, the
    revisions applied in order, and the tables adopted from a database made before migrations."""

    before: str | None
    after: str
    applied: tuple[str, ...]
    adopted: tuple[str, ...]

    def describe(self) -> str:
        if not self.applied:
            return f"the fleet database is up to date (revision {self.after})"
        start = self.before or "no schema version"
        text = f"upgraded the fleet database from {start} to {self.after} ({', '.join(self.applied)})"
        if self.adopted:
            text += f"; kept the tables made before migrations: {', '.join(self.adopted)}"
        return text


def _config(versions: Sequence[Path], connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in [VERSIONS, *versions]))
    config.attributes["version_table"] = VERSION_TABLE
    config.attributes["adopted"] = []
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script(versions: Sequence[Path] = ()) -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(versions))


def revisions(versions: Sequence[Path] = ()) -> list[Revision]:
    """Every revision, oldest first. ``versions``: more folders of revisions (tests add some)."""
    found = [
        Revision(s.revision, cast("str | None", s.down_revision), (s.doc or "").strip().splitlines()[0])
        for s in _script(versions).walk_revisions()
    ]
    return found[::-1]


def head_revision(versions: Sequence[Path] = ()) -> str:
    head = _script(versions).get_current_head()
    assert head is not None  # revision 0001 at least
    return head


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None if it has no version table (new, or made before
    migrations)."""
    with engine.connect() as connection:
        return _current(connection)


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """One connection in one transaction that only this migration holds; committed if the block
    ends normally, rolled back if it raises."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
                yield connection
            return
        raw = cast(sqlite3.Connection, connection.connection.dbapi_connection)
        saved = raw.isolation_level
        raw.isolation_level = None  # manual mode: no implicit BEGIN or COMMIT around our DDL
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            raw.isolation_level = saved


def upgrade(engine: Engine, *, where: str, versions: Sequence[Path] = ()) -> UpgradeReport:
    """Bring the database ``engine`` reaches to the newest revision (``where`` names it in
    errors). On any failure nothing is changed and :class:`DatabaseMigrationError` says what to do."""
    script = _script(versions)
    head = script.get_current_head()
    assert head is not None  # revision 0001 at least
    before: str | None = None
    reached = False
    try:
        with _IN_PROCESS, _transaction(engine) as connection:
            before, reached = _current(connection), True
            _check_known(script, before, where)
            if before == head:
                return UpgradeReport(before, head, (), ())
            config = _config(versions, connection)
            command.upgrade(config, "head")
            after = _current(connection)
            if after != head:  # inside the transaction: rolled back too
                raise RuntimeError(f"the upgrade ended at revision {after}, not {head}")
            adopted = tuple(config.attributes["adopted"])
    except DatabaseMigrationError:
        raise
    except Exception as exc:
        if not reached:
            raise DatabaseMigrationError(
                f"cannot open the fleet database {where} to upgrade it: {_short(exc)}; "
                "check database_url (or the fleet home) and that the database server is up"
            ) from exc
        raise DatabaseMigrationError(
            f"cannot upgrade the fleet database {where} from {before or 'no schema version'} to {head}: "
            f"{_short(exc)}; it was left as it was (the upgrade was rolled back). Fix the cause and "
            "run `mcpfleet db upgrade` again"
        ) from exc
    applied = [s.revision for s in script.iterate_revisions(head, before or "base")]
    return UpgradeReport(before, head, tuple(applied[::-1]), adopted)


def _check_known(script: ScriptDirectory, revision: str | None, where: str) -> None:
    if revision is None:
        return
    try:
        script.get_revision(revision)
    except CommandError:
        raise DatabaseMigrationError(
            f"the fleet database {where} is at schema revision {revision!r}, which this mcpfleet does not "
            "know: a newer mcpfleet upgraded it. Run that version, or restore a backup made before it"
        ) from None


def _short(exc: Exception) -> str:
    """The first line of an error, without SQLAlchemy's wrapping."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
