"""The spill file: where audit records wait, durably, while the store cannot take them.

Append-only JSON lines, fsynced per batch, under an exclusive ``flock`` so that several
processes (gateways sharing a fleet home) can share one file. A replay holds the lock from
reading to truncating: it writes everything to the store (idempotently: records already
there are skipped), and only then empties the file. A crash in between replays again later,
and the store skips what it has.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mcpfleet.audit.records import AuditRecord
from mcpfleet.audit.stores.files import append_durably, dump_lines, read_lines

__all__ = ["SpillFile"]

log = logging.getLogger("mcpfleet.audit")


class SpillFile:
    """Records waiting for the store: ``append`` them, ``replay`` them into the store later."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Append and fsync; raises :class:`OSError` when the disk cannot take them."""
        if records:
            append_durably(self.path, dump_lines(records))

    def is_empty(self) -> bool:
        try:
            return self.path.stat().st_size == 0
        except FileNotFoundError:
            return True

    def replay(self, write: Callable[[Sequence[AuditRecord]], None], chunk: int = 2000) -> int:
        """Write every waiting record with ``write`` (in chain order), then empty the file.

        Returns how many records were replayed. If ``write`` raises, the file is left as it
        was and the error propagates: nothing is lost, the next replay tries again.
        """
        if self.is_empty():
            return 0
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            records: dict[str, AuditRecord] = {}  # by id: a record spilled twice is replayed once
            bad: list[str] = []
            for item in read_lines(self.path):
                if item.record is not None:
                    records[item.record.id] = item.record
                else:
                    bad.append(item.problem or "unreadable")
            ordered = sorted(records.values(), key=lambda r: (r.chain, r.seq))
            for start in range(0, len(ordered), chunk):
                write(ordered[start : start + chunk])
            if bad:
                self._keep_bad(bad)
            os.ftruncate(fd, 0)
            os.fsync(fd)
            return len(ordered)
        finally:
            os.close(fd)

    def _keep_bad(self, problems: list[str]) -> None:
        # A line cut short by a crash mid-append: keep a note beside the file, never replay it.
        note = self.path.with_name(self.path.name + ".bad")
        log.error("audit spill file %s had %d unreadable line(s); see %s", self.path, len(problems), note)
        with note.open("a", encoding="utf-8") as fh:
            fh.writelines(p + "\n" for p in problems)
