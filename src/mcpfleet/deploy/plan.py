"""What runs in which container: a fleet split into a gateway and one service per server.

The container design, shared by the Compose and Kubernetes renderers:

- Every container runs the one mcpfleet image (``mcpfleet:latest`` unless told otherwise):
  Python with mcpfleet, plus what the fleet's packages need (node and npm for npm servers,
  uv for PyPI servers, the commands of command servers).
- Each enabled server that mcpfleet runs as a child process (npm, pypi, command) gets a
  service of its own: a container running ``mcpfleet up`` with a fleet file holding that one
  server, which serves it over streamable HTTP at ``/servers/NAME/mcp``. That is the stdio
  bridge: the server keeps speaking stdio to its own mcpfleet, which installs it on first
  start, supervises and restarts it, and runs ``instances`` copies of it (Compose) or one per
  pod (Kubernetes, where the Deployment's replicas are the instances).
- The gateway container runs ``mcpfleet up`` with the fleet's own settings (auth, access,
  cache, audit, rate limits, ...) and every server as a ``remote`` package pointing at its
  service. Servers that were ``remote`` already stay as they are.
- ``oci`` servers are refused: an image that speaks stdio needs a bridge of its own; build
  it on the mcpfleet image and declare it as a ``command`` server instead.

Secrets: ``${VAR}`` references stay references in every rendered fleet file; their values go
to ``.env`` (Compose) or a Secret (Kubernetes) and reach each container as environment
variables, which mcpfleet resolves at start. A literal value under a secret-looking key
(``API_TOKEN: sk-...``, an ``Authorization`` header) is turned into such a reference first.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from mcpfleet.config import FleetConfig, GatewayConfig, OnDemandConfig, RemotePackage, ServerSpec, dump_config
from mcpfleet.exceptions import ConfigError, DeployError
from mcpfleet.secrets import is_secret_key, load_env_file, references, resolve
from mcpfleet.security import check_exposure
from mcpfleet.security.config import AuthConfig

SESSION_SECRET = "MCPFLEET_SESSION_SECRET"  # shared by the gateway's replicas

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_IMAGE",
    "HOME_DIR",
    "DeployPlan",
    "Network",
    "ServiceUnit",
    "plan_fleet",
    "server_resource_name",
]

Network = Literal["host", "bridge", "cluster"]
DEFAULT_IMAGE = "mcpfleet:latest"
CONFIG_DIR = "/etc/mcpfleet"  # rendered fleet files, read-only in the container
HOME_DIR = "/var/lib/mcpfleet"  # the fleet home inside every container (writable)
GATEWAY_NAME = "mcpfleet-gateway"
# Variables a container has of its own; a reference to one means the container's value.
_CONTAINER_VARS = frozenset({"PATH", "HOME", "HOSTNAME", "USER", "PWD", "LANG", "TERM", "TMPDIR", "SHELL"})
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@", re.I)


@dataclass(frozen=True)
class ServiceUnit:
    """One kind of container: the gateway, or one server's bridge."""

    name: str  # the Compose service / Kubernetes Deployment name
    server: str | None  # the fleet's server name; None for the gateway
    config_key: str  # file name of its fleet file in CONFIG_DIR
    config_text: str  # that fleet file (YAML), references and all
    bind: str  # address mcpfleet listens on inside the container
    port: int
    replicas: int
    variables: tuple[str, ...]  # environment variables (secrets) it reads
    waits_for: tuple[str, ...] = ()  # readiness URLs to wait for before starting

    @property
    def command(self) -> list[str]:
        up = [
            "mcpfleet", "--config", f"{CONFIG_DIR}/{self.config_key}", "up",
            "--host", self.bind, "--port", str(self.port),
        ]  # fmt: skip
        if not self.waits_for:
            return up
        # The gateway connects to its servers as it starts: let them come up first (best effort;
        # it starts anyway after the timeout, as a server scaled to zero never answers).
        urls = [a for url in self.waits_for for a in ("--url", url)]
        return ["mcpfleet", "deploy", "wait", *urls, "--timeout", "300", "--", *up]

    def probe_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass(frozen=True)
