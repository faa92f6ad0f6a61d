"""The charts' ring: what one sample holds, the recent figures, thinning, and the window's bound."""

from __future__ import annotations

import pytest

from mcpfleet.latency import CallLatencies
from mcpfleet.metrics import MetricsCollector
from mcpfleet.ui.samples import Samples, error_totals, percentile

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_sample_holds_the_interval_rate_latency_and_errors() -> None:
    latencies, clock, errors = CallLatencies(), Clock(), {"time": 0.0}
    samples = Samples(latencies, servers=lambda: ["time", "idle"], errors=lambda: dict(errors), now=clock)
    for ms in (10, 20, 30, 40):
        latencies.record("time", ms / 1000)
    errors["time"] = 1.0
    clock.now += 2.0
    samples.take()
    first = samples.series("time")[0]
    assert (first.calls, first.errors, first.rate) == (4, 1, 2.0)
    assert first.p50_ms == pytest.approx(20) and first.p95_ms == pytest.approx(40)
    assert first.error_rate == 0.25
    assert samples.series("idle")[0].rate == 0 and samples.series("idle")[0].p95_ms is None
    clock.now += 2.0
    samples.take()  # nothing new: the next sample counts only what came after the last
    assert samples.series("time")[1].calls == 0 and samples.series("time")[1].errors == 0


def test_recent_figures_cover_the_last_seconds_only() -> None:
    latencies, clock = CallLatencies(), Clock()
    samples = Samples(latencies, servers=lambda: ["s"], now=clock)
    for _ in range(10):
        latencies.record("s", 0.5)
    clock.now += 2
    samples.take()
    for _ in range(8):
        clock.now += 2
        samples.take()
    latencies.record("s", 0.002)
    clock.now += 2
    samples.take()
    recent = samples.recent("s", seconds=4)
    assert recent["p95_ms"] == pytest.approx(2) and recent["rate"] == pytest.approx(1 / 4)


def test_the_ring_keeps_the_window_and_the_chart_is_thinned() -> None:
    latencies, clock = CallLatencies(), Clock()
    samples = Samples(latencies, servers=lambda: ["s"], interval=2.0, window=60.0, now=clock)
    for i in range(100):
        latencies.record("s", 0.001 * (i + 1))
        clock.now += 2
        samples.take()
    assert len(samples.series("s")) == 30  # 60 s of 2 s samples
    chart = samples.chart("s", points=10)
    assert len(chart["rate"]) == 10 and chart["rate"][0][1] == 0.5
    assert chart["latency"][-1][1] == pytest.approx(100.0)  # the bucket's highest p95


def test_error_totals_add_every_kind_of_error_by_server() -> None:
    metrics = MetricsCollector()
    metrics.track_request("a", "t", 0.1, success=False, error_type="timeout")
    metrics.track_request("a", "t", 0.1, success=False)
    metrics.track_request("b", "t", 0.1, success=True)
    assert error_totals(metrics) == {"a": 2.0}
    assert percentile([], 50) is None and percentile([3, 1, 2], 50) == 2
