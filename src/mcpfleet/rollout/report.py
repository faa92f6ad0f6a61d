"""What a rolling update reports: per-instance outcomes, progress events, the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["InstanceReport", "Outcome", "Progress", "RolloutEvent", "RolloutResult", "tell"]


class Outcome(StrEnum):
    UPDATED = "updated"  # runs the new version
    FAILED = "failed"  # the new version failed here; the old instance kept running
    ROLLED_BACK = "rolled_back"  # was updated, then returned to the old version
    NOT_REACHED = "not_reached"  # the update stopped before it; still on the old version
    STUCK = "stuck"  # could not be rolled back: still on the new version


@dataclass(frozen=True)
class InstanceReport:
    """What happened to one instance. ``instance`` is the id it had; ``now`` the id that runs in
    its place; ``cut`` the calls still in flight when the drain timed out."""

    instance: str
    now: str | None
    outcome: Outcome
    version: str
    seconds: float
    reason: str | None = None
    cut: int = 0


@dataclass(frozen=True)
class RolloutEvent:
    """One step, for progress output: ``step`` is install, start, healthy, draining, updated,
    failed, rollback, rolled_back, stuck or committed."""

    server: str
    step: str
    message: str
    instance: str | None = None


@dataclass(frozen=True)
class RolloutResult:
    """A finished rolling update. ``version`` is what the server runs now (what the lock says)."""

    server: str
    from_version: str
    to_version: str
    ok: bool
    version: str
    instances: tuple[InstanceReport, ...]
    seconds: float
    install_seconds: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.server}: {self.from_version} -> {self.to_version} on {len(self.instances)} "
                f"instance(s) in {self.seconds:.1f}s (install {self.install_seconds:.1f}s)"
            )
        return f"{self.server}: update to {self.to_version} stopped; runs {self.version}: {self.reason}"


Progress = Callable[[RolloutEvent], None]


def tell(
    progress: Progress | None, server: str, step: str, message: str, instance: str | None = None
) -> None:
    if progress is not None:
        progress(RolloutEvent(server, step, message, instance))
