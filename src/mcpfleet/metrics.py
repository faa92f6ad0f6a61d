"""``MetricsCollector``: the fleet in Prometheus terms.

    from mcpfleet.metrics import MetricsCollector

    metrics = MetricsCollector()
    metrics.track_request("time", "get_current_time", duration=0.004, success=True)
    metrics.update_active_servers(3)
    text = metrics.render()          # Prometheus text format, as served at /metrics

The gateway feeds it on every tool call. With ``manager`` given, each scrape also reads the
fleet's state: each server's state (``mcp_server_state{server,state}``, 1 for the one it is in:
see :mod:`mcpfleet.runtime.state`), instances by state, restarts, calls in flight, connection
pool figures and the last health check; ``mcp_active_servers`` is then the number of servers
with a ready instance.

Several processes on one host (gateway replicas behind one port or one load balancer) share
their figures through prometheus-client's multiprocess mode: start every process with
``PROMETHEUS_MULTIPROC_DIR`` set to one empty folder, and any of them serves the sums. Call
counts and latencies are summed over every process that ever ran; fleet state (published by
each live process at every scrape and every few seconds) is summed over the live ones, and
disappears with a process that stops.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mcpfleet.exceptions import ConfigError
from mcpfleet.runtime.state import ServerState

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager
    from mcpfleet.monitoring import HealthMonitor

__all__ = ["CONTENT_TYPE", "MetricsCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_Mode = Literal["livesum", "livemax", "livemin"]
PUBLISH_INTERVAL = 5.0  # seconds between state publications in multiprocess mode


def multiprocess_dir() -> str | None:
    """The shared folder when multiprocess mode is on (``PROMETHEUS_MULTIPROC_DIR``), else None."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    if values.ValueClass is values.MutexValue:
        raise ConfigError(
            "PROMETHEUS_MULTIPROC_DIR was set after metrics were loaded; set it in the environment "
            "before the process starts"
        )
    if not os.path.isdir(path):
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={path} is not a folder; create it (empty) first")
    return path


