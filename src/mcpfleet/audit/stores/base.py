"""What every audit store does: idempotent batch writes, filtered reads, a scan for verification,
and the parts of pruning (see :mod:`mcpfleet.audit.retention`) that depend on the storage."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from mcpfleet.audit.chain import Scanned, VerifyResult, verify
from mcpfleet.audit.checkpoint import Checkpoint, CheckpointKey
from mcpfleet.audit.records import AuditQuery, AuditRecord

__all__ = ["BaseAuditStore", "human_size"]


def human_size(size: int) -> str:
    """``812 B``, ``41.0 kB``, ``70.2 MB``, ``1.3 GB``: sizes in messages."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


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

    def verify(self, key: CheckpointKey | None = None) -> VerifyResult:
        """Check every hash chain in the store, pruned ones from their checkpoints (signed with ``key``)."""
        return verify(self.scan(), self.checkpoints(), key)

    # ------------------------------------------------------------------ retention

    @abstractmethod
    def size_bytes(self) -> int:
        """What the store takes on disk (files; for PostgreSQL the table with its indexes)."""

    @abstractmethod
    def measure(self) -> tuple[int, int]:
        """``(bytes, records)``: the space the records use now, not counting free space kept for
        reuse (so it shrinks as soon as records are pruned), and how many there are."""

    @abstractmethod
    def time_at(self, offset: int) -> datetime | None:
        """The ``time`` of the record with ``offset`` older ones (0: the oldest); None past the end."""

    @abstractmethod
    def prune_bounds(self, cutoff: datetime) -> dict[str, int]:
        """For each chain with records older than ``cutoff``, the highest ``seq`` that may be pruned:
        chains lose a prefix only, so it stops before the chain's first record not older than it."""

    @abstractmethod
    def records_between(self, ranges: Mapping[str, tuple[int, int]]) -> Generator[AuditRecord]:
        """For each chain of ``ranges``, its records with ``after < seq <= through``, in storage
        order (close the generator if you stop early: it may hold a database cursor)."""

    @abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """The newest checkpoint of every pruned chain."""

    @abstractmethod
    def save_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Store ``checkpoints``; one never replaces a newer checkpoint (higher ``seq``) of its chain."""

    @abstractmethod
    def delete_through(
        self, bounds: Mapping[str, int], batch_size: int, stop: threading.Event | None = None
    ) -> int:
        """Delete the records of each chain up to ``bounds[chain]``, at most ``batch_size`` per
        transaction so writers wait at most one batch, until ``stop`` is set; how many were deleted."""

    def reclaim(self, full: bool = False) -> str:
        """Give space freed by pruning back where the store can; says what was done."""
        return "nothing to reclaim"

    def begin_chain(self, chain: str) -> None:  # noqa: B027 - an optional hint, nothing to do by default
        """A writer announces a chain nobody has written yet (no need to look for its records)."""

    def default_spill_file(self) -> Path | None:
        """Where records wait while this store is down, if the store has a natural place for it."""
        return None

    def close(self) -> None:  # noqa: B027 - stores without connections have nothing to release
        """Release connections and files."""
