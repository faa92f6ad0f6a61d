"""``JsonlAuditStore``: one JSON object per line, appended; readable with ``jq`` and ``grep``.

Several processes may append to one file: each batch is written under an exclusive ``flock``
in one ``write`` and fsynced; a batch that fails half-way is cut off again, so the file never
holds half a batch. Pruning rewrites the file without the pruned records and renames the new
file over it (see :mod:`mcpfleet.audit.stores.files`); checkpoints live beside it in
``<file>.checkpoints``, one JSON line per pruned chain.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from mcpfleet.audit.chain import Scanned
from mcpfleet.audit.checkpoint import Checkpoint
from mcpfleet.audit.records import AuditQuery, AuditRecord
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.audit.stores.files import (
    append_durably,
    dump_lines,
    locked,
    read_lines,
    rewrite,
    write_atomically,
)
from mcpfleet.exceptions import AuditStoreError

__all__ = ["JsonlAuditStore", "append_durably", "dump_lines", "read_lines"]


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

    def _records(self) -> Iterator[AuditRecord]:
        return (item.record for item in read_lines(self.path) if item.record is not None)

    # ------------------------------------------------------------------ retention

    @property
    def checkpoint_file(self) -> Path:
        return self.path.with_name(self.path.name + ".checkpoints")

    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def measure(self) -> tuple[int, int]:
        return self.size_bytes(), sum(1 for _ in self._records())

    def time_at(self, offset: int) -> datetime | None:
        times = sorted(record.time for record in self._records())
        return times[offset] if 0 <= offset < len(times) else None

    def prune_bounds(self, cutoff: datetime) -> dict[str, int]:
        newest_old: dict[str, int] = {}
        oldest_new: dict[str, int] = {}
        for record in self._records():
            found = newest_old if record.time < cutoff else oldest_new
            pick = max if found is newest_old else min
            found[record.chain] = pick(record.seq, found.get(record.chain, record.seq))
        bounds = {}
        for chain, seq in newest_old.items():
            through = min(seq, oldest_new.get(chain, seq + 1) - 1)
            if through >= 0:
                bounds[chain] = through
        return bounds

    def records_between(self, ranges: Mapping[str, tuple[int, int]]) -> Generator[AuditRecord]:
        for record in self._records():  # one pass, however many chains
            bounds = ranges.get(record.chain)
            if bounds is not None and bounds[0] < record.seq <= bounds[1]:
                yield record

    def checkpoints(self) -> list[Checkpoint]:
        try:
            lines = self.checkpoint_file.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AuditStoreError(f"cannot read {self.checkpoint_file}: {exc.strerror}") from None
        found = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise AuditStoreError(
                    f"line {number} of {self.checkpoint_file} is not a checkpoint ({exc}): the file was "
                    "damaged or tampered with; restore it from a backup"
                ) from None
        return found

    def save_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        try:
            with locked(self.path):  # one prune at a time reads, merges and replaces the file
                merged = {mark.chain: mark for mark in self.checkpoints()}
                for mark in checkpoints:
                    if mark.chain not in merged or merged[mark.chain].seq < mark.seq:
                        merged[mark.chain] = mark
                text = "".join(json.dumps(m.to_dict()) + "\n" for m in merged.values())
                write_atomically(self.checkpoint_file, text.encode())
        except OSError as exc:
            raise AuditStoreError(f"cannot write {self.checkpoint_file}: {exc.strerror}") from None

    def delete_through(
        self, bounds: Mapping[str, int], batch_size: int, stop: threading.Event | None = None
    ) -> int:
        """One rewrite of the file (``batch_size`` does not apply: writers wait only while the
        lines appended during the copy are copied)."""

        def keep(line: bytes) -> bool:
            try:
                data = json.loads(line)
                return not (data["chain"] in bounds and data["seq"] <= bounds[data["chain"]])
            except (ValueError, TypeError, KeyError):
                return True  # not a record: left for verify to report

        try:
            return rewrite(self.path, keep)
        except OSError as exc:
            raise AuditStoreError(f"cannot rewrite audit file {self.path}: {exc.strerror}") from None

    def reclaim(self, full: bool = False) -> str:
        return "the file was rewritten without them"

    def __repr__(self) -> str:
        return f"JsonlAuditStore({str(self.path)!r})"
