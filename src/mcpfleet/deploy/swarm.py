"""The fleet as a Docker Swarm stack: a stack file rendered from the fleet file, deployed with
``docker stack deploy``.

    files = render_stack(config, Path("deploy/swarm"), secrets="file")   # stack.yaml, fleet/, secrets/
    await stack_deploy(files.stack_file, "mcpfleet")                     # docker stack deploy -c ...

The container design is :mod:`mcpfleet.deploy.plan`'s, as for Kubernetes: a service per server
whose replicas are its instances (one per container), reached by the gateway at its service name
on an overlay network, and the gateway published on the swarm's ingress. Every service:

- rolls one task at a time, starting the new task before stopping the old one, gated on its
  health check (``/readyz``); a task that fails it within ``monitor`` rolls the whole service
  back (``update_config.failure_action: rollback``, then ``rollback_config``);
- restarts on any exit, with a delay, and stops with a grace period for in-flight calls to drain;
- reads its fleet file from a Swarm config whose name carries a hash of its content (configs
  cannot change, so a new content is a new config, and the service rolls to it);
- reads secrets from Swarm secrets: the fleet files refer to them as
  ``${file:/run/secrets/NAME}`` (see :mod:`mcpfleet.secrets`). Their values known where the
  stack is rendered (the environment, the fleet's ``.env``, literals lifted out of the fleet
  file, a session secret made for the gateway's replicas) go to ``secrets/NAME`` (mode 0600).
  ``secrets="external"``: the stack expects them created beforehand (``docker secret create
  NAME secrets/NAME``); ``secrets="file"``: ``docker stack deploy`` creates them from the files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from mcpfleet.config import FleetConfig
from mcpfleet.deploy.plan import CONFIG_DIR, DEFAULT_IMAGE, DeployPlan, ServiceUnit, plan_fleet
from mcpfleet.exceptions import DeployError, EngineMissingError

__all__ = ["SecretSource", "StackFiles", "render_stack", "stack_deploy", "stack_document"]

SecretSource = Literal["external", "file"]
NETWORK = "mcpfleet"
SECRETS_DIR = "/run/secrets"
_LABELS = {"app.kubernetes.io/part-of": "mcpfleet"}


@dataclass(frozen=True)
class StackFiles:
    """What :func:`render_stack` wrote, and the secrets it had no value for."""

    stack_file: Path
    config_dir: Path
    secrets_dir: Path  # a file per secret whose value was known (mode 0600)
    secrets: tuple[str, ...]  # every Swarm secret the stack uses
    missing: tuple[str, ...]


def _from_secret_files(text: str, variables: tuple[str, ...]) -> str:
    """A fleet file whose ``${VAR}`` / ``${VAR:-default}`` references to ``variables`` read the
    Swarm secret files instead (``$$`` stays a literal dollar)."""
    wanted = set(variables)

    def swap(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None or name not in wanted:
            return match.group(0)
        return "${file:" + f"{SECRETS_DIR}/{name}" + "}"

    return re.sub(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", swap, text)


def _config_name(unit: ServiceUnit, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"mcpfleet-{unit.config_key.removesuffix('.yaml')}-{digest}"


def _healthcheck(unit: ServiceUnit) -> dict[str, Any]:
    # python is in every mcpfleet image; curl and wget may not be.
    code = f"import urllib.request; urllib.request.urlopen({unit.probe_url('/readyz')!r}, timeout=4)"
    return {
        "test": ["CMD", "python", "-c", code],
        "interval": "10s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "120s",  # the first start installs the server's package
    }


def _deploy(unit: ServiceUnit, replicas: int) -> dict[str, Any]:
    return {
        "mode": "replicated",
        "replicas": replicas,
        "update_config": {
            "parallelism": 1,
            "delay": "10s",
            "order": "start-first",  # the old task serves until the new one is healthy
            "monitor": "60s",  # a task failing its health check within this rolls the service back
            "failure_action": "rollback",
            "max_failure_ratio": 0,
        },
        "rollback_config": {
            "parallelism": 1,
            "delay": "0s",
            "order": "start-first",
            "monitor": "30s",
            "failure_action": "pause",  # a rollback that fails too waits for an operator
        },
        "restart_policy": {"condition": "any", "delay": "5s", "window": "120s"},
        "resources": {
            "limits": {"cpus": "1", "memory": "1G"},
            "reservations": {"cpus": "0.1", "memory": "256M"},
        },
        "labels": {**_LABELS, "mcpfleet.server": unit.server or ""},
    }


def _service(unit: ServiceUnit, image: str, config: str, replicas: int) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": image,
        "entrypoint": unit.command,
        "environment": {"MCPFLEET_LOG_FORMAT": "json"},
        "configs": [{"source": config, "target": f"{CONFIG_DIR}/{unit.config_key}", "mode": 0o444}],
        "healthcheck": _healthcheck(unit),
        "stop_grace_period": "40s",  # mcpfleet drains in-flight calls before it stops its servers
        "networks": [NETWORK],
        "deploy": _deploy(unit, replicas),
    }
    if unit.variables:
        service["secrets"] = [{"source": v, "target": v} for v in unit.variables]
    if unit.server is None:
        service["ports"] = [
            {"target": unit.port, "published": unit.port, "protocol": "tcp", "mode": "ingress"}
        ]
    return service


def stack_document(
    plan: DeployPlan,
    image: str = DEFAULT_IMAGE,
    *,
    secrets: SecretSource = "external",
    gateway_replicas: int = 2,
    texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The stack file as a mapping. ``texts``: each unit's fleet file by config key (default:
    the plan's, with secret references read from the secret files)."""
    texts = texts or {u.config_key: _from_secret_files(u.config_text, u.variables) for u in plan.units}
    configs: dict[str, Any] = {}
    services: dict[str, Any] = {}
    for unit in plan.units:
        name = _config_name(unit, texts[unit.config_key])
        configs[name] = {"name": name, "file": f"./fleet/{unit.config_key}"}
        replicas = gateway_replicas if unit.server is None else unit.replicas
        services[unit.name] = _service(unit, image, name, replicas)
    variables = sorted({v for unit in plan.units for v in unit.variables})
    if secrets == "external":
        secret_defs = {v: {"external": True, "name": v} for v in variables}
    else:
        secret_defs = {v: {"file": f"./secrets/{v}"} for v in variables}
    return {
        "version": "3.9",  # what `docker stack deploy` reads; Compose itself ignores it
        "services": services,
        "networks": {NETWORK: {"driver": "overlay", "attachable": False, "labels": dict(_LABELS)}},
        "configs": configs,
        "secrets": secret_defs,
    }


