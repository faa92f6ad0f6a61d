"""The background side of the audit log: batches to the store, spill and replay, never blocking callers.

Two daemon threads:

- the *writer* takes up to ``batch_size`` records from the bounded queue and writes them in one
  call to the store. If the store fails, the batch goes to the spill file and the writer is
  *spilling*: every later batch goes to the spill file too (so each chain reaches the store in
  order), and it retries a replay with backoff (0.1 s doubling to ``retry_max``). A replay
  first moves what is queued to the spill file, then writes the whole file to the store and
  empties it; spilling ends when nothing waits anywhere.
- the *spiller* takes records that found the queue full (and those recorded after them, until
  it has caught up) and appends them to the spill file. ``put`` therefore never waits: a full
  queue costs a list append, not a dropped record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mcpfleet.audit.records import AuditRecord
from mcpfleet.audit.spill import SpillFile
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.backoff import Backoff
from mcpfleet.exceptions import AuditError

__all__ = ["AuditStats", "AuditWriter"]

log = logging.getLogger("mcpfleet.audit")


@dataclass(frozen=True, slots=True)
class AuditStats:
    """Counters since the logger started. ``written`` went straight to the store, ``spilled`` to
    the spill file, ``replayed`` from the spill file to the store (another process's spilled
    records included), ``failed`` could go nowhere (store down and spill file unwritable; logged).
    ``pruned`` were removed by retention; ``store_bytes`` is the store's size when last measured."""

    recorded: int
    written: int
    spilled: int
    replayed: int
    failed: int
    queue_depth: int
    spilling: bool
    pruned: int = 0
    store_bytes: int | None = None