class MetricsCollector:
    """The guide's four metrics, plus the fleet's state read at scrape time."""

    def __init__(
        self,
        manager: MCPManager | None = None,
        *,
        monitor: HealthMonitor | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.multiprocess_dir = multiprocess_dir()
        # In multiprocess mode values live in the shared folder; this registry is never rendered.
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
        self.protocol = Counter(
            "mcp_protocol_requests_total", "Requests other than tool calls, by method and outcome",
            ["method", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.protocol_latency = Histogram(
            "mcp_protocol_latency_seconds", "Latency of requests other than tool calls", ["method"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.active_servers = Gauge(
            "mcp_active_servers", "Servers with at least one ready instance", registry=self.registry,
            multiprocess_mode="livemax",
        )  # fmt: skip
        self.audit: Any = None  # an AuditLogger: its queue depth and counters are exported
        self.limiter: Any = None  # a rate limiter: refusals and Redis fallbacks are exported
        self.cache: Any = None  # an MCPCache of tool results: hits, misses, evictions, size
        self.autoscaler: Any = None  # an AutoScaler: its decisions and desired instance counts
        self._state: _FleetState | None = None
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}  # track_request's label children
        self._published: _Publisher | None = None
        if manager is not None:
            self._state = _FleetState(manager, monitor, self)
            if self.multiprocess_dir is None:
                self.registry.register(self._state)
            else:
                self._published = _Publisher(self.registry)

    def track_request(
        self, server: str, tool: str, duration: float, success: bool, error_type: str | None = None
    ) -> None:
        """Count one call; ``error_type`` names the failure (default ``tool_error``) when not ``success``."""
        # The children of a (server, tool) are looked up once, not per call: ``labels()`` checks,
        # converts and locks every time. Tool labels are bounded (the gateway counts names no
        # server lists as ``unlisted``), and so is this cache.
        children = self._children.get((server, tool))
        if children is None:
            children = (self.requests.labels(server, tool), self.latency.labels(server))
            if len(self._children) < 10_000:
                self._children[(server, tool)] = children
        children[0].inc()
        children[1].observe(duration)
        if not success:
            self.errors.labels(server, error_type or "tool_error").inc()

    def track_protocol(self, method: str, duration: float, outcome: str) -> None:
        """Count one request other than a tool call (its method is one the gateway serves)."""
        self.protocol.labels(method, outcome).inc()
        self.protocol_latency.labels(method).observe(duration)

    def update_active_servers(self, count: int) -> None:
        self.active_servers.set(count)

    def publish(self) -> None:
        """Bring this process's fleet state up to date (in multiprocess mode, in the shared folder)."""
        if self.manager is not None:
            ready = sum(
                1 for row in self.manager.status() if any(i["state"] == "ready" for i in row["instances"])
            )
            self.update_active_servers(ready)
        if self._published is not None and self._state is not None:
            self._published.write(self._state.families())

    def render(self) -> bytes:
        self.publish()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def process_stopped(self) -> None:
        """Drop this process's live state from the shared folder (multiprocess mode)."""
        if self.multiprocess_dir is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


@dataclass
class _Family:
    """One metric of fleet state, read at a moment: its samples by label values."""

    name: str
    doc: str
    kind: Literal["gauge", "counter"]
    labels: tuple[str, ...] = ()
    mode: _Mode = "livesum"  # how processes combine in multiprocess mode
    samples: dict[tuple[str, ...], float] = field(default_factory=dict)


class _FleetState(Collector):
    """Read at each scrape, so the figures are never stale and cost nothing between scrapes."""

    def __init__(self, manager: MCPManager, monitor: HealthMonitor | None, owner: MetricsCollector) -> None:
        self.manager = manager
        self.monitor = monitor
        self.owner = owner

    def families(self) -> list[_Family]:
        manager = self.manager
        instances = _Family("mcp_instances", "Instances by server and state", "gauge", ("server", "state"))
        restarts = _Family("mcp_instance_restarts", "Instance restarts since start", "counter", ("server",))
        in_flight = _Family("mcp_in_flight_calls", "Calls in flight, by server", "gauge", ("server",))
        mode = _Family(
            "mcp_server_out_of_rotation", "1 while a server is draining or in maintenance", "gauge",
            ("server", "mode"), mode="livemax",
        )  # fmt: skip
        states = _Family(
            "mcp_server_state", "1 for the state a server is in (idle, starting, ready, backing_off, "
            "gave_up, stopped, draining, maintenance), 0 for the others", "gauge", ("server", "state"),
            mode="livemax",
        )  # fmt: skip
        server_restarts = _Family(
            "mcp_server_restarts", "Restarts of a server's instances, and its starts tried again "
            "after a failed one", "counter", ("server",),
        )  # fmt: skip
        for row in manager.status():
            server = row["server"]
            for name in ServerState:
                states.samples[(server, name.value)] = 1 if row["state"] == name.value else 0
            server_restarts.samples[(server,)] = row["restarts"]
            for instance in row["instances"]:
                key = (server, instance["state"])
                instances.samples[key] = instances.samples.get(key, 0) + 1
            restarts.samples[(server,)] = sum(i["restarts"] for i in row["instances"])
            in_flight.samples[(server,)] = manager.load_balancer.in_flight(server)
            if row["mode"]:
                mode.samples[(server, row["mode"])] = 1
        installed = _Family(
            "mcp_install_duration_seconds", "How long the last install of a server took, by its outcome",
            "gauge", ("server", "outcome"), mode="livemax",
        )  # fmt: skip
        for server, outcome in manager.installs.items():
            installed.samples[(server, "ok" if outcome.ok else "failed")] = outcome.duration
        found = [instances, restarts, in_flight, mode, installed, states, server_restarts]
        pool = manager.connection_pool
        if pool is not None:
            stats: dict[str, Any] = pool.get_stats()
            for what in ("active", "idle", "waiting"):
                found.append(
                    _Family(f"mcp_pool_{what}_connections", f"Pooled connections: {what}", "gauge",
                            samples={(): stats[what]})
                )  # fmt: skip
            found.append(_Family("mcp_pool_connections_created", "Pooled connections opened", "counter",
                                 samples={(): stats["total_created"]}))  # fmt: skip
            found.append(_Family("mcp_pool_connections_closed", "Pooled connections closed", "counter",
                                 samples={(): stats["total_closed"]}))  # fmt: skip
        audit = self.owner.audit
        if audit is not None:
            counts = audit.stats
            found.append(_Family("mcp_audit_queue_depth", "Audit records waiting to be written", "gauge",
                                 samples={(): counts.queue_depth}))  # fmt: skip
            records = _Family("mcp_audit_records", "Audit records by where they went", "counter", ("state",))
            for state in ("written", "spilled", "replayed", "failed"):
                records.samples[(state,)] = getattr(counts, state)
            found.append(records)
            found.append(_Family("mcp_audit_records_pruned", "Audit records removed by retention", "counter",
                                 samples={(): counts.pruned}))  # fmt: skip
            if counts.store_bytes is not None:  # measured in the background, never at scrape time
                found.append(_Family(
                    "mcp_audit_store_bytes", "Size of the audit store: its file (SQLite: the fleet database) "
                    "or PostgreSQL table", "gauge", samples={(): counts.store_bytes}, mode="livemax",
                ))  # fmt: skip
        cache = self.owner.cache
        if cache is not None:
            cached = cache.stats()
            for what, doc in (
                ("hits", "Tool calls answered from the cache"),
                ("misses", "Cacheable tool calls the cache could not answer"),
                ("evictions", "Cache entries evicted to stay within max_size"),
                ("bypassed", "Cache look-ups and stores skipped while its Redis was away"),
            ):
                found.append(
                    _Family(f"mcp_cache_{what}", doc, "counter", samples={(): getattr(cached, what)})
                )
            found.append(_Family("mcp_cache_entries", "Entries in the tool-result cache", "gauge",
                                 samples={(): cached.size}, mode="livemax"))  # fmt: skip
        limiter = self.owner.limiter
        if limiter is not None:
            found.append(_Family("mcp_rate_limited", "Calls refused by a rate limit", "counter",
                                 samples={(): limiter.limited_total}))  # fmt: skip
            if hasattr(limiter, "fallbacks_total"):
                found.append(_Family(
                    "mcp_rate_limit_redis_fallbacks", "Times Redis went away and local limits took over",
                    "counter", samples={(): limiter.fallbacks_total},
                ))  # fmt: skip
                found.append(_Family(
                    "mcp_rate_limit_redis_up", "1 while rate limits are shared through Redis", "gauge",
                    samples={(): 1 if limiter.using_redis else 0}, mode="livemin",
                ))  # fmt: skip
        autoscaler = self.owner.autoscaler
        if autoscaler is not None:
            decisions = _Family(
                "mcp_autoscale_decisions", "Instance-count changes the autoscaler decided, and why",
                "counter", ("server", "direction", "reason"),
            )  # fmt: skip
            decisions.samples = {key: float(n) for key, n in autoscaler.decision_counts.items()}
            failures = _Family(
                "mcp_autoscale_failures", "Decided changes that could not be made (see the log)",
                "counter", ("server", "direction"),
            )  # fmt: skip
            failures.samples = {key: float(n) for key, n in autoscaler.failures.items()}
            desired = _Family(
                "mcp_autoscale_desired_instances", "Instances the autoscaler wants a server to run",
                "gauge", ("server",), mode="livemax",
            )  # fmt: skip
            desired.samples = {(server,): float(n) for server, n in autoscaler.desired.items()}
            found += [decisions, failures, desired]
        if self.monitor is not None and self.monitor.last:
            up = _Family(
                "mcp_health_up", "1 if the last health check found the server healthy", "gauge",
                ("server",), mode="livemin",
            )  # fmt: skip
            latency = _Family(
                "mcp_health_latency_seconds", "Fastest probe answer in the last health check", "gauge",
                ("server",), mode="livemax",
            )  # fmt: skip
            for server, status in self.monitor.last.items():
                up.samples[(server,)] = 1 if status["healthy"] else 0
                if status["latency_ms"] is not None:
                    latency.samples[(server,)] = status["latency_ms"] / 1000
            found += [up, latency]
        return found

    def collect(self) -> Iterator[Metric]:
        for family in self.families():
            cls = GaugeMetricFamily if family.kind == "gauge" else CounterMetricFamily
            metric = cls(family.name, family.doc, labels=list(family.labels))
            for labels, value in family.samples.items():
                metric.add_metric(list(labels), value)
            yield metric


class _Publisher:
    """Writes fleet state into multiprocess metrics: gauges set (series gone from the fleet set to
    0), counters advanced by what changed since the last write."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.metrics: dict[str, Any] = {}
        self.seen: dict[str, dict[tuple[str, ...], float]] = {}

    def write(self, families: list[_Family]) -> None:
        for family in families:
            metric = self.metrics.get(family.name)
            if metric is None:
                if family.kind == "gauge":
                    metric = Gauge(family.name, family.doc, family.labels, registry=self.registry,
                                   multiprocess_mode=family.mode)  # fmt: skip
                else:
                    metric = Counter(family.name, family.doc, family.labels, registry=self.registry)
                self.metrics[family.name] = metric
            seen = self.seen.setdefault(family.name, {})
            for labels in seen.keys() - family.samples.keys():
                if family.kind == "gauge":
                    self._child(metric, labels).set(0)
            for labels, value in family.samples.items():
                child = self._child(metric, labels)
                if family.kind == "gauge":
                    child.set(value)
                else:
                    before = seen.get(labels, 0.0)
                    child.inc(value - before if value >= before else value)  # a reset counts anew
            seen.update(family.samples)

    @staticmethod
    def _child(metric: Any, labels: tuple[str, ...]) -> Any:
        return metric.labels(*labels) if labels else metric
