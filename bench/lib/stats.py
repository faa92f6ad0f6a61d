"""Percentiles and the latency summaries the bench scripts print."""

from __future__ import annotations

import statistics


def percentile(samples: list[float], q: float) -> float:
    """The sample at rank ``q`` (0..1) of the sorted samples (nearest rank, rounded down)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms_summary(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and mean, in milliseconds, of latencies given in seconds."""
    return {
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3),
    }


def us_summary(spent: list[float]) -> dict[str, float]:
    """p50 and p99 (``statistics.quantiles``) of timings given in microseconds, and their count."""
    cuts = statistics.quantiles(spent, n=100)
    return {"p50_us": round(cuts[49], 2), "p99_us": round(cuts[98], 2), "calls": len(spent)}
