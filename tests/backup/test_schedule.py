"""Scheduled backups: the interval from the fleet file, and a scheduler that survives a failed backup."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from backup_helpers import write_fleet
from mcpfleet.backup import BackupScheduler
from mcpfleet.config import parse_config
from mcpfleet.exceptions import ConfigError
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


class StepClock:
    """Sleeps end when the test says so; ``sleeping()`` waits until the scheduler sleeps again."""

    def __init__(self) -> None:
        self.ticks: asyncio.Queue[None] = asyncio.Queue()
        self.asleep = asyncio.Event()
        self.delays: list[float] = []

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.asleep.set()
        await self.ticks.get()

    async def sleeping(self) -> None:
        await asyncio.wait_for(self.asleep.wait(), 10)
        self.asleep.clear()


async def test_scheduler_keeps_running_after_a_failed_backup(tmp_path: Path) -> None:
    config = write_fleet(tmp_path, "backup: {every: 6h, keep_days: 30, dir: backups}\nservers: {}\n")
    manager = MCPManager(config)
    clock = StepClock()
    scheduler = BackupScheduler.for_fleet(manager, clock=clock)
    assert scheduler is not None and scheduler.every == 6 * 3600
    assert scheduler.backups.backup_dir == manager.home.root / "backups"
    manager.home.root.mkdir(parents=True)
    (manager.home.root / "backups").write_text("a file where the folder should be")
    scheduler.start()
    try:
        await clock.sleeping()
        clock.ticks.put_nowait(None)
        await clock.sleeping()
        assert scheduler.failures == 1 and scheduler.running and "backups" in (scheduler.last_error or "")
        (manager.home.root / "backups").unlink()
        clock.ticks.put_nowait(None)
        await clock.sleeping()
        assert len(scheduler.completed) == 1 and scheduler.running
        assert scheduler.backups.last_backup == scheduler.completed[0]
        assert clock.delays == [0.0, 6 * 3600, 6 * 3600]  # at once (no backup yet), then every 6h
    finally:
        await scheduler.stop()
    # A restarted fleet waits only for what is left of the interval since its newest backup.
    made = scheduler.completed[0].created
    scheduler.backups.now = lambda: made + timedelta(hours=4)
    assert scheduler.first_delay() == 2 * 3600
    assert not scheduler.running
    assert not list((manager.home.root / "backups").glob(".*partial*"))
    assert BackupScheduler.for_fleet(MCPManager(write_fleet(tmp_path, "servers: {}\n"))) is None


@pytest.mark.parametrize(
    ("every", "seconds"), [("30m", 1800), ("6h", 21600), ("1d", 86400), ("90s", 90), ("1.5h", 5400)]
)
def test_backup_config_durations(every: str, seconds: float) -> None:
    assert parse_config(f"backup: {{every: {every}}}").backup.interval == seconds


@pytest.mark.parametrize("every", ["6 hours", "0h", "-1h", "h", "6"])
def test_bad_durations_say_how_to_write_one(every: str) -> None:
    with pytest.raises(ConfigError, match="30m, 6h, 1d") as caught:
        parse_config(f"backup: {{every: '{every}'}}")
    assert "backup.every (line 1)" in str(caught.value)
    with pytest.raises(ConfigError, match=r"backup\.keep \(line 1\).*remove it"):
        parse_config("backup: {keep: 3}")
