"""The auto-scaling loop on a fake backend: decisions applied, hooks called, logged, exported as metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from helpers import FakeClock
from mcpfleet.autoscale import AutoScaler, BaseScaler, LocalScaler, Usage
from mcpfleet.config import FleetConfig, parse_config
from mcpfleet.exceptions import ConfigError, ScalingError
from mcpfleet.manager import MCPManager
from mcpfleet.metrics import MetricsCollector

pytestmark = pytest.mark.timeout(60)


def test_autoscaler_from_the_fleet_file(tmp_path: Path) -> None:
    config = parse_config(
        f"""
home: {tmp_path}
servers:
  work: {{package: {{type: command, command: python}}}}
autoscale: {{enabled: true, interval: 2, max_instances: 6, servers: {{work: {{target_p95_ms: 250}}}}}}
"""
    )
    autoscaler = AutoScaler.from_config(MCPManager(config))
    assert isinstance(autoscaler.scaler, LocalScaler) and autoscaler.interval == 2
    assert autoscaler.policy("work").target_p95_ms == 250 and autoscaler.policy("work").max_instances == 6
    assert autoscaler.policy("other").target_p95_ms is None


def test_bad_autoscaler_arguments_are_a_config_error(tmp_path: Path) -> None:
    manager = MCPManager(FleetConfig(home=str(tmp_path)))
    with pytest.raises(ConfigError, match="min_instances"):
        AutoScaler(manager, min_instances=5, max_instances=2)


class FakeScaler(BaseScaler):
    """Instance counts in a dict: what a backend would report and do, with no processes."""

    def __init__(self, **counts: int) -> None:
        self.counts = counts
        self.cpu = dict.fromkeys(counts, 10.0)
        self.refuse = False
        self.scaled: list[tuple[str, int]] = []

    def servers(self) -> list[str]:
        return list(self.counts)

    async def observe(self, server: str) -> Usage:
        n = self.counts[server]
        return Usage(n, n, cpu_percent=self.cpu[server])

    async def scale(self, server: str, count: int, *, drain_timeout: float) -> int:
        if self.refuse:
            raise ScalingError("the backend refused")
        self.scaled.append((server, count))
        self.counts[server] = count
        return count


async def test_autoscaler_applies_decisions_calls_hooks_logs_and_exports_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    scaler = FakeScaler(api=2, db=2)
    manager = MCPManager(FleetConfig(home=str(tmp_path)))
    autoscaler = AutoScaler(
        manager=manager, min_instances=2, max_instances=10, target_cpu=70, target_memory=80,
        scale_up_threshold=3, scale_down_threshold=5, scaler=scaler, clock=clock,
        overrides={"db": {"max_instances": 3}},
    )  # fmt: skip
    ups: list[tuple[str, int]] = []
    downs: list[tuple[str, int]] = []

    async def on_down(server: str, n: int) -> None:
        downs.append((server, n))

    autoscaler.on_scale_up = lambda s, n: ups.append((s, n))
    autoscaler.on_scale_down = on_down
    scaler.cpu.update(api=95.0, db=95.0)
    caplog.set_level(logging.INFO, logger="mcpfleet.autoscale")
    for _ in range(3):
        decisions = await autoscaler.check()
    assert sorted((d.server, d.desired) for d in decisions) == [("api", 3), ("db", 3)]
    assert sorted(ups) == [("api", 3), ("db", 3)]
    assert "autoscale api: 2 -> 3 instances: cpu 95% over target 70% for 3 checks" in caplog.text

    for _ in range(3):  # db is at its own max; api waits out its cooldown
        clock.now += 20
        await autoscaler.check()
    assert scaler.counts == {"api": 4, "db": 3}

    scaler.cpu.update(api=1.0, db=1.0)
    clock.now += 300
    for _ in range(5):
        await autoscaler.check()
    assert sorted(downs) == [("api", 3), ("db", 2)]
    assert "autoscale api: 4 -> 3 instances: every signal under 70% of its target for 5 checks" in caplog.text

    scaler.refuse = True
    scaler.cpu.update(api=99.0)
    clock.now += 300
    for _ in range(3):
        await autoscaler.check()
    assert scaler.counts["api"] == 3 and autoscaler.failures == {("api", "up"): 1}
    assert "scaling up to 4 failed: the backend refused" in caplog.text

    scaler.refuse = False
    manager.load_balancer.set_mode("api", "maintenance")  # no calls on purpose: that is not idle
    scaler.cpu.update(api=1.0, db=50.0)
    clock.now += 300
    for _ in range(6):
        assert await autoscaler.check() == []
    assert scaler.counts == {"api": 3, "db": 2}

    metrics = MetricsCollector(manager)
    metrics.autoscaler = autoscaler
    text = metrics.render().decode()
    assert 'mcp_autoscale_decisions_total{direction="up",reason="cpu",server="api"} 3.0' in text
    assert 'mcp_autoscale_decisions_total{direction="down",reason="idle",server="db"} 1.0' in text
    assert 'mcp_autoscale_failures_total{direction="up",server="api"} 1.0' in text
    assert 'mcp_autoscale_desired_instances{server="api"} 4.0' in text
    assert 'mcp_autoscale_desired_instances{server="db"} 2.0' in text