def render_stack(
    config: FleetConfig,
    out_dir: Path,
    *,
    image: str = DEFAULT_IMAGE,
    secrets: SecretSource = "external",
    gateway_replicas: int = 2,
    environ: Mapping[str, str] | None = None,
    gateway_port: int | None = None,
    base_port: int | None = None,
) -> StackFiles:
    """Write ``stack.yaml``, ``fleet/`` (one fleet file per service) and ``secrets/`` (a file
    per secret whose value is known here) to ``out_dir``."""
    if gateway_replicas < 1:
        raise DeployError("--gateway-replicas must be at least 1")
    # "bridge": servers reached by service name (the overlay network's DNS); kubernetes=True: a
    # service's replicas are the server's instances, one per container.
    plan = plan_fleet(
        config,
        network="bridge",
        kubernetes=True,
        environ=environ,
        gateway_port=gateway_port,
        base_port=base_port,
    )
    texts = {u.config_key: _from_secret_files(u.config_text, u.variables) for u in plan.units}
    document = stack_document(plan, image, secrets=secrets, gateway_replicas=gateway_replicas, texts=texts)
    config_dir = out_dir / "fleet"
    config_dir.mkdir(parents=True, exist_ok=True)
    for key, text in texts.items():
        (config_dir / key).write_text(text, encoding="utf-8")
    secrets_dir = out_dir / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    for name, value in plan.secrets.items():
        fd = os.open(secrets_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value)
    stack_file = out_dir / "stack.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return StackFiles(stack_file, config_dir, secrets_dir, tuple(document["secrets"]), plan.missing)


async def stack_deploy(stack_file: str | Path, name: str = "mcpfleet", *, docker: str | None = None) -> str:
    """``docker stack deploy -c FILE NAME`` (prune, registry auth forwarded); its output.

    Raises :class:`EngineMissingError` when no Docker client or no swarm manager answers.
    """
    path = await asyncio.to_thread(Path(stack_file).resolve)
    if not await asyncio.to_thread(path.is_file):
        raise DeployError(f"No stack file at {path}; write one with `mcpfleet deploy swarm render`")
    client = docker or shutil.which("docker")
    if client is None:
        raise EngineMissingError("No `docker` client here: install Docker Engine (and `docker swarm init`)")
    argv = [client, "stack", "deploy", "--prune", "--with-registry-auth", "-c", str(path), name]
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=path.parent, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DeployError(f"`{' '.join(argv)}` did not finish in 10 minutes") from None
    text = output.decode(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-20:])
        if "Cannot connect to the Docker daemon" in text or "not a swarm manager" in text:
            raise EngineMissingError(
                f"`docker stack deploy` needs a Docker engine that is a swarm manager ({tail}); start "
                "dockerd and run `docker swarm init`, or point DOCKER_HOST at a manager"
            )
        raise DeployError(f"`{' '.join(argv)}` failed (exit {process.returncode}):\n{tail}")
    return text
