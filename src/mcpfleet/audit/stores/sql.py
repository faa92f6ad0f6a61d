"""SQL audit stores: what SQLite (:mod:`.sqlite`) and PostgreSQL (:mod:`.postgres`) share.

Two tables, made on first use. Records: ``id`` is the primary key and ``(chain, seq)`` is
unique; inserts skip rows that exist (``ON CONFLICT DO NOTHING``), so replays are idempotent.
``params`` is the canonical JSON text, exactly what the hash covers (cast it to ``jsonb`` to
query inside it). Checkpoints (``audit_checkpoints``, or ``<table>_checkpoints``): one row
per pruned chain, only ever moved forward.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

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
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError

from mcpfleet.audit.chain import Scanned
from mcpfleet.audit.checkpoint import Checkpoint
from mcpfleet.audit.records import AuditQuery, AuditRecord, canonical
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.database import Database, metadata
from mcpfleet.exceptions import AuditError, AuditStoreError

__all__ = ["DEFAULT_TABLE", "SqlAuditStore", "audit_table", "checkpoint_table"]

DEFAULT_TABLE = "audit_records"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$")  # room for the "_checkpoints" suffix
_TEXT_FIELDS = ("server", "tool", "user", "role", "client", "request_id")


def audit_table(meta: MetaData, name: str = DEFAULT_TABLE) -> Table:
    """The audit table's definition, named ``name``, on ``meta``."""
    if not _TABLE_NAME.match(name):
        raise AuditError(f"audit table name {name!r} is not valid; use letters, digits and '_' (at most 51)")
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


