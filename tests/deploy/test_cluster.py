"""apply / scale / status against a mocked Kubernetes API.

No cluster runs on this machine, so these tests stand up a small fake of the Kubernetes API
server on a loopback port: it answers API discovery (/version, /api, /apis, the resource lists)
and records every request. The official client really runs against it (discovery, URL
building, serialisation), so the tests see what a cluster would receive: the PATCH method, the
Content-Type that selects server-side apply, the fieldManager and force query parameters, and
the scale patch. What the fake cannot show is a real API server's merge and conflict logic.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client
from typer.testing import CliRunner

from mcpfleet.cli.main import app
from mcpfleet.config import FleetConfig
from mcpfleet.deploy.cluster import KubernetesCluster
from mcpfleet.deploy.kubernetes import render_manifests
from mcpfleet.exceptions import KubernetesError

pytestmark = pytest.mark.timeout(30)

RESOURCES = {
    "/api/v1": [("configmaps", "ConfigMap"), ("secrets", "Secret"), ("services", "Service")],
    "/apis/apps/v1": [("deployments", "Deployment"), ("deployments/scale", "Scale")],
    "/apis/autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler")],
    "/apis/policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget")],
    "/apis/networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy")],
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any


@dataclass
class FakeApi:
    url: str
    requests: list[Request] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    conflict: bool = False

    def patches(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PATCH"]


def _discovery(path: str) -> Any:
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"]}
    if path == "/apis":
        groups = []
        for prefix in RESOURCES:
            if prefix.startswith("/apis/"):
                group, version = prefix.split("/")[2:]
                gv = {"groupVersion": f"{group}/{version}", "version": version}
                groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if path in RESOURCES:
        resources = [
            {
                "name": name,
                "singularName": "",
                "namespaced": True,
                "kind": kind,
                "verbs": ["get", "list", "patch"],
            }
            for name, kind in RESOURCES[path]
        ]
        return {"kind": "APIResourceList", "groupVersion": path.split("/", 2)[-1], "resources": resources}
    return None


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.requests.append(Request("GET", parts.path, parse_qs(parts.query), "", None))
            found = _discovery(parts.path)
            if found is None and parts.path.endswith("/deployments"):
                found = {"kind": "DeploymentList", "apiVersion": "apps/v1", "items": fake.deployments}
            self._answer(200, found) if found is not None else self._answer(
                404, {"kind": "Status", "code": 404}
            )

        def do_PATCH(self) -> None:
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            fake.requests.append(
                Request("PATCH", parts.path, parse_qs(parts.query), self.headers["Content-Type"], body)
            )
            if fake.conflict and "force" not in parse_qs(parts.query):
                message = (
                    'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas'
                )
                self._answer(409, {"kind": "Status", "code": 409, "reason": "Conflict", "message": message})
            elif parts.path.endswith("/scale"):
                name = parts.path.split("/")[-2]
                self._answer(
                    200, {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": name}, **body}
                )
            else:
                self._answer(200, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def cluster(api: FakeApi, tmp_path: Path, namespace: str = "mcp") -> KubernetesCluster:
    configuration = client.Configuration(host=api.url)
    return KubernetesCluster(
        namespace, api_client=client.ApiClient(configuration), discovery_cache=tmp_path / "discovery.json"
    )


def test_apply_is_a_server_side_apply_as_field_manager_mcpfleet(
    api: FakeApi, tmp_path: Path, sample: FleetConfig, environ: dict[str, str]
) -> None:
    manifests = render_manifests(sample, namespace="mcp", environ=environ)
    applied = cluster(api, tmp_path).apply(manifests)
    assert applied[:3] == ["ConfigMap/mcpfleet-config", "Secret/mcpfleet-secrets", "Deployment/mcp-memory"]
    patches = api.patches()
    assert len(patches) == len(manifests) == 13
    for request, manifest in zip(patches, manifests, strict=True):
        assert request.content_type == "application/apply-patch+yaml"
        assert request.query == {"fieldManager": ["mcpfleet"]}  # no force unless asked
        assert request.body == manifest
    paths = [r.path for r in patches]
    assert paths[0] == "/api/v1/namespaces/mcp/configmaps/mcpfleet-config"
    assert "/apis/apps/v1/namespaces/mcp/deployments/mcp-memory" in paths
    assert "/apis/autoscaling/v2/namespaces/mcp/horizontalpodautoscalers/mcpfleet-gateway" in paths
    assert "/apis/policy/v1/namespaces/mcp/poddisruptionbudgets/mcpfleet-gateway" in paths


def test_a_conflict_says_to_force_and_force_takes_the_fields_over(
    api: FakeApi, tmp_path: Path, sample: FleetConfig
) -> None:
    api.conflict = True
    manifests = render_manifests(sample, namespace="mcp", environ={})
    with pytest.raises(KubernetesError, match=r"HTTP 409.*rerun with --force"):
        cluster(api, tmp_path).apply(manifests)
    api.requests.clear()
    cluster(api, tmp_path).apply(manifests, force=True)
    assert all(r.query == {"fieldManager": ["mcpfleet"], "force": ["true"]} for r in api.patches())


def test_scale_patches_the_deployments_scale_subresource(api: FakeApi, tmp_path: Path) -> None:
    cluster(api, tmp_path).scale("file_system", 5)
    (patch,) = api.patches()
    assert patch.path == "/apis/apps/v1/namespaces/mcp/deployments/mcp-file-system/scale"
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == {"spec": {"replicas": 5}}
    assert patch.query == {"fieldManager": ["mcpfleet"]}
    with pytest.raises(KubernetesError, match="0 or more"):
        cluster(api, tmp_path).scale("toy", -1)


def test_status_lists_the_fleets_deployments(api: FakeApi, tmp_path: Path) -> None:
    api.deployments = [
        {
            "metadata": {"name": "mcp-toy", "labels": {"mcpfleet/server": "toy"}},
            "spec": {"replicas": 3},
            "status": {"readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 3},
        },
        {
            "metadata": {"name": "mcpfleet-gateway", "labels": {}},
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2},
        },
    ]
    rows = cluster(api, tmp_path).status()
    assert [(r.name, r.server, r.replicas, r.ready, r.healthy) for r in rows] == [
        ("mcp-toy", "toy", 3, 2, False),
        ("mcpfleet-gateway", None, 2, 2, True),
    ]
    (listing,) = [r for r in api.requests if r.path.endswith("/deployments")]
    assert listing.path == "/apis/apps/v1/namespaces/mcp/deployments"
    assert listing.query["labelSelector"] == ["app.kubernetes.io/part-of=mcpfleet"]


def test_cli_apply_scale_status_through_a_kubeconfig(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
                "users": [{"name": "me", "user": {"token": "t"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me"}}],
            }
        )
    )  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text("auth: none\nservers:\n  toy:\n    package: {type: command, command: python3}\n")
    runner = CliRunner()
    out = runner.invoke(app, ["-c", str(fleet), "deploy", "k8s", "apply", "-n", "mcp", "--force"])
    assert out.exit_code == 0, out.output
    assert "applied Deployment/mcp-toy" in out.output
    assert all(r.query.get("force") == ["true"] for r in api.patches())
    assert any(r.path.endswith("/deployments/mcp-toy") for r in api.patches())
    api.requests.clear()
    out = runner.invoke(app, ["-c", str(fleet), "deploy", "k8s", "scale", "toy", "4", "-n", "mcp"])
    assert out.exit_code == 0, out.output
    assert [r.body for r in api.patches()] == [{"spec": {"replicas": 4}}]
    unknown = runner.invoke(app, ["-c", str(fleet), "deploy", "k8s", "scale", "tyo", "4"])
    assert unknown.exit_code == 1 and "Did you mean 'toy'" in unknown.output
    out = runner.invoke(app, ["-c", str(fleet), "deploy", "k8s", "status", "-n", "mcp"])
    assert out.exit_code == 1 and "No mcpfleet Deployments in namespace mcp" in out.output


def test_without_a_kubeconfig_the_error_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesError, match="Point KUBECONFIG at one"):
        KubernetesCluster("mcp")


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    configuration = client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    with pytest.raises(KubernetesError, match="Is the cluster reachable"):
        KubernetesCluster(
            "mcp", api_client=client.ApiClient(configuration), discovery_cache=tmp_path / "d.json"
        )
