"""The Kubernetes backend against a mocked API (no cluster runs here): replicas, pod metrics, scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes.client import (
    AppsV1Api,
    CustomObjectsApi,
    V1Container,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
)
from kubernetes.client.exceptions import ApiException

from helpers import FakeClock
from mcpfleet.autoscale import AutoScaler, KubernetesScaler
from mcpfleet.config import FleetConfig
from mcpfleet.exceptions import ScalingError
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


def deployment(
    replicas: int, ready: int, cpu: str | None = "500m", memory: str | None = "256Mi"
) -> V1Deployment:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container = V1Container(name="server", resources=V1ResourceRequirements(requests=requests))
    return V1Deployment(
        metadata=V1ObjectMeta(name="mcp-search", namespace="mcp"),
        spec=V1DeploymentSpec(
            replicas=replicas,
            selector=V1LabelSelector(match_labels={"app": "mcp-search", "tier": "mcp"}),
            template=V1PodTemplateSpec(spec=V1PodSpec(containers=[container])),
        ),
        status=V1DeploymentStatus(replicas=replicas, ready_replicas=ready),
    )


def pod_metrics(*usages: tuple[str, str]) -> dict[str, Any]:
    items = [
        {
            "metadata": {"name": f"mcp-search-{i}"},
            "containers": [{"name": "server", "usage": {"cpu": c, "memory": m}}],
        }
        for i, (c, m) in enumerate(usages)
    ]
    return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": items}


def mocked_api() -> tuple[Any, Any]:
    """AppsV1Api and CustomObjectsApi mocks, specced on the real client (no cluster runs here)."""
    return create_autospec(AppsV1Api, instance=True), create_autospec(CustomObjectsApi, instance=True)


async def test_kubernetes_scaler_reads_replicas_and_pod_metrics_from_a_mocked_api() -> None:
    """Against a mocked AppsV1Api / CustomObjectsApi: no cluster runs in the test environment."""
    apps, custom = mocked_api()
    apps.read_namespaced_deployment.return_value = deployment(replicas=2, ready=2)
    custom.list_namespaced_custom_object.return_value = pod_metrics(("400m", "128Mi"), ("200m", "64Mi"))
    scaler = KubernetesScaler(apps, custom, servers=["search"], namespace="mcp")
    usage = await scaler.observe("search")
    apps.read_namespaced_deployment.assert_called_once_with("mcp-search", "mcp")
    custom.list_namespaced_custom_object.assert_called_once_with(
        "metrics.k8s.io", "v1beta1", "mcp", "pods", label_selector="app=mcp-search,tier=mcp"
    )
    assert (usage.instances, usage.ready) == (2, 2)
    assert usage.cpu_percent == pytest.approx(60.0)  # 400m and 200m of a 500m request
    assert usage.memory_bytes == 96 * 2**20 and usage.memory_budget == 256 * 2**20

    assert await scaler.scale("search", 4, drain_timeout=30) == 4
    apps.patch_namespaced_deployment_scale.assert_called_once_with(
        "mcp-search", "mcp", {"spec": {"replicas": 4}}
    )


async def test_kubernetes_scaler_without_metrics_server_or_deployment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Against a mocked API (no cluster runs here): metrics.k8s.io missing, then the Deployment."""
    apps, custom = mocked_api()
    apps.read_namespaced_deployment.return_value = deployment(replicas=3, ready=1, cpu=None)
    custom.list_namespaced_custom_object.side_effect = ApiException(status=404, reason="Not Found")
    scaler = KubernetesScaler(apps, custom, servers={"search": "search-v2"})
    for _ in range(2):
        usage = await scaler.observe("search")
        assert (usage.instances, usage.ready, usage.cpu_percent) == (3, 1, None)
    assert caplog.text.count("install metrics-server") == 1
    apps.read_namespaced_deployment.side_effect = ApiException(status=404, reason="Not Found")
    with pytest.raises(ScalingError, match="apply the fleet's Kubernetes manifests"):
        await scaler.observe("search")
    apps.patch_namespaced_deployment_scale.side_effect = ApiException(status=403, reason="Forbidden")
    with pytest.raises(ScalingError, match="patch on deployments/scale"):
        await scaler.scale("search", 2, drain_timeout=30)
    with pytest.raises(ScalingError, match="scalable servers: search"):
        await scaler.observe("other")


async def test_autoscaler_drives_a_mocked_deployment(tmp_path: Path) -> None:
    """The AutoScaler behind the Kubernetes backend, against a mocked API (no cluster runs here):
    CPU over target on the pods' requests scales the Deployment up through its scale subresource."""
    apps, custom = mocked_api()
    replicas = {"n": 2}
    apps.read_namespaced_deployment.side_effect = lambda name, ns: deployment(replicas["n"], replicas["n"])
    apps.patch_namespaced_deployment_scale.side_effect = lambda name, ns, body: replicas.update(
        n=body["spec"]["replicas"]
    )
    custom.list_namespaced_custom_object.return_value = pod_metrics(("450m", "100Mi"), ("450m", "100Mi"))
    manager = MCPManager(FleetConfig(home=str(tmp_path)))
    scaler = KubernetesScaler(apps, custom, servers=["search"], namespace="mcp")
    ups: list[tuple[str, int]] = []
    autoscaler = AutoScaler(
        manager, min_instances=2, max_instances=5, target_cpu=70, scale_up_threshold=2,
        scaler=scaler, clock=FakeClock(), on_scale_up=lambda s, n: ups.append((s, n)),
    )  # fmt: skip
    for _ in range(2):
        await autoscaler.check()
    assert replicas["n"] == 3 and ups == [("search", 3)]
    apps.patch_namespaced_deployment_scale.assert_called_once_with(
        "mcp-search", "mcp", {"spec": {"replicas": 3}}
    )
    assert autoscaler.decisions[-1].detail == "cpu 90% over target 70% for 2 checks"


def test_from_cluster_without_credentials_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ScalingError, match="set KUBECONFIG"):
        KubernetesScaler.from_cluster(["search"])
