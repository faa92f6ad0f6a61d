"""``KubernetesScaler``: servers that run as Kubernetes Deployments, scaled through the API.

    scaler = KubernetesScaler.from_cluster(["filesystem"], namespace="mcp")  # in-cluster or kubeconfig
    autoscaler = AutoScaler(manager, scaler=scaler, min_instances=2, max_instances=10)

A server's Deployment is named by ``name`` (default ``mcp-{server}``, as the guide's
``kubectl scale deployment mcp-filesystem`` does), or given per server as a mapping. A check
reads the Deployment (``spec.replicas``, ``status.readyReplicas``, the pod template's resource
requests) and, with ``metrics`` given, its pods' usage from ``metrics.k8s.io`` (metrics-server):
CPU in percent of the pod's CPU request (of one core without one), memory in bytes against the
pod's memory request (or limit). A change patches the Deployment's scale subresource
(``spec.replicas``), as ``kubectl scale`` does; the service account needs ``get`` on
``deployments``, ``patch`` on ``deployments/scale`` and ``list`` on ``pods.metrics.k8s.io``.

Removing a pod without cutting its calls is Kubernetes' part: the pod leaves the Service's
endpoints, gets SIGTERM and ``terminationGracePeriodSeconds`` to finish (the fleet's rendered
manifests give it a preStop pause and a grace period); ``drain_timeout`` does not apply here.
The client is synchronous, so every API call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from statistics import fmean
from typing import TYPE_CHECKING, Any, TypeVar

from mcpfleet.autoscale.base import BaseScaler, Usage
from mcpfleet.exceptions import ScalingError

if TYPE_CHECKING:
    from kubernetes.client import AppsV1Api, CustomObjectsApi, V1Deployment

__all__ = ["KubernetesScaler"]

log = logging.getLogger("mcpfleet.autoscale")
T = TypeVar("T")
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


class _RefusedError(ScalingError):
    """The API answered with an error status (kept, so a caller can tell 404 from 403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _quantity(value: str | None) -> Decimal | None:
    """``"250m"`` -> 0.25, ``"128Mi"`` -> 134217728 (Kubernetes quantities)."""
    if value is None:
        return None
    from kubernetes.utils.quantity import parse_quantity

    return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]


