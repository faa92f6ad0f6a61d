"""``PostgresAuditStore``: audit records in PostgreSQL, written with ``COPY``.

Pruning deletes with plain ``DELETE`` in batches; autovacuum makes the space reusable, so the
table stops growing once retention holds it steady. ``mcpfleet audit prune --vacuum`` runs a
plain ``VACUUM (ANALYZE)`` on the table at once; ``VACUUM FULL``, which gives the space back to
the file system but locks the table while it runs, is left to the database's administrator.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mcpfleet.audit.records import AuditRecord
from mcpfleet.audit.stores.sql import DEFAULT_TABLE, SqlAuditStore, row_of, short
from mcpfleet.database import Database
from mcpfleet.exceptions import AuditError, AuditStoreError

__all__ = ["PostgresAuditStore"]


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

    def _name(self) -> str:
        return self.database.engine.dialect.identifier_preparer.format_table(self.table)

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        quote = self.database.engine.dialect.identifier_preparer
        target = self._name()
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
                        row = row_of(record)
                        copy.write_row([row[name] for name in names])
                cursor.execute(f"INSERT INTO {target} SELECT * FROM {stage} ON CONFLICT DO NOTHING")
        except (SQLAlchemyError, psycopg.Error) as exc:
            raise AuditStoreError(f"cannot write audit records to {self._where()}: {short(exc)}") from exc

    # ------------------------------------------------------------------ retention

    def size_bytes(self) -> int:
        """``pg_total_relation_size`` of the table: rows, indexes and TOAST, free space included."""
        stmt = text("SELECT coalesce(pg_total_relation_size(to_regclass(:name)), 0)")
        try:
            with self.database.engine.connect() as conn:
                return int(conn.execute(stmt, {"name": self._name()}).scalar_one())
        except SQLAlchemyError as exc:
            raise self._failed("measure the audit table in", exc) from exc

    def measure(self) -> tuple[int, int]:
        """The rows' own size (``pg_column_size``), scaled by how much the table with its indexes
        and TOAST takes per byte of rows: dead rows and free space, which only ``VACUUM FULL``
        gives back, are not counted, so this shrinks as soon as rows are deleted."""
        name = self._name()
        stmt = text(
            f"SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0), "  # a checked name
            f"pg_total_relation_size(to_regclass(:name)), pg_relation_size(to_regclass(:name)) FROM {name} t"
        )
        try:
            self._ensure_table()
            with self.database.engine.connect() as conn:
                count, rows, total, heap = conn.execute(stmt, {"name": name}).one()
        except SQLAlchemyError as exc:
            raise self._failed("measure the audit table in", exc) from exc
        return (int(rows * total / heap) if heap else 0), int(count)

    def reclaim(self, full: bool = False) -> str:
        if not full:
            return "autovacuum makes their space reusable by new records"
        try:
            with self.database.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {self._name()}")
        except SQLAlchemyError as exc:
            raise self._failed("vacuum the audit table in", exc) from exc
        return "VACUUM made their space reusable (VACUUM FULL would give it back, but locks the table)"
