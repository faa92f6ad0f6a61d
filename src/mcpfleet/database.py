"""The fleet database: runtime state that must outlive a process (API keys, audit records).

SQLite in the fleet home by default (``<home>/fleet.db``), PostgreSQL by URL
(``database_url: postgresql://user@host/db`` in the fleet YAML). Modules declare their tables
on :data:`metadata`; the schema itself is made and changed only by the migrations
(:mod:`mcpfleet.migrations`): :meth:`Database.upgrade` runs the pending ones, and
:meth:`Database.create_tables` does so once per ``Database``.

    from mcpfleet.database import Database

    db = Database.for_fleet(config)           # or Database("postgresql://127.0.0.1/test")
    db.create_tables()                        # the schema of this release, whatever was there
    with db.engine.begin() as conn:
        ...
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url

from mcpfleet.exceptions import ConfigError
from mcpfleet.home import FleetHome

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig
    from mcpfleet.migrations import UpgradeReport

__all__ = ["Database", "metadata"]

metadata = MetaData()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL sync is durable across process crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One SQLAlchemy engine for the fleet's state."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
            raise ConfigError(
                f"database URL {url!r} is not valid: {exc}; "
                "use sqlite:///path/to/fleet.db or postgresql://user@host:5432/dbname"
            ) from exc
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(parsed)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.dialect == "postgresql":
            self.engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
        else:
            raise ConfigError(f"database {self.dialect!r} is not supported; use sqlite or postgresql")
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @classmethod
    def for_fleet(cls, config: FleetConfig) -> Database:
        """The database ``config`` names, or ``fleet.db`` in its home."""
        if config.database_url:
            return cls(config.database_url)
        return cls(f"sqlite:///{FleetHome.at(config.home_path()).database_file}")

    def create_tables(self) -> None:
        """Make sure the schema is this release's (see :meth:`upgrade`); checked once per ``Database``."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                self.upgrade()

    def upgrade(self) -> UpgradeReport:
        """Run the pending migrations, all in one transaction: on failure the database is left as it
        was and :class:`~mcpfleet.exceptions.DatabaseMigrationError` says what to do."""
        from mcpfleet.migrations import upgrade

        report = upgrade(self.engine, where=self.where)
        self._schema_ready = True
        return report

    def exists(self) -> bool:
        """False for a SQLite file not made yet (asking anything would make it); True otherwise."""
        file = self.url.database
        if self.dialect != "sqlite" or not file or file == ":memory:":
            return True
        return Path(file).expanduser().exists()

    def schema_revision(self) -> str | None:
        """The migration the database is at; None before the first upgrade."""
        from mcpfleet.migrations import current_revision

        return current_revision(self.engine)

    @property
    def where(self) -> str:
        """The URL without its password, for messages."""
        return self.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.where!r})"
