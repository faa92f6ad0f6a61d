"""``CallLatencies``: recent tool-call durations per server, for the autoscaler's p95.

    latencies = CallLatencies(size=1024)
    latencies.record("time", 0.004)                 # the manager does this for every tools/call
    mark = latencies.mark("time")                   # remember where a check window starts ...
    p95 = latencies.percentile("time", 95, since=mark)   # ... and read what came after it

Cheap by design, since it sits on the call path: each server keeps a bounded deque of its last
``size`` durations and a running count; recording is one append. A reader keeps the count it
last saw (its mark) and asks for the durations recorded since, so several readers never reset
each other's window. A window with more than ``size`` calls is judged on its newest ``size``.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["CallLatencies"]


class CallLatencies:
    """The last ``size`` call durations (seconds) of each server."""

    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._recent: dict[str, deque[float]] = {}
        self._count: dict[str, int] = {}

    def record(self, server: str, seconds: float) -> None:
        recent = self._recent.get(server)
        if recent is None:
            recent = self._recent[server] = deque(maxlen=self.size)
        recent.append(seconds)
        self._count[server] = self._count.get(server, 0) + 1

    def mark(self, server: str) -> int:
        """How many calls of ``server`` were ever recorded: pass it as ``since`` later."""
        return self._count.get(server, 0)

    def since(self, server: str, mark: int = 0) -> list[float]:
        """Durations recorded after ``mark`` (at most the newest ``size``), oldest first."""
        new = self._count.get(server, 0) - mark
        recent = self._recent.get(server)
        if new <= 0 or recent is None:
            return []
        take = min(new, len(recent))
        return list(recent)[-take:]

    def percentile(self, server: str, q: float, *, since: int = 0) -> float | None:
        """The ``q``-th percentile (nearest rank) of durations after ``since``; None if there were none."""
        if not 0 < q <= 100:
            raise ValueError(f"q must be in (0, 100], got {q}")
        values = sorted(self.since(server, since))
        if not values:
            return None
        return values[max(0, math.ceil(q / 100 * len(values)) - 1)]