class AuditWriter:
    """Moves sealed records from a bounded queue into ``store``, spilling to ``spill`` when needed."""

    def __init__(
        self,
        store: BaseAuditStore,
        spill: SpillFile,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        retry_max: float = 2.0,
        before_batch: Callable[[], None] | None = None,
        backlog: Callable[[], int] | None = None,
    ) -> None:
        self.store, self.spill = store, spill
        # The logger's records submitted but not sealed yet: ``backlog()`` counts them (they make a
        # batch as queued ones do) and ``before_batch()`` seals them into the queue (by put).
        self._before_batch, self._backlog = before_batch, backlog or (lambda: 0)
        self.queue_size, self.batch_size = queue_size, batch_size
        self.flush_interval, self.retry_max = flush_interval, retry_max
        self._backoff = Backoff(0.1, retry_max)  # between replays while the store is down
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._overflowed = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._queue: deque[AuditRecord] = deque()
        self._overflow: deque[AuditRecord] = deque()
        self._overflow_pending = 0  # in _overflow or being appended by the spiller
        self._inflight: list[AuditRecord] = []
        self._spilling = not spill.is_empty()  # records left by an earlier run go first
        self._replay_now = self._spilling
        self._closed = self._stopping = self._flush_now = False
        self._recorded = self._done = 0
        self._written = self._spilled = self._replayed = self._failed = 0
        self._threads = [
            threading.Thread(target=self._guard, args=(self._write_loop,), name="audit-writer", daemon=True),
            threading.Thread(target=self._guard, args=(self._spill_loop,), name="audit-spiller", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ callers' side

    def put(self, record: AuditRecord) -> None:
        """Queue ``record``; when the queue is full it goes to the spill file instead. Never waits."""
        with self._lock:
            if self._closed:
                raise AuditError("the audit logger is closed; create a new AuditLogger to record more")
            self._recorded += 1
            # While the spiller still holds records, later ones follow them: a record in the queue
            # must never be newer than one the spiller has not appended yet, or a replay could
            # store a chain out of order (the JSONL store would skip the older records as stale).
            if len(self._queue) < self.queue_size and not self._overflow_pending:
                self._queue.append(record)
                if len(self._queue) in (1, self.batch_size):  # a batch begins, or is full
                    self._work.notify()
            else:
                self._overflow.append(record)
                self._overflow_pending += 1
                self._spilling = True  # later batches must not overtake this record to the store
                self._overflowed.notify()

    @property
    def queue_depth(self) -> int:
        """Records accepted but not yet written or spilled."""
        return len(self._queue) + self._overflow_pending + len(self._inflight)

    def stats(self) -> AuditStats:
        with self._lock:
            return AuditStats(
                self._recorded, self._written, self._spilled, self._replayed, self._failed,
                self.queue_depth, self._spilling,
            )  # fmt: skip

    def flush(self, timeout: float) -> bool:
        """Wait until every record put so far is in the store; False if ``timeout`` ran out first
        (the store is down: the records are safe in the spill file, or still queued)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._recorded
            self._replay_now = self._spilling  # try at once; later tries follow the writer's backoff
            self._flush_now = True  # write what is queued without waiting for the batch to fill
            self._work.notify()
            while self._done < target or self._spilling:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, self.flush_interval))
            return True

    def close(self, timeout: float) -> bool:
        """Stop accepting, flush within ``timeout``, stop the threads. Whatever the store could not
        take by then is in the spill file for the next start. True if everything reached the store."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
        flushed = self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._work.notify_all()
            self._overflowed.notify_all()
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        if any(t.is_alive() for t in self._threads):
            # The store hangs: rescue everything not known to be stored. Spilling a batch twice
            # is harmless (replay and stores skip records they have).
            with self._lock:
                left = [*self._inflight, *self._queue, *self._overflow]
                self._queue.clear()
                self._overflow.clear()
            log.error("audit store %r did not answer in time; %d record(s) spilled", self.store, len(left))
            self._append_spill(left)
        else:
            self.store.close()
        return flushed

    def spill_late(self, records: Sequence[AuditRecord]) -> None:
        """Records that came after :meth:`close`: straight to the spill file (the next start
        replays them into the store)."""
        with self._lock:
            self._recorded += len(records)
        self._append_spill(records)

    # ------------------------------------------------------------------ writer thread

    def _guard(self, loop: Callable[[], None]) -> None:
        while True:
            try:
                loop()
                return
            except Exception:  # a bug here must not stop auditing; it is logged and the loop resumes
                log.exception("audit %s failed; restarting it", threading.current_thread().name)

    def _write_loop(self) -> None:
        backoff = self._backoff
        backoff.reset()  # a loop restarted after a bug tries at once
        while True:
            backlog = self._backlog
            with self._lock:
                if not self._queue and not backlog() and not self._stopping and not self._replay_now:
                    self._work.wait(self.flush_interval)
                # A batch gathers for up to flush_interval unless it fills: one write per batch,
                # not one per record, whatever the call rate.
                gather_until = time.monotonic() + self.flush_interval
                while 0 < len(self._queue) + backlog() < self.batch_size and not (
                    self._stopping or self._flush_now
                ):
                    remaining = gather_until - time.monotonic()
                    if remaining <= 0:
                        break
                    self._work.wait(remaining)
                self._flush_now = False
            if self._before_batch is not None:
                self._before_batch()  # seals what was submitted into the queue, in order
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                self._inflight = batch
                spilling, stopping = self._spilling, self._stopping
            if batch:
                self._handle(batch, spilling)
            if self._spilling and not stopping and (self._replay_now or backoff.due):
                self._replay_now = False
                if self._replay():
                    backoff.reset()
                else:
                    backoff.next()
            if stopping and not self._queue:
                return

    def _handle(self, batch: Sequence[AuditRecord], spilling: bool) -> None:
        if not spilling:
            try:
                self.store.write(batch)
            except Exception as exc:
                log.warning("audit store %r failed (%s); spilling to %s until it is back", self.store, exc,
                            self.spill.path)  # fmt: skip
                with self._lock:
                    self._spilling = True
            else:
                self._finish(batch, written=len(batch))
                return
        self._append_spill(batch)

    def _append_spill(self, batch: Sequence[AuditRecord]) -> None:
        try:
            self.spill.append(batch)
        except OSError as exc:
            log.error("audit: %d record(s) lost: the store is down and spill file %s failed: %s",
                      len(batch), self.spill.path, exc)  # fmt: skip
            self._finish(batch, failed=len(batch))
        else:
            self._finish(batch, spilled=len(batch))

    def _finish(
        self, batch: Sequence[AuditRecord], written: int = 0, spilled: int = 0, failed: int = 0
    ) -> None:
        with self._lock:
            self._written += written
            self._spilled += spilled
            self._failed += failed
            self._done += len(batch)
            if batch is self._inflight:
                self._inflight = []
            self._progress.notify_all()

    def _replay(self) -> bool:
        with self._lock:  # older queued records must reach the spill file before it is replayed
            queued = list(self._queue)
            self._queue.clear()
            self._inflight = queued
        if queued:
            self._append_spill(queued)
        try:
            replayed = self.spill.replay(self.store.write, chunk=max(self.batch_size, 2000))
        except Exception as exc:
            log.debug("audit replay failed: %s", exc)
            return False
        with self._lock:
            self._replayed += replayed
            if self._overflow_pending == 0 and self.spill.is_empty():
                self._spilling = False
                log.info("audit store %r is back; %d spilled record(s) replayed", self.store, replayed)
            self._progress.notify_all()
        return True

    # ------------------------------------------------------------------ spiller thread

    def _spill_loop(self) -> None:
        while True:
            with self._lock:
                while not self._overflow and not self._stopping:
                    self._overflowed.wait(self.flush_interval)
                if not self._overflow:
                    return
                batch = list(self._overflow)
                self._overflow.clear()
            self._append_spill(batch)
            with self._lock:
                self._overflow_pending -= len(batch)
                self._progress.notify_all()
