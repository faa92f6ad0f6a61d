"""SQL audit stores: SQLite (the fleet database by default) and PostgreSQL, one table.

The table is made on first use. ``id`` is the primary key and ``(chain, seq)`` is unique;
inserts skip rows that exist (``ON CONFLICT DO NOTHING``), so replays are idempotent.
``params`` is the canonical JSON text, exactly what the hash covers (cast it to ``jsonb`` to
query inside it).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mcpfleet.audit.chain import Scanned
from mcpfleet.audit.records import AuditQuery, AuditRecord, canonical
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.database import Database, metadata
from mcpfleet.exceptions import AuditError, AuditStoreError

__all__ = ["DEFAULT_TABLE", "PostgresAuditStore", "SqlAuditStore", "SqliteAuditStore", "audit_table"]

DEFAULT_TABLE = "audit_records"
ROWS_PER_STATEMENT = 500  # 16 columns each: 8,000 variables, within SQLite's 32,766
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TEXT_FIELDS = ("server", "tool", "user", "role", "client", "request_id")


def audit_table(meta: MetaData, name: str = DEFAULT_TABLE) -> Table:
    """The audit table's definition, named ``name``, on ``meta``."""
    if not _TABLE_NAME.match(name):
        raise AuditError(f"audit table name {name!r} is not valid; use letters, digits and '_' (at most 63)")
    if name in meta.tables:
        return meta.tables[name]
    return Table(
        name, meta,
        Column("id", String(32), primary_key=True),
        Column("chain", String(128), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        *(Column(field, String(255)) for field in _TEXT_FIELDS),
        Column("outcome", String(32), nullable=False),
        Column("error", Text),
        Column("latency_ms", Float),
        Column("params", Text),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        UniqueConstraint("chain", "seq", name=f"{name}_chain_seq"),
        Index(f"{name}_time", "time"),
        Index(f"{name}_server_time", "server", "time"),
        Index(f"{name}_user_time", "user", "time"),
    )  # fmt: skip


audit_table(metadata)  # the default table is part of the fleet database (Database.create_tables)


def _row(record: AuditRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in AuditRecord.__dataclass_fields__}
    row["params"] = None if record.params is None else canonical(record.params)
    return row


class SqlAuditStore(BaseAuditStore):
    """Audit records in a table of a SQLAlchemy :class:`~mcpfleet.database.Database`."""

    def __init__(self, database: Database, *, table: str = DEFAULT_TABLE, own: bool = False) -> None:
        self.database = database
        self.table = audit_table(metadata if table == DEFAULT_TABLE else MetaData(), table)
        dialect = postgresql if database.dialect == "postgresql" else sqlite
        self._insert = dialect.insert(self.table).on_conflict_do_nothing()
        self._own = own
        self._ready = False
        self._ready_lock = threading.Lock()

    def _where(self) -> str:
        return self.database.url.render_as_string(hide_password=True)

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            for attempt in (1, 2):
                try:
                    self.table.create(self.database.engine, checkfirst=True)
                    break
                except SQLAlchemyError:
                    if attempt == 2:  # another process may have created it between check and create
                        raise
            self._ready = True

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        try:
            self._ensure_table()
            with self.database.engine.begin() as conn:
                conn.execute(self._insert, [_row(r) for r in records])
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"cannot write audit records to {self._where()}: {_short(exc)}") from exc

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        t = self.table
        stmt = select(t).where(*(t.c[name] == value for name, value in query.equals().items()))
        if query.start_time is not None:
            stmt = stmt.where(t.c.time >= query.start_time)
        if query.end_time is not None:
            stmt = stmt.where(t.c.time < query.end_time)
        stmt = stmt.order_by(t.c.time.desc(), t.c.seq.desc()).limit(query.limit)
        try:
            self._ensure_table()
            with self.database.engine.connect() as conn:
                return [self._record(row) for row in conn.execute(stmt)]
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"cannot read audit records from {self._where()}: {_short(exc)}") from exc

    def scan(self) -> Iterator[Scanned]:
        stmt = select(self.table).order_by(self.table.c.chain, self.table.c.seq)
        try:
            self._ensure_table()
            with self.database.engine.connect() as conn:
                result = conn.execution_options(yield_per=2000).execute(stmt)
                for position, row in enumerate(result, 1):
                    try:
                        yield Scanned(position, self._record(row))
                    except (ValueError, TypeError) as exc:
                        yield Scanned(position, None, f"row {row.id}: {exc}")
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"cannot read audit records from {self._where()}: {_short(exc)}") from exc

    @staticmethod
    def _record(row: Row[Any]) -> AuditRecord:
        values = row._asdict()
        moment: datetime = values["time"]
        # SQLite hands back the naive UTC time it was given; PostgreSQL an aware one.
        values["time"] = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        values["params"] = None if values["params"] is None else json.loads(values["params"])
        return AuditRecord(**values)

    def close(self) -> None:
        if self._own:
            self.database.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where()!r}, table={self.table.name!r})"


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


