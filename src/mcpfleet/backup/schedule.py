"""Scheduled backups inside ``mcpfleet up``: ``backup: {every: 6h, keep_days: 30, dir: ...}``.

Every ``every`` the whole fleet is backed up and old backups pruned. The first backup comes as
soon as the newest one in the folder is ``every`` old (at once if there is none), so a fleet
restarted more often than ``every`` is still backed up. A failed backup is logged and counted;
the next one runs on time all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from mcpfleet.backup.manager import BackupManager, BackupRecord
from mcpfleet.clock import Clock, MonotonicClock

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager

__all__ = ["BackupScheduler"]

log = logging.getLogger("mcpfleet.backup")


class BackupScheduler:
    """Runs :meth:`BackupManager.create` then :meth:`BackupManager.prune` every ``every`` seconds.

    ``start()`` begins, ``await stop()`` ends it;
    a backup under way when ``stop()`` is called is cancelled, and leaves no partial archive.
    """

    def __init__(
        self, backups: BackupManager, manager: MCPManager, every: float, *, clock: Clock | None = None
    ) -> None:
        if every <= 0:
            raise ValueError(f"every must be more than 0 seconds, not {every}")
        self.backups = backups
        self.manager = manager
        self.every = every
        self.clock = clock or MonotonicClock()
        self.completed: list[BackupRecord] = []
        self.failures = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_fleet(cls, manager: MCPManager, *, clock: Clock | None = None) -> BackupScheduler | None:
        """The scheduler the fleet's ``backup:`` section asks for, or None without ``every``."""
        every = manager.config.backup.interval
        if every is None:
            return None
        return cls(BackupManager.for_fleet(manager.config, manager.home), manager, every, clock=clock)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name="mcpfleet-backups")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> BackupRecord | None:
        """One backup and prune now; errors are logged and counted, never raised."""
        try:
            record = await self.backups.create(self.manager)
            self.backups.prune()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one failed backup must not end the schedule
            self.failures += 1
            self.last_error = str(exc)
            log.error("scheduled backup failed (the next one runs in %g s): %s", self.every, exc)
            return None
        self.completed.append(record)
        log.info("scheduled backup done: %s", record)
        return record

    def first_delay(self) -> float:
        """Seconds until the first backup: what is left of ``every`` since the newest backup."""
        last = self.backups.last_backup
        if last is None:
            return 0.0
        age = (self.backups.now() - last.created).total_seconds()
        return min(self.every, max(0.0, self.every - age))

    async def _loop(self) -> None:
        delay = await asyncio.to_thread(self.first_delay)
        while True:
            await self.clock.sleep(delay)
            await self.run_once()
            delay = self.every
