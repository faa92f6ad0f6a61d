"""The fleet as a Compose project: rendered files, and ``up`` / ``down`` through an engine CLI.

    files = render_compose(config, Path("deploy"))      # compose.yaml, .env, fleet/*.yaml
    url = await compose_up(files.compose_file, files.env_file)   # waits for /readyz

Engines, tried in this order: ``docker compose``, ``docker-compose``, ``podman-compose``,
``podman compose``; a Docker client counts only while its engine answers ``docker info``.
The container design is in :mod:`mcpfleet.deploy.plan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from mcpfleet.config import FleetConfig
from mcpfleet.deploy.plan import (
    CONFIG_DIR,
    DEFAULT_IMAGE,
    HOME_DIR,
    DeployPlan,
    Network,
    ServiceUnit,
    plan_fleet,
)
from mcpfleet.exceptions import DeployError, EngineMissingError

__all__ = [
    "ComposeEngine",
    "ComposeFiles",
    "compose_document",
    "compose_down",
    "compose_up",
    "deploy_with_docker",
    "find_engine",
    "render_compose",
    "write_env_file",
]

PROJECT = "mcpfleet"
_INSTALL_HINT = (
    "Install one of: Docker Engine with the Compose plugin (`docker compose`, "
    "https://docs.docker.com/compose/install/), or podman with podman-compose "
    "(`apt-get install podman` and `pip install podman-compose`)"
)


@dataclass(frozen=True)
class ComposeFiles:
    """What :func:`render_compose` wrote, and the secrets it could not find values for."""

    compose_file: Path
    env_file: Path
    config_dir: Path
    gateway_url: str
    missing: tuple[str, ...]


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


def _service(unit: ServiceUnit, image: str, network: Network) -> dict[str, Any]:
    environment: dict[str, str] = {"MCPFLEET_LOG_FORMAT": "json"}
    for variable in unit.variables:
        environment[variable] = f"${{{variable}:?{variable} is not set: add it to the .env file}}"
    service: dict[str, Any] = {
        "image": image,
        "entrypoint": unit.command,  # the whole command, whatever the image's ENTRYPOINT
        "environment": environment,
        "volumes": [f"./fleet:{CONFIG_DIR}:ro", f"{unit.name}-home:{HOME_DIR}"],
        "healthcheck": _healthcheck(unit),
        "restart": "unless-stopped",
        "stop_grace_period": "40s",  # mcpfleet drains in-flight calls before it stops its servers
        "labels": {
            "app.kubernetes.io/part-of": "mcpfleet",
            "mcpfleet.server": unit.server or "",
        },
    }
    if network == "host":
        service["network_mode"] = "host"
    elif unit.server is None:
        service["ports"] = [f"127.0.0.1:{unit.port}:{unit.port}"]
    return service


def compose_document(plan: DeployPlan, image: str = DEFAULT_IMAGE, project: str = PROJECT) -> dict[str, Any]:
    """The Compose file as a mapping: a service per server, the gateway waiting for them."""
    services = {unit.name: _service(unit, image, plan.network) for unit in plan.servers}
    gateway = _service(plan.gateway, image, plan.network)
    if plan.servers:
        gateway["depends_on"] = {unit.name: {"condition": "service_healthy"} for unit in plan.servers}
    services[plan.gateway.name] = gateway
    return {
        "name": project,
        "x-mcpfleet": {"gateway_url": f"http://127.0.0.1:{plan.gateway.port}", "network": plan.network},
        # podman-compose: no pod around the containers (a pod cannot hold host-network containers).
        "x-podman": {"in_pod": False},
        "services": services,
        "volumes": {f"{unit.name}-home": {} for unit in plan.units},
    }


def _env_line(name: str, value: str) -> str:
    if "'" in value or "\n" in value:
        raise DeployError(
            f"The value of {name} holds a quote or a line break, which .env files cannot carry safely; "
            f"put it in a file and reference it as ${{file:/run/secrets/{name.lower()}}} instead"
        )
    return f"{name}='{value}'"  # single quotes: taken literally, no $ expansion


def write_env_file(path: Path, secrets: Mapping[str, str], missing: Sequence[str] = ()) -> None:
    """Write ``.env`` (mode 0600): one ``NAME='value'`` per secret, missing ones as comments."""
    lines = ["# Secrets of the mcpfleet deployment: keep this file out of version control."]
    lines += [_env_line(name, value) for name, value in sorted(secrets.items())]
    lines += [f"# {name}=   <- not set when rendered: fill it in" for name in missing]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    path.chmod(0o600)


def render_compose(
    config: FleetConfig,
    out_dir: Path,
    *,
    image: str = DEFAULT_IMAGE,
    network: Network = "host",
    environ: Mapping[str, str] | None = None,
    gateway_port: int | None = None,
    base_port: int | None = None,
    compose_file: Path | None = None,
    env_file: Path | None = None,
    project: str = PROJECT,
) -> ComposeFiles:
    """Write ``compose.yaml``, ``.env`` and ``fleet/`` (one fleet file per container) to ``out_dir``.

    ``project`` names the Compose project (its containers and volumes are prefixed with it).
    """
    if network == "cluster":
        raise DeployError("network 'cluster' is for Kubernetes; Compose takes 'host' or 'bridge'")
    plan = plan_fleet(
        config, network=network, environ=environ, gateway_port=gateway_port, base_port=base_port
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    compose_file = compose_file or out_dir / "compose.yaml"
    env_file = env_file or out_dir / ".env"
    config_dir = compose_file.parent / "fleet"
    config_dir.mkdir(parents=True, exist_ok=True)
    for unit in plan.units:
        (config_dir / unit.config_key).write_text(unit.config_text, encoding="utf-8")
    document = compose_document(plan, image, project)
    compose_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    write_env_file(env_file, plan.secrets, plan.missing)
    return ComposeFiles(
        compose_file, env_file, config_dir, document["x-mcpfleet"]["gateway_url"], plan.missing
    )


@dataclass(frozen=True)
class ComposeEngine:
    """A Compose CLI: ``argv`` is the command before ``-f FILE`` (``("docker", "compose")``)."""

    name: str
    argv: tuple[str, ...]


async def _succeeds(*argv: str, timeout: float = 20.0) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(process.wait(), timeout) == 0
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return False


def _which(name: str) -> str | None:
    # podman-compose installed with pip into this virtual environment counts too.
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.exists() else None)


async def find_engine() -> ComposeEngine:
    """The first Compose CLI whose engine answers; :class:`EngineMissingError` naming what to install."""
    seen: list[str] = []
    docker = _which("docker")
    docker_up = docker is not None and await _succeeds(docker, "info")
    if docker is not None and await _succeeds(docker, "compose", "version"):
        if docker_up:
            return ComposeEngine("docker compose", (docker, "compose"))
        seen.append("`docker compose`, but no Docker engine answers `docker info` (start dockerd)")
    legacy = _which("docker-compose")
    if legacy is not None:
        if docker_up:
            return ComposeEngine("docker-compose", (legacy,))
        seen.append("`docker-compose`, but no Docker engine answers `docker info` (start dockerd)")
    podman = _which("podman")
    podman_up = podman is not None and await _succeeds(podman, "info")
    podman_compose = _which("podman-compose")
    if podman_compose is not None:
        if podman_up:
            return ComposeEngine("podman-compose", (podman_compose,))
        seen.append(
            "`podman-compose`, but " + ("`podman info` fails" if podman else "podman is not installed")
        )
    if podman is not None and podman_up and await _succeeds(podman, "compose", "version"):
        return ComposeEngine("podman compose", (podman, "compose"))
    found = ("Found " + "; ".join(seen) + ". ") if seen else "Found no Compose CLI. "
    raise EngineMissingError(found + _INSTALL_HINT)


async def _run(engine: ComposeEngine, compose_file: Path, env_file: Path | None, *args: str) -> str:
    argv = [*engine.argv]
    if env_file is not None:
        argv += ["--env-file", str(env_file)]
    argv += ["-f", str(compose_file), *args]
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=compose_file.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
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
        raise DeployError(f"`{' '.join(argv)}` failed (exit {process.returncode}):\n{tail}")
    return text


def _existing(compose_file: str | Path, env_file: str | Path | None) -> tuple[Path, Path | None]:
    compose_path = Path(compose_file).resolve()
    if not compose_path.is_file():
        raise DeployError(f"No Compose file at {compose_path}; write one with `mcpfleet deploy compose`")
    env_path = Path(env_file).resolve() if env_file is not None else None
    if env_path is not None and not env_path.is_file():
        raise DeployError(
            f"No env file at {env_path}; `mcpfleet deploy compose` writes one next to the Compose file"
        )
    return compose_path, env_path


def _gateway_url(compose_file: Path) -> str:
    try:
        document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"Cannot read the Compose file {compose_file}: {exc}") from None
    url = (document or {}).get("x-mcpfleet", {}).get("gateway_url") if isinstance(document, dict) else None
    if not isinstance(url, str):
        raise DeployError(
            f"{compose_file} has no x-mcpfleet.gateway_url, so there is no gateway to wait for; render it "
            "with `mcpfleet deploy compose`, or pass gateway_url="
        )
    return url


async def _wait_ready(url: str, timeout: float, hint: str) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=5.0) as client:
        while True:
            try:
                response = await client.get(f"{url}/readyz")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:500]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"The fleet did not become ready at {url}/readyz within {timeout:.0f} s (last: {last}). "
                    f"See the containers' logs: {hint}"
                )
            await asyncio.sleep(1.0)


async def compose_up(
    compose_file: str | Path,
    env_file: str | Path | None = None,
    *,
    engine: ComposeEngine | None = None,
    timeout: float = 300.0,
    gateway_url: str | None = None,
) -> str:
    """``<engine> up -d``, then wait until the gateway's ``/readyz`` says every server is ready.

    Returns the gateway URL. ``timeout`` bounds the wait for readiness.
    """
    compose_path, env_path = _existing(compose_file, env_file)
    url = gateway_url or _gateway_url(compose_path)
    engine = engine or await find_engine()
    await _run(engine, compose_path, env_path, "up", "-d")
    await _wait_ready(url, timeout, f"{' '.join(engine.argv)} -f {compose_path} logs")
    return url


async def compose_down(
    compose_file: str | Path, env_file: str | Path | None = None, *, engine: ComposeEngine | None = None
) -> None:
    """``<engine> down -v``: stop and remove the project's containers and their home volumes."""
    compose_path, env_path = _existing(compose_file, env_file)
    engine = engine or await find_engine()
    await _run(engine, compose_path, env_path, "down", "-v")


async def deploy_with_docker(
    config: FleetConfig,
    compose_file: str | Path = "docker-compose.mcp.yml",
    env_file: str | Path | None = None,
    *,
    image: str = DEFAULT_IMAGE,
    environ: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> str:
    """Bring the fleet up with Compose; render ``compose_file`` (and ``env_file``) first if missing."""
    compose_path, env_arg = _render_if_missing(config, Path(compose_file), env_file, image, environ)
    return await compose_up(compose_path, env_arg, timeout=timeout)


def _render_if_missing(
    config: FleetConfig,
    compose_path: Path,
    env_file: str | Path | None,
    image: str,
    environ: Mapping[str, str] | None,
) -> tuple[Path, Path | None]:
    env_path = Path(env_file) if env_file is not None else compose_path.parent / ".env"
    if not compose_path.exists():
        render_compose(
            config,
            compose_path.parent,
            image=image,
            environ=environ,
            compose_file=compose_path,
            env_file=env_path,
        )
    # An env file named by the caller must exist; the default one is used when it does.
    return compose_path, env_path if env_file is not None or env_path.exists() else None
