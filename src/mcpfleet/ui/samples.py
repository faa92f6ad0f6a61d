"""The last 15 minutes of each server's call rate, latency and errors, for the dashboard's charts.

    samples = Samples(manager.latencies, errors=lambda: error_totals(metrics))
    samples.start()          # one sample of every server every ``interval`` seconds, in the background
    samples.series("time")   # oldest first: Sample(at, rate, p50_ms, p95_ms, error_rate)
    await samples.stop()

A small ring in the gateway's memory: ``window / interval`` samples per server (450 by default),
read from what the gateway counts anyway (the manager's recent call durations, the metrics'
error counters), so sampling costs the call path nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcpfleet.latency import CallLatencies
    from mcpfleet.metrics import MetricsCollector

__all__ = ["Sample", "Samples", "error_totals", "percentile"]

log = logging.getLogger("mcpfleet.ui")


@dataclass(frozen=True)
class Sample:
    """One server over one interval: calls per second, latency percentiles (ms) and the share of
    calls that failed (0 to 1); ``calls`` and ``errors`` are the interval's counts."""

    at: float  # wall-clock seconds at the interval's end
    calls: int
    errors: int
    rate: float
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def error_totals(metrics: MetricsCollector) -> dict[str, float]:
    """Failed tool calls ever counted, by server (every kind of error, refusals included)."""
    totals: dict[str, float] = {}
    for family in metrics.errors.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                server = sample.labels.get("server", "")
                totals[server] = totals.get(server, 0.0) + sample.value
    return totals


class Samples:
    """A ring of :class:`Sample` per server, fed by :meth:`take` (every ``interval`` once started)."""

    def __init__(
        self,
        latencies: CallLatencies,
        *,
        servers: Callable[[], Iterable[str]],
        errors: Callable[[], dict[str, float]] = dict,
        interval: float = 2.0,
        window: float = 900.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.latencies = latencies
        self.servers = servers
        self.errors = errors
        self.interval = interval
        self.size = max(1, int(window / interval))
        self._now = now
        self._rings: dict[str, deque[Sample]] = {}
        # Where the first sample starts: what was counted before now is not this window's.
        self._marks: dict[str, int] = {name: latencies.mark(name) for name in servers()}
        self._errors: dict[str, float] = dict(errors())
        self._last = now()
        self._task: asyncio.Task[None] | None = None

    def take(self) -> None:
        """Sample every server: what happened since the last sample."""
        at = self._now()
        elapsed = max(at - self._last, 1e-6)
        self._last = at
        errors = self.errors()
        for server in self.servers():
            mark = self.latencies.mark(server)
            durations = self.latencies.since(server, self._marks.get(server, mark))
            calls = mark - self._marks.get(server, mark)
            self._marks[server] = mark
            failed = int(errors.get(server, 0.0) - self._errors.get(server, 0.0))
            self._errors[server] = errors.get(server, 0.0)
            p50, p95 = percentile(durations, 50), percentile(durations, 95)
            ring = self._rings.get(server)
            if ring is None:
                ring = self._rings[server] = deque(maxlen=self.size)
            ring.append(
                Sample(
                    at=at,
                    calls=calls,
                    errors=failed,
                    rate=calls / elapsed,
                    p50_ms=None if p50 is None else p50 * 1000,
                    p95_ms=None if p95 is None else p95 * 1000,
                    error_rate=failed / max(calls, failed) if failed else 0.0,
                )
            )

    def series(self, server: str) -> list[Sample]:
        return list(self._rings.get(server, ()))

    def recent(self, server: str, seconds: float = 10.0) -> dict[str, float | None]:
        """Rate, error rate and latency over the last ``seconds``, for the overview's figures."""
        cutoff = self._now() - seconds + self.interval / 2
        window = [s for s in self._rings.get(server, ()) if s.at >= cutoff]
        calls = sum(s.calls for s in window)
        errors = sum(s.errors for s in window)
        span = max(len(window) * self.interval, self.interval)
        durations = self.latencies.since(server, self.latencies.mark(server) - calls)
        p50, p95 = percentile(durations, 50), percentile(durations, 95)
        return {
            "rate": calls / span,
            "error_rate": errors / max(calls, errors) if errors else 0.0,
            "p50_ms": None if p50 is None else p50 * 1000,
            "p95_ms": None if p95 is None else p95 * 1000,
        }

    def chart(self, server: str, points: int = 90) -> dict[str, list[list[float | None]]]:
        """The series thinned to at most ``points`` buckets: ``[at, rate]`` and ``[at, p95_ms]``
        pairs (a bucket's highest rate and p95, so a spike stays visible)."""
        series = self.series(server)
        step = max(1, math.ceil(len(series) / points))
        rate: list[list[float | None]] = []
        latency: list[list[float | None]] = []
        for i in range(0, len(series), step):
            bucket = series[i : i + step]
            at = round(bucket[-1].at, 1)
            rate.append([at, round(max(s.rate for s in bucket), 3)])
            p95 = [s.p95_ms for s in bucket if s.p95_ms is not None]
            latency.append([at, round(max(p95), 2) if p95 else None])
        return {"rate": rate, "latency": latency}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mcpfleet-ui-samples")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.take()
            except Exception:  # a sampling hiccup must never stop the gateway
                log.exception("could not sample the fleet for the dashboard")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
