"""The fleet's namespace in a cluster: server-side apply, scale and status through the official
``kubernetes`` client, against the current kubeconfig context.

    cluster = KubernetesCluster("mcp")
    cluster.apply(render_manifests(config, namespace="mcp"))  # field manager "mcpfleet"
    cluster.scale("filesystem", 5)       # like `kubectl scale deployment mcp-filesystem --replicas=5`
    cluster.status()
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpfleet.deploy.kubernetes import FIELD_MANAGER, Manifest
from mcpfleet.deploy.plan import server_resource_name
from mcpfleet.exceptions import KubernetesError
from mcpfleet.home import check_server_name

__all__ = ["DeploymentStatus", "KubernetesCluster"]


@dataclass(frozen=True)
class DeploymentStatus:
    """One Deployment of the fleet as the cluster reports it."""

    name: str
    server: str | None
    replicas: int
    ready: int
    available: int
    updated: int

    @property
    def healthy(self) -> bool:
        return self.ready >= self.replicas


class KubernetesCluster:
    """The fleet's namespace in a cluster, through the official ``kubernetes`` client.

    Without ``api_client`` the current kubeconfig context is used (``context`` picks another),
    or the in-cluster service account when there is no kubeconfig.
    """

    def __init__(
        self,
        namespace: str = "default",
        *,
        api_client: Any = None,
        context: str | None = None,
        discovery_cache: Path | None = None,
    ) -> None:
        from kubernetes import client as client_module
        from kubernetes import config as config_module
        from kubernetes import dynamic as dynamic_module

        # The client is only partly annotated; treat it as untyped rather than guess.
        client: Any = client_module
        config: Any = config_module
        dynamic: Any = dynamic_module
        self.namespace = namespace
        if api_client is None:
            try:
                # KUBECONFIG as it is now (the client reads it once, at import), like kubectl.
                api_client = config.new_client_from_config(
                    config_file=os.environ.get("KUBECONFIG") or None, context=context
                )
            except (config.ConfigException, OSError) as exc:
                try:
                    config.load_incluster_config()
                    api_client = client.ApiClient()
                except config.ConfigException:
                    raise KubernetesError(
                        f"No usable kubeconfig ({exc}). Point KUBECONFIG at one, or pick a context with "
                        "--context; `kubectl config current-context` shows the current one"
                    ) from None
        try:
            self._dynamic: Any = dynamic.DynamicClient(
                api_client, cache_file=str(discovery_cache) if discovery_cache else None
            )
        except Exception as exc:
            raise _cluster_error(exc, "discover the cluster's API") from None

    def _resource(self, api_version: str, kind: str) -> Any:
        try:
            return self._dynamic.resources.get(api_version=api_version, kind=kind)
        except Exception as exc:
            raise _cluster_error(exc, f"find {kind} ({api_version})") from None

    def apply(self, manifests: Iterable[Manifest], *, force: bool = False) -> list[str]:
        """Server-side apply each manifest as field manager ``mcpfleet``; ``force`` takes over fields
        another manager owns. Returns ``Kind/name`` of each applied object."""
        applied = []
        for manifest in manifests:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            resource = self._resource(manifest["apiVersion"], kind)
            try:
                self._dynamic.server_side_apply(
                    resource,
                    body=manifest,
                    name=name,
                    namespace=self.namespace,
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True if force else None,
                )
            except Exception as exc:
                raise _cluster_error(exc, f"apply {kind}/{name}") from None
            applied.append(f"{kind}/{name}")
        return applied

    def scale(self, server: str, replicas: int) -> None:
        """Set the replicas of the server's Deployment (``mcp-NAME``) through its scale subresource."""
        if replicas < 0:
            raise KubernetesError(f"replicas must be 0 or more, not {replicas}")
        name = server_resource_name(check_server_name(server))
        deployments = self._resource("apps/v1", "Deployment")
        try:
            self._dynamic.patch(
                deployments.subresources["scale"],
                body={"spec": {"replicas": replicas}},
                name=name,
                namespace=self.namespace,
                content_type="application/merge-patch+json",
                field_manager=FIELD_MANAGER,
            )
        except Exception as exc:
            raise _cluster_error(exc, f"scale Deployment/{name}") from None

    def status(self) -> list[DeploymentStatus]:
        """Every Deployment of the fleet in the namespace, with its replica counts."""
        deployments = self._resource("apps/v1", "Deployment")
        try:
            found = self._dynamic.get(
                deployments, namespace=self.namespace, label_selector="app.kubernetes.io/part-of=mcpfleet"
            ).to_dict()
        except Exception as exc:
            raise _cluster_error(exc, "list Deployments") from None
        rows = []
        for item in found.get("items") or []:
            meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
            rows.append(
                DeploymentStatus(
                    name=meta["name"],
                    server=(meta.get("labels") or {}).get("mcpfleet/server"),
                    replicas=int(spec.get("replicas", 1)),
                    ready=int(status.get("readyReplicas") or 0),
                    available=int(status.get("availableReplicas") or 0),
                    updated=int(status.get("updatedReplicas") or 0),
                )
            )
        return sorted(rows, key=lambda r: r.name)


def _cluster_error(exc: Exception, doing: str) -> KubernetesError:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    if isinstance(exc, ResourceNotFoundError):
        return KubernetesError(f"Could not {doing}: the cluster does not serve that API ({exc})")
    if isinstance(exc, ApiException):
        status = getattr(exc, "status", None)
        body = str(getattr(exc, "body", "") or getattr(exc, "reason", ""))[:500]
        hint = {
            401: "the kubeconfig's credentials were refused; log in again",
            403: "the kubeconfig's user may not do this; ask for a Role allowing it in the namespace",
            404: "it is not in this namespace; run `mcpfleet deploy k8s apply` first, or pass --namespace",
            409: "another field manager owns these fields; rerun with --force to take them over",
            422: "the cluster rejected the manifest; check the Kubernetes version and the fleet file",
        }.get(status or 0, "see the cluster's answer above")
        return KubernetesError(f"Could not {doing}: HTTP {status}: {body.strip()}. {hint}")
    return KubernetesError(f"Could not {doing}: {type(exc).__name__}: {exc}. Is the cluster reachable?")
