"""Scheduled pruning inside ``mcpfleet up``: ``audit: {retention_days: 90, prune_every: 1h}``.

Every ``prune_every`` the audit store is pruned, and every minute its size is measured for
/metrics (``mcp_audit_store_bytes``); both run in a thread, so the event loop never waits
for the store. The first prune runs at start. A failed prune is logged and counted; the next
one runs on time all the same. ``stop()`` asks a prune under way to stop after its current
batch (what it leaves behind its checkpoints, the next prune deletes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mcpfleet.audit.checkpoint import CheckpointKey, load_key
from mcpfleet.audit.retention import PruneResult, RetentionPolicy
from mcpfleet.clock import Clock, MonotonicClock

if TYPE_CHECKING:
    from mcpfleet.audit.logger import AuditLogger
    from mcpfleet.manager import MCPManager

__all__ = ["AuditPruner"]

log = logging.getLogger("mcpfleet.audit")


class AuditPruner:
    """Prunes ``audit``'s store by ``policy`` every ``every`` seconds (None: never, only measures),
    and measures it every ``measure_every`` seconds. ``start()`` begins, ``await stop()`` ends."""

    def __init__(
        self,
        audit: AuditLogger,
        policy: RetentionPolicy,
        key: Callable[[], CheckpointKey | None],
        *,
        every: float | None,
        measure_every: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        if every is not None and every <= 0:
            raise ValueError(f"every must be more than 0 seconds, not {every}")
        self.audit = audit
        self.policy = policy
        self.key = key
        self.every = every if policy.active else None
        self.measure_every = measure_every
        self.clock = clock or MonotonicClock()
        self.completed: list[PruneResult] = []
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_fleet(
        cls, manager: MCPManager, audit: AuditLogger | None, *, clock: Clock | None = None
    ) -> AuditPruner | None:
        """The pruner the fleet's ``audit:`` section asks for; None when there is no audit log."""
        if audit is None:
            return None
        config = manager.config
        return cls(
            audit,
            RetentionPolicy.from_config(config.audit),
            lambda: load_key(config, manager.environ, create=True),
            every=config.audit.prune_interval,
            clock=clock,
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="mcpfleet-audit-retention")

    async def stop(self) -> None:
        self._stop.set()  # a prune thread under way ends after its current batch
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> PruneResult | None:
        """One prune now; errors are logged and counted, never raised."""
        try:
            result = await asyncio.to_thread(self._prune)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one failed prune must not end the schedule
            self.failures += 1
            self.last_error = str(exc)
            log.error("scheduled audit prune failed (the next one runs in %g s): %s", self.every or 0, exc)
            return None
        self.completed.append(result)
        if result.pruned or result.refused:
            log.info("audit retention: %s", result.describe())
        return result

    def _prune(self) -> PruneResult:
        return self.audit.prune(self.policy, self.key(), stop=self._stop)

    async def _measure(self) -> None:
        try:
            await asyncio.to_thread(self.audit.measure_store)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store may be down; /metrics keeps the last size
            log.debug("could not measure the audit store: %s", exc)

    async def _loop(self) -> None:
        next_prune = self.clock.monotonic() if self.every is not None else None
        while True:
            if next_prune is not None and self.every is not None and self.clock.monotonic() >= next_prune:
                await self.run_once()
                next_prune = self.clock.monotonic() + self.every
            else:
                await self._measure()
            wait = self.measure_every
            if next_prune is not None:
                wait = min(wait, max(0.0, next_prune - self.clock.monotonic()))
            await self.clock.sleep(wait)
