"""Deploying a fleet into containers: Compose files and an engine CLI, Kubernetes manifests, or a
Docker Swarm stack.

The container design (a gateway plus one container per server, stdio bridged to HTTP by
mcpfleet itself) is described in :mod:`mcpfleet.deploy.plan`.
"""

from __future__ import annotations

from mcpfleet.deploy.cluster import DeploymentStatus, KubernetesCluster
from mcpfleet.deploy.compose import ComposeEngine, ComposeFiles, compose_down, compose_up, render_compose
from mcpfleet.deploy.kubernetes import render_manifests, write_manifests
from mcpfleet.deploy.plan import DeployPlan, plan_fleet
from mcpfleet.deploy.swarm import StackFiles, render_stack, stack_deploy

__all__ = [
    "ComposeEngine",
    "ComposeFiles",
    "DeployPlan",
    "DeploymentStatus",
    "KubernetesCluster",
    "StackFiles",
    "compose_down",
    "compose_up",
    "plan_fleet",
    "render_compose",
    "render_manifests",
    "render_stack",
    "stack_deploy",
    "write_manifests",
]
