"""Auto-scaling: each server's instance count follows its load.

    from mcpfleet.autoscale import AutoScaler

    autoscaler = AutoScaler(manager=manager, min_instances=2, max_instances=10,
                            target_cpu=70, target_memory=80,
                            scale_up_threshold=3, scale_down_threshold=5)  # consecutive checks
    await autoscaler.start()
    autoscaler.on_scale_up = lambda s, n: print(f"Scaled up {s} to {n} instances")
    autoscaler.on_scale_down = lambda s, n: print(f"Scaled down {s} to {n} instances")

Signals: calls in flight per ready instance and p95 tool-call latency (what an MCP server waiting
on I/O feels while its CPU idles), CPU and memory per instance. Up when any signal is over its
target for ``scale_up_threshold`` checks in a row; down when all are well under for
``scale_down_threshold``; cooldowns after each change; never outside min..max (see
:mod:`mcpfleet.autoscale.policy`). Scaling down drains first: the least busy instance takes no
new calls, finishes those in flight, then stops.

Backends: :class:`LocalScaler` (the fleet's own child processes; CPU and memory per process
tree) and :class:`KubernetesScaler` (a Deployment's ``spec.replicas`` and its pods' metrics).
In ``mcpfleet.yaml`` (``mcpfleet up`` runs it when enabled)::

    autoscale:
      enabled: true
      interval: 15                # seconds between checks
      backend: local              # local | kubernetes (then: namespace, deployment: "mcp-{server}")
      min_instances: 1
      max_instances: 8
      target_in_flight: 4         # calls in flight per instance
      target_p95_ms: 800          # off unless set
      target_cpu: 70              # percent of one core; null turns a signal off
      target_memory: null
      scale_up_threshold: 3       # consecutive checks
      scale_down_threshold: 5
      scale_up_cooldown: 60       # seconds after a change
      scale_down_cooldown: 300
      step: proportional          # one (default) | proportional, at most max_step at a time
      drain_timeout: 30
      servers:                    # per-server overrides of any setting above
        search: {max_instances: 20, target_in_flight: 8}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.autoscale.autoscaler import AutoScaler
    from mcpfleet.autoscale.base import BaseScaler, Usage
    from mcpfleet.autoscale.config import AutoscaleConfig, ScalingTargets
    from mcpfleet.autoscale.kubernetes import KubernetesScaler
    from mcpfleet.autoscale.local import LocalScaler
    from mcpfleet.autoscale.policy import Decider, Decision, Reading

__all__ = [
    "AutoScaler",
    "AutoscaleConfig",
    "BaseScaler",
    "Decider",
    "Decision",
    "KubernetesScaler",
    "LocalScaler",
    "Reading",
    "ScalingTargets",
    "Usage",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "mcpfleet.autoscale.autoscaler": ["AutoScaler"],
        "mcpfleet.autoscale.base": ["BaseScaler", "Usage"],
        "mcpfleet.autoscale.config": ["AutoscaleConfig", "ScalingTargets"],
        "mcpfleet.autoscale.kubernetes": ["KubernetesScaler"],
        "mcpfleet.autoscale.local": ["LocalScaler"],
        "mcpfleet.autoscale.policy": ["Decider", "Decision", "Reading"],
    },
)
