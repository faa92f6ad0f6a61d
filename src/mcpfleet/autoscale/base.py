"""``BaseScaler``: where a server's instances run, seen and changed the same way everywhere."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["BaseScaler", "Usage"]


@dataclass(frozen=True)
class Usage:
    """What a backend sees of one server: its instance count and their resource use.

    ``None`` where it cannot tell (no metrics server, no live process).
    """

    instances: int  # instances it runs, or is asked to run (a Deployment's spec.replicas)
    ready: int  # of those, how many take calls
    cpu_percent: float | None = None  # mean per ready instance: percent of one core (or of its request)
    memory_bytes: float | None = None  # mean per ready instance
    memory_budget: float | None = None  # bytes one instance may use (its request), if known


class BaseScaler(ABC):
    """Reads and sets the instance count of servers: local processes or Kubernetes Deployments."""

    @abstractmethod
    def servers(self) -> list[str]:
        """The servers this backend can scale now."""

    @abstractmethod
    async def observe(self, server: str) -> Usage:
        """Instance count and resource use of ``server``."""

    @abstractmethod
    async def scale(self, server: str, count: int, *, drain_timeout: float) -> int:
        """Run ``count`` instances of ``server`` without cutting a call; returns the count it runs now.

        A removed instance first takes no new calls and finishes those in flight (within
        ``drain_timeout`` seconds where the backend controls it).
        """