class DeployPlan:
    """The containers of a fleet, their fleet files, and the secrets they read."""

    gateway: ServiceUnit
    servers: tuple[ServiceUnit, ...]
    secrets: Mapping[str, str]  # variable -> value, for .env or the Secret
    missing: tuple[str, ...]  # variables referenced but not set where the render ran
    network: Network
    kubernetes: bool

    @property
    def units(self) -> tuple[ServiceUnit, ...]:
        return (*self.servers, self.gateway)

    def unit(self, server: str) -> ServiceUnit:
        for unit in self.servers:
            if unit.server == server:
                return unit
        raise DeployError(
            f"No container runs a server named {server!r}; the fleet's containerised servers are: "
            + (", ".join(u.server or "" for u in self.servers) or "none")
        )


def server_resource_name(server: str) -> str:
    """``mcp-NAME``: a DNS label (``_`` becomes ``-``), as Kubernetes names and host names need."""
    return "mcp-" + server.replace("_", "-")


def _secret_variable(server: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", f"MCPFLEET_{server}_{key}".upper())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _referenced(data: Any) -> set[str]:
    names = {n for text in _strings(data) for n in references(text)}
    return {n for n in names if not n.startswith(("file:", "MCPFLEET_HOME", "MCPFLEET_SERVER_DATA"))} - set(
        _CONTAINER_VARS
    )


class _SecretLifter:
    """Turns literal secret values into ``${VAR}`` references, remembering the values."""

    def __init__(self) -> None:
        self.literals: dict[str, str] = {}

    def lift(self, owner: str, values: Mapping[str, str], *, headers: bool = False) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in values.items():
            secret = is_secret_key(key) or (headers and key.lower() in {"cookie", "proxy-authorization"})
            if secret and not references(value):
                variable = _secret_variable(owner, key)
                self.literals[variable] = resolve(value, {}, where=f"{owner}.{key}")  # only $$ -> $
                out[key] = "${" + variable + "}"
            else:
                out[key] = value
        return out


def _check_no_url_password(label: str, data: Any) -> None:
    for text in _strings(data):
        if _URL_PASSWORD.match(text):
            raise DeployError(
                f"The {label} fleet file would carry a password in a URL ({text.split('@')[-1]!r}), "
                "in clear in the rendered files. Take the password out of the URL: PostgreSQL reads "
                "it from PGPASSWORD (set PGPASSWORD: ${PGPASSWORD} through .env / the Secret); for "
                "Redis, reach a server that needs no password on a private network"
            )


def _server_fleet(
    config: FleetConfig, server: str, spec: ServerSpec, bind: str, port: int, instances: int
) -> str:
    fleet = FleetConfig(
        home=HOME_DIR,
        servers={server: spec.model_copy(update={"instances": instances})},
        gateway=GatewayConfig(host=bind, port=port, on_demand=OnDemandConfig(enabled=False)),
        health_check_interval=config.health_check_interval,
        health=config.health,
        # Reached only by the gateway (host loopback, the Compose network, or a NetworkPolicy).
        auth=AuthConfig(mode="none"),
    )
    return dump_config(fleet)


def plan_fleet(
    config: FleetConfig,
    *,
    network: Network = "host",
    kubernetes: bool = False,
    environ: Mapping[str, str] | None = None,
    gateway_port: int | None = None,
    base_port: int | None = None,
    bind: str | None = None,
) -> DeployPlan:
    """Split ``config`` into containers. ``network``: ``host`` (every container on the host's
    network, each on its own port, reached at 127.0.0.1), ``bridge`` (a Compose network, reached
    by service name) or ``cluster`` (Kubernetes Services). ``kubernetes``: a Deployment's replicas
    are the server's instances (else one container runs them all). Ports: the gateway keeps its configured
    port (8765 if 0); servers take ``base_port`` (default gateway port + 1) onwards.
    ``environ`` (default: this process's) and the fleet's ``.env`` give the secrets' values.
    """
    if environ is None:
        environ = os.environ
    enabled = {name: spec for name, spec in config.servers.items() if spec.enabled}
    if not enabled:
        raise DeployError("The fleet has no enabled servers to deploy; add servers to the fleet file first")
    oci = [name for name, spec in enabled.items() if spec.package.type == "oci"]
    if oci:
        raise DeployError(
            f"servers {', '.join(oci)}: oci packages cannot be bridged inside a container. Build an image "
            "FROM the mcpfleet image with the server's command in it and declare it as a `command` "
            "package, or run the image yourself and add it as a `remote` server"
        )
    names: dict[str, str] = {}
    for name in enabled:
        resource = server_resource_name(name)
        if resource in names:
            raise DeployError(
                f"servers {names[resource]!r} and {name!r} both become {resource!r}; rename one"
            )
        names[resource] = name
    gw_port = gateway_port or config.gateway.port or 8765
    next_port = base_port or gw_port + 1
    inner_bind = bind or ("127.0.0.1" if network == "host" else "0.0.0.0")
    gateway_bind = bind or (config.gateway.host if network == "host" else "0.0.0.0")
    try:
        check_exposure(gateway_bind, config.auth)
    except ConfigError as exc:
        raise DeployError(f"The gateway container listens on {gateway_bind}: {exc}") from None

    lifter = _SecretLifter()
    servers: list[ServiceUnit] = []
    gateway_servers: dict[str, ServerSpec] = {}
    for name, spec in enabled.items():
        spec = spec.model_copy(
            update={
                "env": lifter.lift(name, spec.env),
                "headers": lifter.lift(name, spec.headers, headers=True),
            }
        )
        if spec.package.type == "remote":
            gateway_servers[name] = spec
            continue
        port, next_port = next_port, next_port + 1
        if port == gw_port:
            port, next_port = next_port, next_port + 1
        resource = server_resource_name(name)
        host = {"host": "127.0.0.1", "bridge": resource, "cluster": resource}[network]
        # Kubernetes: one instance per pod, the Deployment's replicas are the instances.
        # Compose: one container, its mcpfleet runs the instances as child processes.
        replicas, instances = (spec.instances, 1) if kubernetes else (1, spec.instances)
        text = _server_fleet(config, name, spec, inner_bind, port, instances)
        data = yaml.safe_load(text)
        _check_no_url_password(f"{name!r} server", data)
        servers.append(
            ServiceUnit(
                name=resource, server=name, config_key=f"server-{name}.yaml", config_text=text,
                bind=inner_bind, port=port, replicas=replicas,
                variables=tuple(sorted(_referenced(data))),
            )
        )  # fmt: skip
        gateway_servers[name] = ServerSpec(
            package=RemotePackage(url=f"http://{host}:{port}/servers/{name}/mcp"),
            protocol=spec.protocol,
            startup_timeout=spec.startup_timeout,
            request_timeout=spec.request_timeout,
            restart=spec.restart,
            balancing=spec.balancing,
            backups=spec.backups,
            retry_tools=spec.retry_tools,
            description=spec.description,
        )

    tracing = config.tracing.model_copy(update={"headers": lifter.lift("tracing", config.tracing.headers)})
    gateway_fleet = config.model_copy(
        update={
            "home": HOME_DIR,
            "env_file": None,
            "servers": gateway_servers,
            "gateway": config.gateway.model_copy(
                update={
                    "host": gateway_bind,
                    "port": gw_port,
                    # Replicas behind one Service must share a session secret, or a client's
                    # next request on another replica would find no session.
                    "session_secret": config.gateway.session_secret or "${" + SESSION_SECRET + ":-}",
                }
            ),
            "tracing": tracing,
        },
        deep=True,
    )
    gateway_text = dump_config(gateway_fleet)
    gateway_data = yaml.safe_load(gateway_text)
    _check_no_url_password("gateway", gateway_data)
    gateway = ServiceUnit(
        name=GATEWAY_NAME, server=None, config_key="gateway.yaml", config_text=gateway_text,
        bind=gateway_bind, port=gw_port, replicas=1, variables=tuple(sorted(_referenced(gateway_data))),
        waits_for=tuple(
            f"http://{'127.0.0.1' if network == 'host' else u.name}:{u.port}/readyz" for u in servers
        ),
    )  # fmt: skip

    available = {**load_env_file(config.env_file), **environ, **lifter.literals}
    if not config.gateway.session_secret:
        available.setdefault(
            SESSION_SECRET, secrets.token_urlsafe(32)
        )  # made here, kept in .env / the Secret
    wanted = sorted({v for unit in (*servers, gateway) for v in unit.variables})
    return DeployPlan(
        gateway=gateway,
        servers=tuple(servers),
        secrets={v: available[v] for v in wanted if v in available},
        missing=tuple(v for v in wanted if v not in available),
        network=network,
        kubernetes=kubernetes,
    )
