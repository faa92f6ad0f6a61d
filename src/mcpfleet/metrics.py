"""``MetricsCollector``: the fleet in Prometheus terms.

    from mcpfleet.metrics import MetricsCollector

    metrics = MetricsCollector()
    metrics.track_request("time", "get_current_time", duration=0.004, success=True)
    metrics.update_active_servers(3)
    text = metrics.render()          # Prometheus text format, as served at /metrics

The gateway feeds it on every tool call. With ``manager`` given, each scrape also reads the
fleet's state: instances by state, restarts, calls in flight, connection pool figures and the
last health check; ``mcp_active_servers`` is then the number of servers with a ready instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager
    from mcpfleet.monitoring import HealthMonitor

__all__ = ["CONTENT_TYPE", "MetricsCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class MetricsCollector:
    """The guide's four metrics, plus the fleet's state read at scrape time."""

    def __init__(
        self,
        manager: MCPManager | None = None,
        *,
        monitor: HealthMonitor | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.manager = manager
        self.requests = Counter(
            "mcp_requests_total", "Tool calls, by server and tool", ["server", "tool"], registry=self.registry
        )
        self.errors = Counter(
            "mcp_errors_total", "Failed tool calls, by server and kind of error", ["server", "error_type"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "mcp_latency_seconds", "Tool call latency through mcpfleet", ["server"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.active_servers = Gauge(
            "mcp_active_servers", "Servers with at least one ready instance", registry=self.registry
        )
        if manager is not None:
            self.registry.register(_FleetState(manager, monitor))

    def track_request(
        self, server: str, tool: str, duration: float, success: bool, error_type: str | None = None
    ) -> None:
        """Count one call; ``error_type`` names the failure (default ``tool_error``) when not ``success``."""
        self.requests.labels(server, tool).inc()
        self.latency.labels(server).observe(duration)
        if not success:
            self.errors.labels(server, error_type or "tool_error").inc()

    def update_active_servers(self, count: int) -> None:
        self.active_servers.set(count)

    def render(self) -> bytes:
        if self.manager is not None:
            ready = sum(
                1 for row in self.manager.status() if any(i["state"] == "ready" for i in row["instances"])
            )
            self.update_active_servers(ready)
        return generate_latest(self.registry)


class _FleetState(Collector):
    """Read at each scrape, so the figures are never stale and cost nothing between scrapes."""

    def __init__(self, manager: MCPManager, monitor: HealthMonitor | None) -> None:
        self.manager = manager
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        manager = self.manager
        instances = GaugeMetricFamily(
            "mcp_instances", "Instances by server and state", labels=["server", "state"]
        )
        restarts = CounterMetricFamily(
            "mcp_instance_restarts", "Instance restarts since start", labels=["server"]
        )
        in_flight = GaugeMetricFamily("mcp_in_flight_calls", "Calls in flight, by server", labels=["server"])
        mode = GaugeMetricFamily(
            "mcp_server_out_of_rotation",
            "1 while a server is draining or in maintenance",
            labels=["server", "mode"],
        )
        for row in manager.status():
            server = row["server"]
            states: dict[str, int] = {}
            for instance in row["instances"]:
                states[instance["state"]] = states.get(instance["state"], 0) + 1
            for state, count in states.items():
                instances.add_metric([server, state], count)
            restarts.add_metric([server], sum(i["restarts"] for i in row["instances"]))
            in_flight.add_metric([server], manager.load_balancer.in_flight(server))
            if row["mode"]:
                mode.add_metric([server, row["mode"]], 1)
        yield from (instances, restarts, in_flight, mode)
        pool = manager.connection_pool
        if pool is not None:
            stats: dict[str, Any] = pool.get_stats()
            for key in ("active", "idle", "waiting"):
                yield GaugeMetricFamily(
                    f"mcp_pool_{key}_connections", f"Pooled connections: {key}", value=stats[key]
                )
            yield CounterMetricFamily(
                "mcp_pool_connections_created", "Pooled connections opened", value=stats["total_created"]
            )
            yield CounterMetricFamily(
                "mcp_pool_connections_closed", "Pooled connections closed", value=stats["total_closed"]
            )
        if self.monitor is not None and self.monitor.last:
            up = GaugeMetricFamily(
                "mcp_health_up", "1 if the last health check found the server healthy", labels=["server"]
            )
            latency = GaugeMetricFamily(
                "mcp_health_latency_seconds",
                "Fastest probe answer in the last health check",
                labels=["server"],
            )
            for server, status in self.monitor.last.items():
                up.add_metric([server], 1 if status["healthy"] else 0)
                if status["latency_ms"] is not None:
                    latency.add_metric([server], status["latency_ms"] / 1000)
            yield from (up, latency)