class KubernetesScaler(BaseScaler):
    """Deployments' replicas, read and patched with ``apps`` (an ``AppsV1Api``); pod metrics from
    ``metrics`` (a ``CustomObjectsApi``; without it, only in-flight calls and latency count)."""

    def __init__(
        self,
        apps: AppsV1Api,
        metrics: CustomObjectsApi | None = None,
        *,
        servers: Sequence[str] | Mapping[str, str],
        namespace: str = "default",
        name: str = "mcp-{server}",
    ) -> None:
        self.apps = apps
        self.metrics = metrics
        self.namespace = namespace
        if isinstance(servers, Mapping):
            self.deployments = dict(servers)
        else:
            self.deployments = {s: name.format(server=s) for s in servers}
        self._metrics_missing = False

    @classmethod
    def from_cluster(
        cls,
        servers: Sequence[str] | Mapping[str, str],
        *,
        namespace: str = "default",
        name: str = "mcp-{server}",
        context: str | None = None,
    ) -> KubernetesScaler:
        """Connect with the pod's service account inside a cluster, else with the kubeconfig
        (``KUBECONFIG`` or ``~/.kube/config``; ``context`` picks one of its contexts)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            api = client.ApiClient(configuration)
        except config.ConfigException:
            try:
                api = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
            except (config.ConfigException, OSError) as exc:
                raise ScalingError(
                    "cannot reach Kubernetes: not running in a cluster, and no usable kubeconfig "
                    f"({exc}); set KUBECONFIG, or run mcpfleet in the cluster with a service account"
                ) from None
        return cls(
            client.AppsV1Api(api), client.CustomObjectsApi(api),
            servers=servers, namespace=namespace, name=name,
        )  # fmt: skip

    def servers(self) -> list[str]:
        return list(self.deployments)

    def deployment(self, server: str) -> str:
        try:
            return self.deployments[server]
        except KeyError:
            raise ScalingError(
                f"{server} has no Kubernetes Deployment here; scalable servers: "
                f"{', '.join(self.deployments) or 'none'}"
            ) from None

    async def _call(self, doing: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call in a worker thread, its failures as a :class:`ScalingError` that says what to do."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except ApiException as exc:
            hint = {
                401: "the credentials were refused; renew the kubeconfig or service-account token",
                403: "grant the service account get on deployments, patch on deployments/scale and "
                "list on pods.metrics.k8s.io",
                404: "apply the fleet's Kubernetes manifests, or name the server's Deployment "
                "(KubernetesScaler(servers={server: deployment}))",
            }.get(exc.status or 0, "see the Kubernetes API server's events and logs")
            raise _RefusedError(
                f"Kubernetes refused to {doing}: {exc.status} {exc.reason}; {hint}", exc.status or 0
            ) from None
        except (HTTPError, OSError) as exc:
            raise ScalingError(f"cannot reach the Kubernetes API to {doing}: {exc}") from None

    async def observe(self, server: str) -> Usage:
        name = self.deployment(server)
        where = f"Deployment {self.namespace}/{name}"
        deployment: V1Deployment = await self._call(
            f"read {where}", self.apps.read_namespaced_deployment, name, self.namespace
        )
        spec, status = deployment.spec, deployment.status
        replicas = spec.replicas if spec is not None and spec.replicas is not None else 1
        ready = (status.ready_replicas or 0) if status is not None else 0
        if self.metrics is None or spec is None:
            return Usage(replicas, ready)
        cpu_request, memory_request = self._requests(deployment)
        labels = (spec.selector.match_labels or {}) if spec.selector is not None else {}
        pods = await self._pod_usage(where, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        if not pods:
            return Usage(replicas, ready, memory_budget=memory_request)
        return Usage(
            replicas,
            ready,
            cpu_percent=fmean(float(cores / (cpu_request or 1) * 100) for cores, _ in pods),
            memory_bytes=fmean(float(memory) for _, memory in pods),
            memory_budget=memory_request,
        )

    @staticmethod
    def _requests(deployment: V1Deployment) -> tuple[Decimal | None, float | None]:
        """The pod's CPU request (cores) and memory request, else limit (bytes), summed over containers."""
        cpu = memory = Decimal(0)
        template = deployment.spec.template.spec if deployment.spec is not None else None
        for container in template.containers if template is not None else []:
            resources = container.resources
            requests = (resources.requests or {}) if resources is not None else {}
            limits = (resources.limits or {}) if resources is not None else {}
            cpu += _quantity(requests.get("cpu")) or Decimal(0)
            memory += _quantity(requests.get("memory") or limits.get("memory")) or Decimal(0)
        return cpu or None, float(memory) or None

    async def _pod_usage(self, where: str, selector: str) -> list[tuple[Decimal, Decimal]]:
        """(CPU cores, memory bytes) of each pod the selector picks; [] without metrics-server."""
        if self.metrics is None:
            return []
        try:
            listing: Any = await self._call(
                f"list pod metrics of {where}",
                self.metrics.list_namespaced_custom_object,
                METRICS_GROUP, METRICS_VERSION, self.namespace, "pods", label_selector=selector,
            )  # fmt: skip
        except _RefusedError as exc:
            if exc.status not in (404, 503):
                raise
            if not self._metrics_missing:  # said once, not at every check; asked again each time
                self._metrics_missing = True
                log.warning(
                    "%s.%s is not served (install metrics-server): scaling %s on in-flight calls and "
                    "latency only",
                    METRICS_GROUP, METRICS_VERSION, where,
                )  # fmt: skip
            return []
        self._metrics_missing = False
        pods = []
        for pod in listing.get("items", []):
            containers = pod.get("containers", [])
            cores = sum((_quantity(c["usage"].get("cpu")) or Decimal(0) for c in containers), Decimal(0))
            memory = sum((_quantity(c["usage"].get("memory")) or Decimal(0) for c in containers), Decimal(0))
            pods.append((cores, memory))
        return pods

    async def scale(self, server: str, count: int, *, drain_timeout: float) -> int:
        if count < 1:
            raise ScalingError(f"cannot scale {server} to {count} replicas: run at least 1")
        name = self.deployment(server)
        await self._call(
            f"scale Deployment {self.namespace}/{name} to {count} replicas",
            self.apps.patch_namespaced_deployment_scale,
            name, self.namespace, {"spec": {"replicas": count}},
        )  # fmt: skip
        return count
