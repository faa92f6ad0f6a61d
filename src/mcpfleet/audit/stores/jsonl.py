"""``JsonlAuditStore``: one JSON object per line, appended; readable with ``jq`` and ``grep``.

Several processes may append to one file: each batch is written under an exclusive ``flock``
in one ``write`` and fsynced; a batch that fails half-way is cut off again, so the file never
holds half a batch.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from mcpfleet.audit.chain import Scanned
from mcpfleet.audit.records import AuditQuery, AuditRecord
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.exceptions import AuditStoreError

__all__ = ["JsonlAuditStore", "dump_lines", "read_lines"]


_LINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def dump_lines(records: Sequence[AuditRecord]) -> bytes:
    """Records as JSON lines."""
    return "".join(_LINE.encode(r.to_dict()) + "\n" for r in records).encode()


def read_lines(path: Path) -> Iterator[Scanned]:
    """Every non-empty line of a JSON lines file, parsed; unreadable lines carry their problem."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditStoreError(
            f"cannot read audit file {path}: {exc.strerror}; check its permissions"
        ) from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield Scanned(number, AuditRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                yield Scanned(number, None, f"line {number}: {exc}")


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` under an exclusive lock and fsync; on failure cut the file back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)  # never leave half a batch behind
            raise
    finally:
        os.close(fd)  # closing releases the lock


class JsonlAuditStore(BaseAuditStore):
    """Audit records as JSON lines in ``path``; the spill file defaults to ``<path>.spill``.

    Idempotent by ``(chain, seq)``: the store remembers each chain's newest ``seq``; a chain it
    has not seen (a replay of another process's records) is looked up in the file once.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._newest: dict[str, int] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def begin_chain(self, chain: str) -> None:
        with self._lock:
            self._newest.setdefault(chain, -1)

    def default_spill_file(self) -> Path:
        return self.path.with_name(self.path.name + ".spill")

    def write(self, records: Sequence[AuditRecord]) -> None:
        with self._lock:
            if not self._loaded and any(r.chain not in self._newest for r in records):
                self._load_newest()
            fresh = [r for r in records if r.seq > self._newest.get(r.chain, -1)]
            if not fresh:
                return
            try:
                append_durably(self.path, dump_lines(fresh))
            except OSError as exc:
                raise AuditStoreError(f"cannot append to audit file {self.path}: {exc.strerror}") from None
            for record in fresh:
                self._newest[record.chain] = max(record.seq, self._newest.get(record.chain, -1))

    def _load_newest(self) -> None:
        for item in read_lines(self.path):
            if item.record is not None:
                chain = item.record.chain
                self._newest[chain] = max(item.record.seq, self._newest.get(chain, -1))
        self._loaded = True

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        found = [s.record for s in read_lines(self.path) if s.record is not None and query.matches(s.record)]
        found.sort(key=lambda r: (r.time, r.seq), reverse=True)
        return found if query.limit is None else found[: query.limit]

    def scan(self) -> Iterator[Scanned]:
        return read_lines(self.path)

    def __repr__(self) -> str:
        return f"JsonlAuditStore({str(self.path)!r})"
