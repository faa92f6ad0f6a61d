"""Rendering: the Compose project and the Kubernetes manifests of a sample fleet (npm, pypi,
command and remote servers; secrets as references and in clear), checked for structure, against
the Kubernetes schemas, and for secrets never written in clear outside .env / the Secret."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from deploy_helpers import LITERAL_SECRET, REFERENCED_SECRET, SAMPLE, SEARCH_SECRET
from mcpfleet.cli.main import app
from mcpfleet.config import FleetConfig, load_config, parse_config
from mcpfleet.deploy.compose import render_compose
from mcpfleet.deploy.kubernetes import render_manifests, write_manifests
from mcpfleet.exceptions import DeployError

pytestmark = pytest.mark.timeout(60)
KUBERNETES_VERSION = "1.31.0"  # pinned: the schemas kubernetes-validate checks against


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_compose_has_a_service_per_local_server_and_a_gateway(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    files = render_compose(sample, tmp_path, image="mcpfleet:1.0", environ=environ)
    doc = yaml.safe_load(files.compose_file.read_text())
    services = doc["services"]
    # The remote server has no container: the gateway calls it where it is.
    assert set(services) == {"mcp-memory", "mcp-time", "mcp-toy", "mcpfleet-gateway"}
    for name, service in services.items():
        assert service["image"] == "mcpfleet:1.0"
        assert service["restart"] == "unless-stopped"
        assert service["network_mode"] == "host"
        assert service["healthcheck"]["test"][:2] == ["CMD", "python"]
        assert "/readyz" in service["healthcheck"]["test"][-1]
        assert f"{name}-home:/var/lib/mcpfleet" in service["volumes"]
        assert "./fleet:/etc/mcpfleet:ro" in service["volumes"]
    assert services["mcpfleet-gateway"]["depends_on"] == {
        s: {"condition": "service_healthy"} for s in ("mcp-memory", "mcp-time", "mcp-toy")
    }
    assert doc["x-mcpfleet"]["gateway_url"] == "http://127.0.0.1:8765" == files.gateway_url

    # Each server's container serves that one server; ports follow the gateway's.
    toy = load_config(files.config_dir / "server-toy.yaml")
    assert list(toy.servers) == ["toy"] and toy.servers["toy"].args == ["toy.py"]
    assert toy.gateway.port == 8768 and toy.auth.mode == "none" and not toy.gateway.on_demand.enabled
    memory = load_config(files.config_dir / "server-memory.yaml")
    assert memory.servers["memory"].instances == 2  # one container runs both instances
    assert "--port" in services["mcp-toy"]["entrypoint"] and "8768" in services["mcp-toy"]["entrypoint"]

    # The gateway reaches each server's container as a remote server; the remote one is kept.
    gateway = load_config(files.config_dir / "gateway.yaml")
    urls = {name: spec.package.identifier for name, spec in gateway.servers.items()}
    assert urls == {
        "memory": "http://127.0.0.1:8766/servers/memory/mcp",
        "time": "http://127.0.0.1:8767/servers/time/mcp",
        "toy": "http://127.0.0.1:8768/servers/toy/mcp",
        "search": "https://search.example.com/mcp",
    }
    assert gateway.auth.mode == "none" and gateway.home == "/var/lib/mcpfleet"
    entry = services["mcpfleet-gateway"]["entrypoint"]
    assert entry[:3] == ["mcpfleet", "deploy", "wait"] and "http://127.0.0.1:8768/readyz" in entry
    assert entry[entry.index("--") + 1 :][:4] == ["mcpfleet", "--config", "/etc/mcpfleet/gateway.yaml", "up"]


def test_compose_passes_each_container_only_the_secrets_it_reads(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    files = render_compose(sample, tmp_path, environ=environ)
    services = yaml.safe_load(files.compose_file.read_text())["services"]
    env_names = {name: set(s["environment"]) - {"MCPFLEET_LOG_FORMAT"} for name, s in services.items()}
    assert env_names == {
        "mcp-memory": {"GH_TOKEN"},
        "mcp-time": {"MCPFLEET_TIME_API_KEY"},
        "mcp-toy": set(),
        # The gateway's replicas share a session secret, made at render time unless the fleet has one.
        "mcpfleet-gateway": {"SEARCH_TOKEN", "MCPFLEET_SESSION_SECRET"},
    }
    assert services["mcp-memory"]["environment"]["GH_TOKEN"].startswith("${GH_TOKEN:?")
    lines = files.env_file.read_text().splitlines()
    assert f"GH_TOKEN='{REFERENCED_SECRET}'" in lines and f"MCPFLEET_TIME_API_KEY='{LITERAL_SECRET}'" in lines
    assert any(line.startswith("MCPFLEET_SESSION_SECRET='") and len(line) > 60 for line in lines)
    assert files.env_file.stat().st_mode & 0o777 == 0o600
    assert files.missing == ()


def test_a_variable_unset_at_render_time_is_reported_and_left_for_the_user(
    sample: FleetConfig, tmp_path: Path
) -> None:
    files = render_compose(sample, tmp_path, environ={"GH_TOKEN": "x"})
    assert files.missing == ("SEARCH_TOKEN",)
    assert "# SEARCH_TOKEN=" in files.env_file.read_text()


def test_bridge_network_publishes_only_the_gateway_on_loopback(tmp_path: Path) -> None:
    config = parse_config(SAMPLE)
    files = render_compose(config, tmp_path, network="bridge", environ={})
    services = yaml.safe_load(files.compose_file.read_text())["services"]
    assert all("network_mode" not in s for s in services.values())
    assert services["mcpfleet-gateway"]["ports"] == ["127.0.0.1:8765:8765"]
    assert all("ports" not in s for n, s in services.items() if n != "mcpfleet-gateway")
    gateway = load_config(files.config_dir / "gateway.yaml")
    assert gateway.servers["toy"].package.identifier == "http://mcp-toy:8768/servers/toy/mcp"
    assert load_config(files.config_dir / "server-toy.yaml").gateway.host == "0.0.0.0"


def test_a_gateway_beyond_loopback_without_auth_is_refused_with_what_to_write(tmp_path: Path) -> None:
    config = parse_config(SAMPLE.replace("auth: none\n", ""))
    with pytest.raises(DeployError, match=r"auth: \{mode: api_key\}"):
        render_compose(config, tmp_path, network="bridge", environ={})
    with pytest.raises(DeployError, match=r"listens on 0\.0\.0\.0"):
        render_manifests(config, environ={})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  box:\n    package: {type: oci, image: mcp/fetch}\n", "oci packages cannot be bridged"),
        ("  to_y:\n    package: {type: command, command: x}\n"
         "  to-y:\n    package: {type: command, command: y}\n",
         "both become 'mcp-to-y'"),
    ],
)  # fmt: skip
def test_servers_that_cannot_be_containerised_are_refused(extra: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=message):
        render_compose(parse_config(SAMPLE + extra), tmp_path, environ={})


def test_a_password_inside_a_url_is_refused_rather_than_written(tmp_path: Path) -> None:
    config = parse_config(SAMPLE + "database_url: postgresql://fleet:hunter2@db/fleet\n")
    with pytest.raises(DeployError, match="PGPASSWORD") as caught:
        render_compose(config, tmp_path, environ={})
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "compose.yaml").exists()


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


def test_podman_compose_reads_the_rendered_file(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    tool = Path(sys.executable).parent / "podman-compose"
    if not tool.exists() or shutil.which("podman") is None:
        pytest.skip("podman-compose needs podman to run `config`; podman is not installed here")
    files = render_compose(sample, tmp_path, environ=environ)
    result = subprocess.run(
        [str(tool), "--env-file", str(files.env_file), "-f", str(files.compose_file), "config"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["services"]["mcp-memory"]["environment"]["GH_TOKEN"] == REFERENCED_SECRET
    assert resolved["services"]["mcpfleet-gateway"]["network_mode"] == "host"


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
