"""The Kubernetes manifests rendered from a sample fleet: checked against the Kubernetes schemas,
for probes, resources and their fleet file, and for secrets never written in clear outside .env /
the Secret; and `mcpfleet deploy` rendering both."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from deploy_helpers import LITERAL_SECRET, REFERENCED_SECRET, SAMPLE, SEARCH_SECRET
from mcpfleet.cli.main import app
from mcpfleet.config import FleetConfig, parse_config
from mcpfleet.deploy.compose import render_compose
from mcpfleet.deploy.kubernetes import render_manifests, write_manifests

pytestmark = pytest.mark.timeout(60)


KUBERNETES_VERSION = "1.31.0"  # pinned: the schemas kubernetes-validate checks against


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_manifests_validate_against_the_kubernetes_schemas(
    sample: FleetConfig, environ: dict[str, str]
) -> None:
    manifests = render_manifests(
        sample, namespace="mcp", image="registry.example.com/mcpfleet:1.0", environ=environ
    )
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    kinds = [m["kind"] for m in manifests]
    assert kinds[:2] == ["ConfigMap", "Secret"]  # what the pods mount and read comes first
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "ConfigMap": 1, "Secret": 1, "Deployment": 4, "Service": 4,
        "HorizontalPodAutoscaler": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1,
    }  # fmt: skip
    assert all(m["metadata"]["namespace"] == "mcp" for m in manifests)


def test_a_broken_manifest_fails_validation(sample: FleetConfig) -> None:
    """The schema check above can fail: a Deployment without a selector does."""
    deployment = by_kind(render_manifests(sample, environ={}), "Deployment")["mcp-toy"]
    del deployment["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_deployments_have_probes_resources_and_their_fleet_file(
    sample: FleetConfig, environ: dict[str, str]
) -> None:
    manifests = render_manifests(sample, environ=environ)
    deployments = by_kind(manifests, "Deployment")
    assert set(deployments) == {"mcp-memory", "mcp-time", "mcp-toy", "mcpfleet-gateway"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        port = container["ports"][0]["containerPort"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["command"][container["command"].index("--port") + 1] == str(port)
        assert set(container["resources"]) == {"requests", "limits"}
        assert pod["restartPolicy"] == "Always"
        key = pod["volumes"][0]["configMap"]["items"][0]["key"]
        assert key == ("gateway.yaml" if name == "mcpfleet-gateway" else f"server-{name[4:]}.yaml")
        assert container["command"][container["command"].index("--config") + 1] == f"/etc/mcpfleet/{key}"
    # Replicas: a server's instances are pods; the gateway's belong to its autoscaler.
    assert deployments["mcp-memory"]["spec"]["replicas"] == 2
    assert "replicas" not in deployments["mcpfleet-gateway"]["spec"]
    config_map = by_kind(manifests, "ConfigMap")["mcpfleet-config"]
    memory = parse_config(config_map["data"]["server-memory.yaml"])
    assert memory.servers["memory"].instances == 1
    gateway = parse_config(config_map["data"]["gateway.yaml"])
    assert gateway.servers["toy"].package.identifier == "http://mcp-toy:8768/servers/toy/mcp"
    hpa = by_kind(manifests, "HorizontalPodAutoscaler")["mcpfleet-gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mcpfleet-gateway"
    pdb = by_kind(manifests, "PodDisruptionBudget")["mcpfleet-gateway"]
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "mcpfleet-gateway"
    services = by_kind(manifests, "Service")
    assert services["mcp-toy"]["spec"]["ports"][0]["port"] == 8768


def test_secrets_are_never_written_in_clear(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    """A literal secret and a ${VAR} one: only .env holds them as they are; the Secret base64."""
    compose = render_compose(sample, tmp_path / "compose", environ=environ)
    manifests = render_manifests(sample, environ=environ)
    write_manifests(manifests, tmp_path / "k8s")
    secrets = (LITERAL_SECRET, REFERENCED_SECRET, SEARCH_SECRET)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 10
    for path in written:
        text = path.read_text()
        leaked = [s for s in secrets if s in text]
        assert leaked == ([*secrets] if path == compose.env_file else []), path
    secret = by_kind(manifests, "Secret")["mcpfleet-secrets"]
    assert "stringData" not in secret
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert len(decoded.pop("MCPFLEET_SESSION_SECRET")) >= 40  # made at render time for the replicas
    assert decoded == {
        "GH_TOKEN": REFERENCED_SECRET,
        "MCPFLEET_TIME_API_KEY": LITERAL_SECRET,
        "SEARCH_TOKEN": SEARCH_SECRET,
    }
    # The literal became a reference that the container resolves from the Secret.
    time_file = parse_config(by_kind(manifests, "ConfigMap")["mcpfleet-config"]["data"]["server-time.yaml"])
    assert time_file.servers["time"].env == {"API_KEY": "${MCPFLEET_TIME_API_KEY}", "LOG_LEVEL": "debug"}
    (container,) = by_kind(manifests, "Deployment")["mcp-time"]["spec"]["template"]["spec"]["containers"]
    assert {
        "name": "MCPFLEET_TIME_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "mcpfleet-secrets", "key": "MCPFLEET_TIME_API_KEY"}},
    } in container["env"]


def test_cli_renders_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(SAMPLE)
    monkeypatch.setenv("GH_TOKEN", REFERENCED_SECRET)
    monkeypatch.delenv("SEARCH_TOKEN", raising=False)
    runner = CliRunner()
    out = runner.invoke(app, ["-c", str(fleet), "deploy", "compose", "--out", str(tmp_path / "c")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "c" / "compose.yaml").exists() and "SEARCH_TOKEN" in out.output
    out = runner.invoke(
        app, ["-c", str(fleet), "deploy", "k8s", "render", "--out", str(tmp_path / "k"), "-n", "mcp",
              "--image", "example.com/mcpfleet:2"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    files = sorted((tmp_path / "k").iterdir())
    assert files[0].name == "01-configmap-mcpfleet-config.yaml" and len(files) == 13
    deployment = yaml.safe_load((tmp_path / "k" / "03-deployment-mcp-memory.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/mcpfleet:2"
