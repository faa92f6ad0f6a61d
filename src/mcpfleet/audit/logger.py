"""``AuditLogger``: record every gateway call, cheaply, in a tamper-evident chain.

    audit = AuditLogger(log_file="/var/log/mcp/audit.log", include_params=True, mask_sensitive=True)

    @audit.log_operation
    async def execute_sensitive_operation(server, tool, params):
        return await manager.execute_tool(server, tool, params)

    logs = audit.query(server="filesystem", user="admin", start_time=datetime.now() - timedelta(hours=24))
    audit.close()

The gateway calls :meth:`AuditLogger.record` once per tool call; it masks and seals the record
and queues it for a background thread (see :mod:`mcpfleet.audit.writer`), so it never waits
for the store. Each logger starts its own hash chain, also on a file or database that already
holds chains: a chain is one writer's history, and nothing needs to be read at start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from mcpfleet.audit.chain import VerifyResult, link, new_chain_id
from mcpfleet.audit.checkpoint import CheckpointKey
from mcpfleet.audit.masking import Masker, clean_text
from mcpfleet.audit.operation import audited
from mcpfleet.audit.records import GENESIS, AuditQuery, AuditRecord, canonical
from mcpfleet.audit.retention import PruneResult, RetentionPolicy, prune
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
_TEXT_LIMITS = {"server": 255, "tool": 255, "user": 255, "role": 255, "client": 255, "request_id": 255}


def _text(name: str, value: object, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise AuditError(f"audit {name} must be a string or None, not {type(value).__name__}")
    return clean_text(value)[:limit]


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
        self.chain = new_chain_id()
        self._id_prefix, self._ids = os.urandom(8).hex(), itertools.count()
        self.store.begin_chain(self.chain)
        self._seq = 0
        self._prev_hash = GENESIS
        self._seal = threading.Lock()
        self._counts = threading.Lock()
        self._pruned = 0
        self._store_bytes: int | None = None  # measured by measure_store() and prune()
        self._writer = AuditWriter(
            self.store, SpillFile(spill), queue_size=queue_size, batch_size=batch_size,
            flush_interval=flush_interval,
        )  # fmt: skip

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
        if not isinstance(outcome, str) or not outcome:
            raise AuditError(f"audit outcome must be a non-empty string such as 'success', not {outcome!r}")
        if latency_ms is not None and not isinstance(latency_ms, int | float):
            raise AuditError(f"audit latency_ms must be a number of milliseconds, not {latency_ms!r}")
        fields: dict[str, Any] = {
            name: _text(name, value, _TEXT_LIMITS[name])
            for name, value in (
                ("server", server), ("tool", tool), ("user", user), ("role", role), ("client", client),
                ("request_id", request_id if request_id is not None else current_request_id.get()),
            )
        }  # fmt: skip
        fields.update(
            id=f"{self._id_prefix}{next(self._ids):016x}",  # 64 random bits per logger + a counter
            time=datetime.now(UTC),
            params=self.masker.mask(params) if self.include_params and params is not None else None,
            outcome=clean_text(outcome)[:32],
            error=None if error is None else self.masker.mask_text(str(error))[:2000],
            latency_ms=None if latency_ms is None else round(float(latency_ms), 3),
        )
        content = canonical({**fields, "time": fields["time"].isoformat(timespec="microseconds")})
        with self._seal:  # numbering and queueing together: the queue holds the chain in order
            digest = link(self._prev_hash, self.chain, self._seq, content)
            record = AuditRecord(
                chain=self.chain, seq=self._seq, prev_hash=self._prev_hash, hash=digest, **fields
            )
            self._writer.put(record)
            self._seq += 1
            self._prev_hash = digest
        return record

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
        if self._writer.queue_depth or self._writer.stats().spilling:
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
        return self._writer.flush(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop recording, flush for at most ``timeout`` seconds, stop the writer. Records the store
        could not take stay in the spill file for the next start. True if all reached the store."""
        return self._writer.close(timeout)

    async def aclose(self, timeout: float = 10.0) -> bool:
        """:meth:`close` without blocking the event loop."""
        return await asyncio.to_thread(self.close, timeout)

    @property
    def queue_depth(self) -> int:
        """Records recorded but not yet written or spilled (a gauge for /metrics)."""
        return self._writer.queue_depth

    @property
    def stats(self) -> AuditStats:
        """Counters: recorded, written, spilled, replayed, failed, pruned; queue depth; whether
        spilling; the store's size when last measured."""
        with self._counts:
            pruned, size = self._pruned, self._store_bytes
        return dataclasses.replace(self._writer.stats(), pruned=pruned, store_bytes=size)

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
        return f"AuditLogger({self.store!r}, chain={self.chain!r})"
