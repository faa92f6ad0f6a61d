"""Operator actions that take more than one manager call, shared by the admin API and the dashboard.

left = await set_maintenance(manager, "time", True, drain_timeout=30)   # drains first
rollouts = Rollouts(manager)
task = rollouts.start("time", UpdateRequest(version="2.0"), progress=events.append)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager
    from mcpfleet.rollout import Progress, RolloutResult, UpdateRequest

__all__ = ["Rollouts", "set_maintenance"]


async def set_maintenance(
    manager: MCPManager, server: str, enabled: bool, drain_timeout: float = 30.0
) -> int:
    """Enter maintenance after draining (up to ``drain_timeout``), or leave it after a health check;
    returns how many calls were still in flight when draining stopped waiting."""
    left = await manager.drain_connections(server, timeout=drain_timeout) if enabled else 0
    await manager.set_maintenance_mode(server, enabled)
    return left


class Rollouts:
    """Rolling updates run apart from the request that asked for them: a client gone stops nothing."""

    def __init__(self, manager: MCPManager) -> None:
        self.manager = manager
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(
        self, server: str, asked: UpdateRequest, progress: Progress | None = None
    ) -> asyncio.Task[RolloutResult]:
        task = asyncio.create_task(
            self.manager.rolling_update(
                server,
                asked.target,
                health_timeout=asked.health_timeout,
                drain_timeout=asked.drain_timeout,
                smoke=asked.smoke_call,
                progress=progress,
            ),
            name=f"mcpfleet-rollout-{server}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
