"""What every audit store does: idempotent batch writes, filtered reads, a scan for verification."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

from mcpfleet.audit.chain import Scanned, VerifyResult, verify
from mcpfleet.audit.records import AuditQuery, AuditRecord

__all__ = ["BaseAuditStore"]


class BaseAuditStore(ABC):
    """Where audit records are kept: a JSON lines file, SQLite or PostgreSQL.

    ``write`` is idempotent: a record whose ``id`` (or ``chain`` and ``seq``) is already stored
    is skipped, so replaying a spill file after a partial failure never stores a record twice.
    Stores are used from the logger's writer thread and from callers' threads at once.
    """

    @abstractmethod
    def write(self, records: Sequence[AuditRecord]) -> None:
        """Store ``records`` (in chain order) or raise :class:`~mcpfleet.exceptions.AuditStoreError`."""

    @abstractmethod
    def query(self, query: AuditQuery) -> list[AuditRecord]:
        """Records matching ``query``, newest first."""

    @abstractmethod
    def scan(self) -> Iterator[Scanned]:
        """Every stored entry in storage order, readable or not, for :meth:`verify`."""

    def verify(self) -> VerifyResult:
        """Check every hash chain in the store."""
        return verify(self.scan())

    def begin_chain(self, chain: str) -> None:  # noqa: B027 - an optional hint, nothing to do by default
        """A writer announces a chain nobody has written yet (no need to look for its records)."""

    def default_spill_file(self) -> Path | None:
        """Where records wait while this store is down, if the store has a natural place for it."""
        return None

    def close(self) -> None:  # noqa: B027 - stores without connections have nothing to release
        """Release connections and files."""
