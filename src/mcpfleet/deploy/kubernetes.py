"""The fleet on Kubernetes: manifests rendered from the fleet file, applied server-side.

    manifests = render_manifests(config, namespace="mcp", image="registry.example.com/mcpfleet:1.0")
    write_manifests(manifests, Path("k8s"))

Applying, scaling and status are :class:`mcpfleet.deploy.cluster.KubernetesCluster`'s.

What is rendered (the container design is in :mod:`mcpfleet.deploy.plan`): a ConfigMap with
every container's fleet file, a Secret with the values of the ``${VAR}`` references, per server
a Deployment and a Service (``mcp-NAME``), the gateway's Deployment, Service,
HorizontalPodAutoscaler and PodDisruptionBudget (``mcpfleet-gateway``), and a NetworkPolicy that
lets only the gateway reach the servers (they serve without authentication inside the cluster).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mcpfleet.config import FleetConfig
from mcpfleet.deploy.plan import (
    CONFIG_DIR,
    DEFAULT_IMAGE,
    HOME_DIR,
    SESSION_SECRET,
    DeployPlan,
    ServiceUnit,
    plan_fleet,
)

__all__ = [
    "FIELD_MANAGER",
    "SECRET",
    "Resources",
    "missing_secrets",
    "render_manifests",
    "write_manifests",
]

FIELD_MANAGER = "mcpfleet"
CONFIG_MAP = "mcpfleet-config"
SECRET = "mcpfleet-secrets"
PART_OF = {"app.kubernetes.io/part-of": "mcpfleet"}
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Resources:
    """Requests and limits of every container (Kubernetes quantities)."""

    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"

    def spec(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def _labels(unit: ServiceUnit) -> dict[str, str]:
    labels = {**PART_OF, "app.kubernetes.io/name": unit.name, "app.kubernetes.io/managed-by": FIELD_MANAGER}
    labels["app.kubernetes.io/component"] = "server" if unit.server else "gateway"
    if unit.server:
        labels["mcpfleet/server"] = unit.server.replace("_", "-")
    return labels


def _meta(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(labels)}


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _deployment(
    unit: ServiceUnit, namespace: str, image: str, resources: Resources, host_network: bool
) -> Manifest:
    selector = {"app.kubernetes.io/name": unit.name, **PART_OF}
    env: list[dict[str, Any]] = [{"name": "MCPFLEET_LOG_FORMAT", "value": "json"}]
    env += [{"name": var, "valueFrom": {"secretKeyRef": _secret_ref(var)}} for var in unit.variables]
    container = {
        "name": "mcpfleet",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": unit.command,
        "ports": [{"name": "http", "containerPort": unit.port, "protocol": "TCP"}],
        "env": env,
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "home", "mountPath": HOME_DIR},
        ],
        # The first start installs the server's package: allow five minutes before liveness counts.
        "startupProbe": _probe("/healthz", unit.port, 5, 60),
        "livenessProbe": _probe("/healthz", unit.port, 20, 3),
        "readinessProbe": _probe("/readyz", unit.port, 10, 3),
        "resources": resources.spec(),
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [
            {
                "name": "config",
                "configMap": {"name": CONFIG_MAP, "items": [{"key": unit.config_key, "path": unit.config_key}]},  # noqa: E501
            },
            {"name": "home", "emptyDir": {}},
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 40,  # mcpfleet drains in-flight calls before stopping
    }  # fmt: skip
    if host_network:
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
        del container["ports"]  # the node's own port; podman kube play refuses a mapping here
    # A changed fleet file changes the template, so `apply` rolls the pods.
    digest = hashlib.sha256(unit.config_text.encode()).hexdigest()[:16]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": _labels(unit), "annotations": {"mcpfleet/config-sha256": digest}},
            "spec": pod,
        },
    }
    if unit.server is not None:  # the gateway's replicas belong to its HorizontalPodAutoscaler
        spec["replicas"] = unit.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(unit.name, namespace, _labels(unit)),
        "spec": spec,
    }


def _service(unit: ServiceUnit, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(unit.name, namespace, _labels(unit)),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": unit.name, **PART_OF},
            "ports": [{"name": "http", "port": unit.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _gateway_extras(plan: DeployPlan, namespace: str, min_replicas: int, max_replicas: int) -> list[Manifest]:
    gateway = plan.gateway
    selector = {"app.kubernetes.io/name": gateway.name, **PART_OF}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(gateway.name, namespace, _labels(gateway)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": gateway.name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }  # fmt: skip
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(gateway.name, namespace, _labels(gateway)),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("mcpfleet-servers", namespace, PART_OF),
        "spec": {
            "podSelector": {"matchLabels": {**PART_OF, "app.kubernetes.io/component": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {**PART_OF, "app.kubernetes.io/component": "gateway"}
                            }
                        }
                    ]
                }
            ],
        },
    }
    return [hpa, pdb, policy]


def render_manifests(
    config: FleetConfig,
    *,
    namespace: str = "default",
    image: str = DEFAULT_IMAGE,
    environ: Mapping[str, str] | None = None,
    resources: Resources | None = None,
    gateway_replicas: tuple[int, int] = (2, 10),
    host_network: bool = False,
    bind: str | None = None,
    gateway_port: int | None = None,
    base_port: int | None = None,
) -> list[Manifest]:
    """Every manifest of the fleet, in apply order (ConfigMap and Secret first).

    ``host_network`` (pods on the node's network, the gateway reaching servers at 127.0.0.1) and
    ``bind`` are for single-machine runs such as ``podman kube play``; a cluster wants neither.
    ``gateway_replicas`` is the HorizontalPodAutoscaler's (min, max).
    """
    plan = plan_fleet(
        config,
        network="host" if host_network else "cluster",
        kubernetes=True,
        environ=environ,
        gateway_port=gateway_port,
        base_port=base_port,
        bind=bind,
    )
    resources = resources or Resources()
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(CONFIG_MAP, namespace, PART_OF),
        "data": {unit.config_key: unit.config_text for unit in plan.units},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(SECRET, namespace, PART_OF),
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(plan.secrets.items())},
    }
    manifests: list[Manifest] = [config_map, secret]
    for unit in plan.units:
        manifests.append(_deployment(unit, namespace, image, resources, host_network))
        manifests.append(_service(unit, namespace))
    manifests += _gateway_extras(plan, namespace, *gateway_replicas)
    return manifests


def missing_secrets(manifests: Iterable[Manifest]) -> list[str]:
    """Variables the containers read from the Secret that it has no value for."""
    data: dict[str, str] = {}
    wanted: set[str] = set()
    for m in manifests:
        if m["kind"] == "Secret" and m["metadata"]["name"] == SECRET:
            data = m.get("data") or {}
        if m["kind"] == "Deployment":
            for c in m["spec"]["template"]["spec"]["containers"]:
                wanted |= {e["name"] for e in c.get("env", []) if "valueFrom" in e}
    return sorted(wanted - set(data))


def write_manifests(manifests: Iterable[Manifest], out_dir: Path) -> list[Path]:
    """One file per manifest (``10-deployment-mcp-time.yaml``), numbered in apply order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, manifest in enumerate(manifests, start=1):
        path = out_dir / f"{i:02d}-{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def _secret_ref(var: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": SECRET, "key": var}
    if var == SESSION_SECRET:
        ref["optional"] = True  # without it the replicas still run, each with its own sessions
    return ref