def checkpoint_table(meta: MetaData, records: str = DEFAULT_TABLE) -> Table:
    """The checkpoints of the audit table ``records``, on ``meta``."""
    name = "audit_checkpoints" if records == DEFAULT_TABLE else f"{records}_checkpoints"
    if name in meta.tables:
        return meta.tables[name]
    return Table(
        name, meta,
        Column("chain", String(128), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("pruned", BigInteger, nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("key_id", String(16), nullable=False),
        Column("signature", String(64), nullable=False),
    )  # fmt: skip


# The default tables are part of the fleet database (Database.create_tables).
audit_table(metadata)
checkpoint_table(metadata)


def row_of(record: AuditRecord) -> dict[str, Any]:
    """A record as a row of the audit table."""
    row = {name: getattr(record, name) for name in AuditRecord.__dataclass_fields__}
    row["params"] = None if record.params is None else canonical(record.params)
    return row


def _utc(moment: datetime) -> datetime:
    # SQLite hands back the naive UTC time it was given; PostgreSQL an aware one.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def short(exc: Exception) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


class SqlAuditStore(BaseAuditStore):
    """Audit records in a table of a SQLAlchemy :class:`~mcpfleet.database.Database`."""

    pause_between_batches = False  # SQLite: let writers take the database lock between batches

    def __init__(self, database: Database, *, table: str = DEFAULT_TABLE, own: bool = False) -> None:
        self.database = database
        meta = metadata if table == DEFAULT_TABLE else MetaData()
        self.table = audit_table(meta, table)
        self.checkpoint_table = checkpoint_table(meta, table)
        dialect = postgresql if database.dialect == "postgresql" else sqlite
        self._insert = dialect.insert(self.table).on_conflict_do_nothing()
        mark = dialect.insert(self.checkpoint_table)
        self._upsert_mark = mark.on_conflict_do_update(
            index_elements=["chain"],
            set_={c.name: mark.excluded[c.name] for c in self.checkpoint_table.columns if c.name != "chain"},
            where=self.checkpoint_table.c.seq < mark.excluded.seq,  # checkpoints only move forward
        )
        self._own = own
        self._ready = False
        self._ready_lock = threading.Lock()

    def _where(self) -> str:
        return self.database.url.render_as_string(hide_password=True)

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            for table in (self.table, self.checkpoint_table):
                for attempt in (1, 2):
                    try:
                        table.create(self.database.engine, checkfirst=True)
                        break
                    except SQLAlchemyError:
                        if attempt == 2:  # another process may have created it between check and create
                            raise
            self._ready = True

    def _failed(self, doing: str, exc: SQLAlchemyError) -> AuditStoreError:
        return AuditStoreError(f"cannot {doing} {self._where()}: {short(exc)}")

    def _read(self, stmt: Any) -> list[Row[Any]]:
        try:
            self._ensure_table()
            with self.database.engine.connect() as conn:
                return list(conn.execute(stmt))
        except SQLAlchemyError as exc:
            raise self._failed("read audit records from", exc) from exc

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        try:
            self._ensure_table()
            with self.database.engine.begin() as conn:
                conn.execute(self._insert, [row_of(r) for r in records])
        except SQLAlchemyError as exc:
            raise self._failed("write audit records to", exc) from exc

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        t = self.table
        stmt = select(t).where(*(t.c[name] == value for name, value in query.equals().items()))
        if query.start_time is not None:
            stmt = stmt.where(t.c.time >= query.start_time)
        if query.end_time is not None:
            stmt = stmt.where(t.c.time < query.end_time)
        stmt = stmt.order_by(t.c.time.desc(), t.c.seq.desc()).limit(query.limit)
        return [self._record(row) for row in self._read(stmt)]

    def scan(self) -> Iterator[Scanned]:
        stmt = select(self.table).order_by(self.table.c.chain, self.table.c.seq)
        for position, row in enumerate(self._stream(stmt), 1):
            try:
                yield Scanned(position, self._record(row))
            except (ValueError, TypeError) as exc:
                yield Scanned(position, None, f"row {row.id}: {exc}")

    def _stream(self, stmt: Any) -> Generator[Row[Any]]:
        try:
            self._ensure_table()
            with self.database.engine.connect() as conn:
                result = conn.execution_options(yield_per=2000).execute(stmt)
                try:
                    yield from result
                finally:
                    result.close()  # a server-side cursor (PostgreSQL), also when the reader stops early
        except SQLAlchemyError as exc:
            raise self._failed("read audit records from", exc) from exc

    @staticmethod
    def _record(row: Row[Any]) -> AuditRecord:
        values = row._asdict()
        values["time"] = _utc(values["time"])
        values["params"] = None if values["params"] is None else json.loads(values["params"])
        return AuditRecord(**values)

    # ------------------------------------------------------------------ retention

    def time_at(self, offset: int) -> datetime | None:
        stmt = select(self.table.c.time).order_by(self.table.c.time).offset(offset).limit(1)
        rows = self._read(stmt)
        return _utc(rows[0].time) if rows else None

    def prune_bounds(self, cutoff: datetime) -> dict[str, int]:
        t, later = self.table, self.table.alias("later")
        old_chains = (
            select(t.c.chain, func.max(t.c.seq).label("newest"))
            .where(t.c.time < cutoff)
            .group_by(t.c.chain)
            .subquery("old")
        )
        first_new = (
            select(func.min(later.c.seq))
            .where(later.c.chain == old_chains.c.chain, later.c.seq <= old_chains.c.newest)
            .where(later.c.time >= cutoff)
            .scalar_subquery()
        )
        rows = self._read(select(old_chains.c.chain, old_chains.c.newest, first_new.label("first_new")))
        bounds = {}
        for row in rows:
            through = row.newest if row.first_new is None else min(row.newest, row.first_new - 1)
            if through >= 0:
                bounds[row.chain] = int(through)
        return bounds

    def records_between(self, ranges: Mapping[str, tuple[int, int]]) -> Generator[AuditRecord]:
        t = self.table
        for chain, (after, through) in ranges.items():  # each a range of the (chain, seq) index
            stmt = select(t).where(t.c.chain == chain, t.c.seq > after, t.c.seq <= through).order_by(t.c.seq)
            rows = self._stream(stmt)
            try:
                for row in rows:
                    yield self._record(row)
            finally:
                rows.close()  # the cursor goes with it, also when the caller stops early

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._read(select(self.checkpoint_table).order_by(self.checkpoint_table.c.chain))
        return [Checkpoint(**{**row._asdict(), "time": _utc(row.time)}) for row in rows]

    def save_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        if not checkpoints:
            return
        rows = [{**m.to_dict(), "time": m.time} for m in checkpoints]
        try:
            self._ensure_table()
            with self.database.engine.begin() as conn:
                for row in rows:  # one statement each: an upsert's WHERE applies per row
                    conn.execute(self._upsert_mark, row)
        except SQLAlchemyError as exc:
            raise self._failed("write audit checkpoints to", exc) from exc

    def delete_through(
        self, bounds: Mapping[str, int], batch_size: int, stop: threading.Event | None = None
    ) -> int:
        t, deleted = self.table, 0
        try:
            self._ensure_table()
            for chain, through in bounds.items():
                with self.database.engine.connect() as conn:
                    low = conn.execute(
                        select(func.min(t.c.seq)).where(t.c.chain == chain, t.c.seq <= through)
                    ).scalar()
                while low is not None and low <= through and not (stop and stop.is_set()):
                    high = min(low + batch_size - 1, through)
                    started = time.monotonic()
                    with self.database.engine.begin() as conn:  # one short transaction per batch
                        done = conn.execute(delete(t).where(t.c.chain == chain, t.c.seq.between(low, high)))
                        deleted += done.rowcount
                    low = high + 1
                    if self.pause_between_batches and low <= through:
                        time.sleep(min(time.monotonic() - started, 0.25))
        except SQLAlchemyError as exc:
            raise self._failed("prune audit records in", exc) from exc
        return deleted

    def close(self) -> None:
        if self._own:
            self.database.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where()!r}, table={self.table.name!r})"
