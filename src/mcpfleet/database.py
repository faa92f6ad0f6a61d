"""The fleet database: runtime state that must outlive a process (API keys, audit records).

SQLite in the fleet home by default (``<home>/fleet.db``), PostgreSQL by URL
(``database_url: postgresql://user@host/db`` in the fleet YAML). Modules declare their tables
on :data:`metadata`; :meth:`Database.create_tables` makes the ones missing.

    from mcpfleet.database import Database

    db = Database.for_fleet(config)           # or Database("postgresql://127.0.0.1/test")
    db.create_tables()
    with db.engine.begin() as conn:
        ...
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url

from mcpfleet.exceptions import ConfigError
from mcpfleet.home import FleetHome

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

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

    @classmethod
    def for_fleet(cls, config: FleetConfig) -> Database:
        """The database ``config`` names, or ``fleet.db`` in its home."""
        if config.database_url:
            return cls(config.database_url)
        return cls(f"sqlite:///{FleetHome.at(config.home_path()).database_file}")

    def create_tables(self) -> None:
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