class SqliteAuditStore(SqlAuditStore):
    """Audit records in a SQLite file (WAL): ``SqliteAuditStore("~/.mcpfleet/fleet.db")``."""

    def __init__(self, path: str | Path | Database, *, table: str = DEFAULT_TABLE) -> None:
        own = not isinstance(path, Database)
        database = path if isinstance(path, Database) else Database(f"sqlite:///{Path(path).expanduser()}")
        if database.dialect != "sqlite":
            raise AuditError(f"SqliteAuditStore needs a SQLite database, not {database!r}")
        super().__init__(database, table=table, own=own)
        self._statements: dict[int, str] = {}
        self._time: Any = None

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Multi-row ``INSERT OR IGNORE`` statements, ``ROWS_PER_STATEMENT`` rows each: SQLite
        runs each in one step, so the writer thread gives the GIL (which the gateway's event
        loop needs) back and forth once per statement, not once per row."""
        if not records:
            return
        try:
            self._ensure_table()
            dialect = self.database.engine.dialect
            if self._time is None:
                self._time = self.table.c.time.type.dialect_impl(dialect).bind_processor(dialect)
            to_text = self._time
            values: list[Any] = []
            for r in records:
                values += (
                    r.id, r.chain, r.seq, to_text(r.time), r.server, r.tool, r.user, r.role, r.client,
                    r.request_id, r.outcome, r.error, r.latency_ms,
                    None if r.params is None else canonical(r.params), r.prev_hash, r.hash,
                )  # fmt: skip
            width = len(self.table.columns)
            with self.database.engine.begin() as conn:
                for start in range(0, len(records), ROWS_PER_STATEMENT):
                    rows = min(ROWS_PER_STATEMENT, len(records) - start)
                    chunk = tuple(values[start * width : (start + rows) * width])
                    conn.exec_driver_sql(self._statement(rows), chunk)
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"cannot write audit records to {self._where()}: {_short(exc)}") from exc

    def _statement(self, rows: int) -> str:
        statement = self._statements.get(rows)
        if statement is None:
            quote = self.database.engine.dialect.identifier_preparer
            names = ", ".join(quote.quote(c.name) for c in self.table.columns)
            row = "(" + ", ".join("?" * len(self.table.columns)) + ")"
            statement = (
                f"INSERT OR IGNORE INTO {quote.format_table(self.table)} ({names}) "
                f"VALUES {', '.join([row] * rows)}"
            )
            if len(self._statements) < 64:
                self._statements[rows] = statement
        return statement

    def default_spill_file(self) -> Path | None:
        name = self.database.url.database
        if not name or name == ":memory:":
            return None
        return Path(name).expanduser().with_name(Path(name).name + "-audit-spill.jsonl")


def _with_connect_timeout(url: str, seconds: int = 5) -> str:
    """A down server must fail a write quickly (then records spill), not hang the writer."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # Database explains what is wrong with it
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(seconds)}).render_as_string(hide_password=False)


class PostgresAuditStore(SqlAuditStore):
    """Audit records in PostgreSQL: ``PostgresAuditStore("postgresql://user@host/db")``.

    It needs no connection to be created: while the server is down, writes fail (and the logger
    spills), and the table is made on the first write that gets through. A batch is sent with
    ``COPY`` into a temporary table, then moved with ``INSERT ... ON CONFLICT DO NOTHING``.
    """

    def __init__(self, url: str | Database, *, table: str = DEFAULT_TABLE) -> None:
        own = not isinstance(url, Database)
        database = url if isinstance(url, Database) else Database(_with_connect_timeout(url))
        if database.dialect != "postgresql":
            raise AuditError(f"PostgresAuditStore needs a postgresql:// URL, not {database!r}")
        super().__init__(database, table=table, own=own)

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        quote = self.database.engine.dialect.identifier_preparer
        target = quote.format_table(self.table)
        stage = quote.quote(f"{self.table.name}_stage")
        names = [c.name for c in self.table.columns]
        columns = ", ".join(quote.quote(name) for name in names)
        try:
            self._ensure_table()
            with self.database.engine.begin() as conn:
                raw = conn.connection
                cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
                if stage not in raw.info:  # temporary tables live as long as their connection
                    cursor.execute(f"CREATE TEMPORARY TABLE {stage} (LIKE {target}) ON COMMIT DELETE ROWS")
                    raw.info[stage] = True
                with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
                    for record in records:
                        row = _row(record)
                        copy.write_row([row[name] for name in names])
                cursor.execute(f"INSERT INTO {target} SELECT * FROM {stage} ON CONFLICT DO NOTHING")
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise AuditStoreError(f"cannot write audit records to {self._where()}: {_short(exc)}") from exc
