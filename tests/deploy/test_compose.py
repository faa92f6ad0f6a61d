"""The Compose project rendered from a sample fleet (npm, pypi, command and remote servers;
secrets as references and in clear): one service per local server, each given only the secrets
it reads, host or bridge networking, and a file podman-compose reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy_helpers import LITERAL_SECRET, REFERENCED_SECRET, SAMPLE
from mcpfleet.config import FleetConfig, load_config, parse_config
from mcpfleet.deploy.compose import render_compose

pytestmark = pytest.mark.timeout(60)


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
