"""``AuditLogger``: record every gateway call, cheaply, in a tamper-evident chain.

    audit = AuditLogger(log_file="/var/log/mcp/audit.log", include_params=True, mask_sensitive=True)

    @audit.log_operation
    async def execute_sensitive_operation(server, tool, params):
        return await manager.execute_tool(server, tool, params)

    logs = audit.query(server="filesystem", user="admin", start_time=datetime.now() - timedelta(hours=24))
    audit.close()

The gateway calls :meth:`AuditLogger.submit` once per tool call: it notes what happened (a
tuple on a deque, no lock). With ``writer="process"`` (what ``audit.writer`` gives the gateway)
the notes of a few loop turns go to a child process that does the rest
(:mod:`mcpfleet.audit.process`). In-process (the default here), at the end of the event loop's
turn what the turn noted is masked,
canonicalized and sealed into the chain, in submission order, and queued for the writer thread,
which stores batches (see :mod:`mcpfleet.audit.writer` and :mod:`mcpfleet.audit.sealing`).
Sealing on the writer thread instead cost more: both threads then ran Python, handing the GIL
back and forth (p99 at c=8 9 ms against 6; off an event loop, the writer still seals).
:meth:`AuditLogger.record` seals at once (and everything submitted before it first) and
returns the sealed record. Neither waits for the store.

Each logger starts its own hash chain, also on a file or database that already holds chains:
a chain is one writer's history, and nothing needs to be read at start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mcpfleet.audit.chain import VerifyResult, new_chain_id
from mcpfleet.audit.checkpoint import CheckpointKey
from mcpfleet.audit.masking import Masker
from mcpfleet.audit.operation import audited
from mcpfleet.audit.process import AuditChild, store_spec
from mcpfleet.audit.records import AuditQuery, AuditRecord
from mcpfleet.audit.retention import PruneResult, RetentionPolicy, prune
from mcpfleet.audit.sealing import Noted, Sealer
from mcpfleet.audit.spill import SpillFile
from mcpfleet.audit.stores.auto import open_store, spill_path
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.audit.stores.jsonl import JsonlAuditStore
from mcpfleet.audit.writer import AuditStats, AuditWriter
from mcpfleet.exceptions import AuditError
from mcpfleet.logs import request_id as current_request_id

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = ["AuditLogger"]

F = TypeVar("F", bound=Callable[..., Any])

HANDOFF_DELAY = 0.005  # seconds the notes of a loop's turns gather before the audit process gets them


class AuditLogger:
    """Records operations to an audit store, through a bounded queue and a background writer.

    Give it ``log_file`` (a JSON lines file) or a ``store`` (:class:`SqliteAuditStore`,
    :class:`PostgresAuditStore`, ...); :meth:`from_config` builds it from the fleet file.
    ``spill_file`` is where records wait while the store is down (default: beside the file
    or database; required for PostgreSQL). Close it (``close()``, ``await aclose()`` or a
    ``with`` block) to flush what is queued.
    """

    def __init__(
        self,
        log_file: str | Path | None = None,
        *,
        store: BaseAuditStore | None = None,
        include_params: bool = True,
        mask_sensitive: bool = True,
        mask_keys: Iterable[str] = (),
        mask_patterns: Iterable[str] = (),
        spill_file: str | Path | None = None,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        writer: Literal["thread", "process"] = "thread",
        chain: str | None = None,
    ) -> None:
        if (log_file is None) == (store is None):
            raise AuditError(
                "AuditLogger needs exactly one of log_file= (a JSON lines file) or store= "
                "(e.g. SqliteAuditStore('fleet.db') or PostgresAuditStore('postgresql://...'))"
            )
        for name, value in (("queue_size", queue_size), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AuditError(f"{name} must be a whole number of records, at least 1, not {value!r}")
        if not flush_interval > 0:
            raise AuditError(f"flush_interval must be a positive number of seconds, not {flush_interval!r}")
        if writer not in ("thread", "process"):
            raise AuditError(f"writer must be 'thread' or 'process', not {writer!r}")
        if store is None:
            store = JsonlAuditStore(log_file or "")
        self.store = store
        spill = Path(spill_file) if spill_file is not None else self.store.default_spill_file()
        if spill is None:
            raise AuditError(
                f"{self.store!r} needs spill_file=: a local file where records wait while the store is down"
            )
        self.include_params = include_params
        self.masker = Masker(mask_keys, mask_patterns, enabled=mask_sensitive)
        self._seal = threading.Lock()
        self._pending: deque[Noted] = deque()  # submitted, not sealed yet (appended without a lock)
        self._pending_limit = queue_size
        self._sealing_soon = False  # a loop callback will seal what is pending
        self._closed = False
        self._counts = threading.Lock()
        self._pruned = 0
        self._store_bytes: int | None = None  # measured by measure_store() and prune()
        self._child: AuditChild | None = None
        if writer == "process":
            options = {
                "include_params": include_params, "mask_sensitive": mask_sensitive,
                "mask_keys": list(mask_keys), "mask_patterns": list(mask_patterns),
                "queue_size": queue_size, "batch_size": batch_size, "flush_interval": flush_interval,
            }  # fmt: skip
            spec = {"store": store_spec(self.store), "spill": str(spill), "options": options}
            self._child = AuditChild(spec, spill, self.masker)
            return
        self._chain = chain or new_chain_id()
        self.store.begin_chain(self._chain)
        self._sealer = Sealer(self._chain, self.masker)
        self._writer = AuditWriter(
            self.store, SpillFile(spill), queue_size=queue_size, batch_size=batch_size,
            flush_interval=flush_interval, before_batch=self._drain, backlog=self._pending.__len__,
        )  # fmt: skip

    @property
    def chain(self) -> str:
        """The hash chain this logger writes (with ``writer="process"``: the audit process's,
        which is new each time that process starts)."""
        return self._chain if self._child is None else self._child.wait_started()

    @classmethod
    def from_config(cls, config: FleetConfig) -> AuditLogger:
        """The logger ``config.audit`` describes (store, masking, queue, spill file in the home)."""
        audit = config.audit
        return cls(
            store=open_store(config),
            include_params=audit.include_params,
            mask_sensitive=audit.mask_sensitive,
            mask_keys=audit.mask_keys,
            mask_patterns=audit.mask_patterns,
            spill_file=spill_path(config),
            queue_size=audit.queue_size,
            batch_size=audit.batch_size,
            flush_interval=audit.flush_interval,
            writer=audit.writer,
        )

    def record(
        self,
        *,
        server: str | None = None,
        tool: str | None = None,
        params: Any = None,
        outcome: str = "success",
        error: str | None = None,
        latency_ms: float | None = None,
        user: str | None = None,
        role: str | None = None,
        client: str | None = None,
        request_id: str | None = None,
    ) -> AuditRecord:
        """Record one operation; returns the sealed record. Cheap and never waits for the store:
        safe on the event loop's thread and from any other thread.

        ``params`` is masked (and dropped if ``include_params`` is off); ``request_id``
        defaults to the one of the request being served (:data:`mcpfleet.logs.request_id`).
        """
        noted = self._note(server, tool, params, outcome, error, latency_ms, user, role, client, request_id)
        if self._closed:
            raise AuditError("the audit logger is closed; create a new AuditLogger to record more")
        if self._child is not None:
            with self._seal:
                self._seal_pending()
            record: AuditRecord = self._child.call("record", noted, 10.0)
            return record
        return self.record_noted(noted)

    def record_noted(self, noted: Noted) -> AuditRecord:
        """Seal ``noted`` now, after what was submitted before it (:meth:`record` once checked)."""
        with self._seal:  # what was submitted before it goes first: the chain keeps the order of calls
            self._seal_pending()
            return self._sealer.seal(noted, self._writer.put)

    def take(self, notes: list[Noted]) -> None:
        """Checked notes (the audit process's, from its gateway), sealed now and queued for the
        writer: a few at a time as they come, not all of a batch at once, keeps the process's
        CPU use even (a 20 ms burst on a shared core delayed the gateway's calls by 3 ms)."""
        with self._seal:
            self._pending.extend(notes)
            self._seal_pending()

    def submit(
        self,
        *,
        server: str | None = None,
        tool: str | None = None,
        params: Any = None,
        outcome: str = "success",
        error: str | None = None,
        latency_ms: float | None = None,
        user: str | None = None,
        role: str | None = None,
        client: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """:meth:`record` for the hot path: the same checks and the same record, but masking,
        canonical JSON and the chain link happen on the writer thread, in submission order
        (:meth:`flush`, :meth:`query`, :meth:`verify` and :meth:`close` include what waits).
        Takes no lock. ``params`` must not change after the call (the gateway never changes
        a call's arguments once it has answered)."""
        noted = self._note(server, tool, params, outcome, error, latency_ms, user, role, client, request_id)
        if self._closed:
            raise AuditError("the audit logger is closed; create a new AuditLogger to record more")
        pending = self._pending
        pending.append(noted)
        if len(pending) >= self._pending_limit:  # the writer is behind: seal here, so the queue
            with self._seal:  # bound (and the spill file past it) applies as with record()
                self._seal_pending()
        elif not self._sealing_soon:
            try:  # on an event loop: what this turn submits is sealed at its end, on this thread
                loop = asyncio.get_running_loop()
                if self._child is None:
                    loop.call_soon(self._seal_turn)
                else:  # one frame (and one wake-up of the audit process) for a few turns' notes
                    loop.call_later(HANDOFF_DELAY, self._seal_turn)
            except RuntimeError:  # no loop: the writer thread seals it, or the audit process has it now
                if self._child is not None:
                    with self._seal:
                        self._seal_pending()
                return
            self._sealing_soon = True

    def _seal_turn(self) -> None:
        self._sealing_soon = False
        if self._pending:
            with self._seal:
                self._seal_pending()

    def _note(
        self,
        server: str | None,
        tool: str | None,
        params: Any,
        outcome: str,
        error: str | None,
        latency_ms: float | None,
        user: str | None,
        role: str | None,
        client: str | None,
        request_id: str | None,
    ) -> Noted:
        if not isinstance(outcome, str) or not outcome:
            raise AuditError(f"audit outcome must be a non-empty string such as 'success', not {outcome!r}")
        if latency_ms is not None and not (isinstance(latency_ms, int | float) and math.isfinite(latency_ms)):
            raise AuditError(
                f"audit latency_ms must be a number of milliseconds (finite), not {latency_ms!r}"
            )
        if request_id is None:
            request_id = current_request_id.get()
        for name, value in (
            ("server", server), ("tool", tool), ("user", user), ("role", role), ("client", client),
            ("request_id", request_id),
        ):  # fmt: skip
            if value is not None and not isinstance(value, str):
                raise AuditError(f"audit {name} must be a string or None, not {type(value).__name__}")
        if not self.include_params:
            params = None
        return (time.time(), server, tool, params, outcome, error, latency_ms, user, role, client, request_id)

    def _seal_pending(self) -> None:
        """Seal what was submitted, in order (the caller holds ``_seal``); with an audit process,
        hand it over instead."""
        if self._child is not None:
            if self._pending:
                notes = list(self._pending)
                self._pending.clear()
                self._child.send(notes)
            return
        pending, seal, put = self._pending, self._sealer.seal, self._writer.put
        while pending:
            seal(pending.popleft(), put)

    def _drain(self) -> None:
        """The writer thread's turn: seal what was submitted, before it takes a batch."""
        if self._pending:
            with self._seal:
                self._seal_pending()

    def log_operation(self, func: F) -> F:
        """Decorator: record each call of ``func`` (sync or async) with its arguments (masked),
        outcome (``success``, or ``error`` and the exception) and latency. Arguments named
        ``server``, ``tool``, ``user``, ``role``, ``client`` or ``request_id`` fill those fields
        (``tool`` defaults to the function's name); exceptions pass through unchanged."""
        return audited(self, func)

    def query(
        self,
        *,
        server: str | None = None,
        user: str | None = None,
        tool: str | None = None,
        outcome: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int | None = 1000,
    ) -> list[AuditRecord]:
        """Stored records matching every given filter, newest first, at most ``limit`` (None: all).

        ``start_time`` is inclusive, ``end_time`` exclusive; naive datetimes are local time.
        Records still queued are flushed first (waiting at most 5 s).
        """
        wanted = AuditQuery(server, user, tool, outcome, start_time, end_time, limit)
        if self._pending or self.queue_depth or self.stats.spilling:
            self.flush(timeout=5.0)
        return self.store.query(wanted)

    def verify(self, key: CheckpointKey | None = None) -> VerifyResult:
        """Check every chain in the store (records still queued are flushed first); a pruned
        store needs the ``key`` that signed its checkpoints."""
        self.flush(timeout=5.0)
        return self.store.verify(key)

    def prune(
        self,
        policy: RetentionPolicy,
        key: CheckpointKey | None,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        vacuum: bool = False,
        stop: threading.Event | None = None,
    ) -> PruneResult:
        """Remove what ``policy`` no longer keeps, leaving checkpoints signed with ``key``
        (:func:`mcpfleet.audit.retention.prune`). Blocks: call it from a thread, not the event loop."""
        result = prune(self.store, policy, key, now=now, dry_run=dry_run, vacuum=vacuum, stop=stop)
        if not dry_run:
            with self._counts:
                self._pruned += result.pruned
                self._store_bytes = result.bytes_after
        return result

    def measure_store(self) -> int:
        """The store's size now (see :meth:`BaseAuditStore.size_bytes`), kept for :attr:`stats`.
        Blocks (PostgreSQL: a query)."""
        size = self.store.size_bytes()
        with self._counts:
            self._store_bytes = size
        return size

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far is in the store; False if ``timeout`` ran out
        (the store is down; the records are safe in the spill file and will be replayed)."""
        self._drain()
        if self._child is not None:
            return bool(self._child.call("flush", timeout, timeout + 5.0))
        return self._writer.flush(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop recording, flush for at most ``timeout`` seconds, stop the writer. Records the store
        could not take stay in the spill file for the next start. True if all reached the store."""
        self._closed = True  # submit() refuses from now on; what it took is sealed below
        self._drain()
        if self._child is not None:
            flushed = self._child.close(timeout)
            self.store.close()  # this side only read it
            return flushed
        flushed = self._writer.close(timeout)
        with self._seal:  # submitted while closing (another thread): to the spill file, not lost
            late = [self._sealer.seal(self._pending.popleft(), None) for _ in range(len(self._pending))]
        if late:
            self._writer.spill_late(late)
            flushed = False
        return flushed

    async def aclose(self, timeout: float = 10.0) -> bool:
        """:meth:`close` without blocking the event loop."""
        return await asyncio.to_thread(self.close, timeout)

    @property
    def queue_depth(self) -> int:
        """Records recorded but not yet written or spilled (a gauge for /metrics)."""
        writer = self._writer.queue_depth if self._child is None else self._child.stats().queue_depth
        return len(self._pending) + writer

    @property
    def stats(self) -> AuditStats:
        """Counters: recorded, written, spilled, replayed, failed, pruned; queue depth; whether
        spilling; the store's size when last measured."""
        with self._counts:
            pruned, size = self._pruned, self._store_bytes
        waiting = len(self._pending)
        stats = self._writer.stats() if self._child is None else self._child.stats()
        return dataclasses.replace(
            stats, recorded=stats.recorded + waiting, queue_depth=stats.queue_depth + waiting,
            pruned=pruned, store_bytes=size,
        )  # fmt: skip

    def __enter__(self) -> AuditLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AuditLogger:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        if self._child is not None:
            chain = self._child.chain or "(starts with the first record)"
            return f"AuditLogger({self.store!r}, writer='process', chain={chain!r})"
        return f"AuditLogger({self.store!r}, chain={self._chain!r})"
