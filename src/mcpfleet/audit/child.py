"""The audit process (``python -m mcpfleet.audit.child``): an :class:`AuditLogger` fed by its
parent gateway over stdin, reporting on stdout (see :mod:`mcpfleet.audit.process`).

It ends when its parent asks (``close``) or goes away (its stdin ends): either way what it
holds is written, or spilled, first.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import IO, Any

from mcpfleet.audit.logger import AuditLogger
from mcpfleet.audit.process import STATE_EVERY, read_frame, write_frame
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.audit.stores.jsonl import JsonlAuditStore
from mcpfleet.audit.stores.postgres import PostgresAuditStore
from mcpfleet.audit.stores.sql import DEFAULT_TABLE
from mcpfleet.audit.stores.sqlite import SqliteAuditStore

WRITE_EVERY = 0.02  # seconds at most between the writer's batches
NICENESS = 10  # background work: the gateway and its servers come first when the CPU is short


def _store(kind: str, target: str, table: str | None) -> BaseAuditStore:
    """The store :func:`~mcpfleet.audit.process.store_spec` described."""
    if kind == "jsonl":
        return JsonlAuditStore(target)
    store = PostgresAuditStore if kind == "postgresql" else SqliteAuditStore
    return store(target, table=table or DEFAULT_TABLE)


class _Reporter:
    """Frames to the parent, from the reading loop and the state thread."""

    def __init__(self, out: IO[bytes], logger: AuditLogger) -> None:
        self.out, self.logger = out, logger
        self.lock = threading.Lock()
        self.last: Any = None
        self.stopped = threading.Event()

    def send(self, message: Any) -> None:
        with self.lock:
            self._write(message)

    def state(self) -> None:
        with self.lock:
            now = self.logger.stats
            if now != self.last:
                self._write(("state", now))
                self.last = now

    def _write(self, message: Any) -> None:
        if self.stopped.is_set():
            return
        try:
            write_frame(self.out, message)
        except (OSError, ValueError):  # the parent is gone: what was read is still stored
            self.stopped.set()

    def every(self) -> None:
        while not self.stopped.wait(STATE_EVERY):
            self.state()

    def answer(self, token: int, work: Any, *args: Any) -> None:
        try:
            value, ok = work(*args), True
        except Exception as exc:
            value, ok = str(exc), False
        self.state()  # what the answer implies is reported first
        self.send(("reply", token, ok, value))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this ends
    os.nice(NICENESS)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the frames' stream
    spec = read_frame(inp)
    if spec is None:
        return
    options = spec["options"]  # written every 20 ms at most: small writes, no bursts
    options["flush_interval"] = min(options["flush_interval"], WRITE_EVERY)
    logger = AuditLogger(
        store=_store(*spec["store"]), spill_file=spec["spill"], chain=spec["chain"], **options
    )
    reporter = _Reporter(out, logger)
    reporter.send(("hello", logger.chain))
    threading.Thread(target=reporter.every, name="audit-state", daemon=True).start()
    closing: tuple[int, float] | None = None
    while (message := read_frame(inp)) is not None:
        kind = message[0]
        if kind == "notes":
            logger.take(message[1])
        elif kind == "record":
            reporter.answer(message[1], logger.record_noted, message[2])
        elif kind == "flush":  # on a thread: notes keep coming meanwhile
            threading.Thread(target=reporter.answer, args=(message[1], logger.flush, message[2])).start()
        elif kind == "close":
            closing = (message[1], message[2])
            break
    flushed = logger.close(closing[1] if closing else 10.0)
    if closing is not None:
        reporter.state()
        reporter.send(("reply", closing[0], True, flushed))
    reporter.stopped.set()


if __name__ == "__main__":
    main()
