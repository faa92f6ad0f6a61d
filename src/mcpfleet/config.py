"""The declarative fleet: ``mcpfleet.yaml`` parsed into pydantic models.

    home: ~/.mcpfleet               # servers/ configs/ logs/ data/ live here
    env_file: .env                  # optional, relative to this file
    servers:
      memory:
        package: {type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31"}
        env: {MEMORY_FILE_PATH: "${MCPFLEET_SERVER_DATA}/memory.json"}
      time:
        package: {type: pypi, name: mcp-server-time, version: "2026.10.19"}
        instances: 2
      search:
        package: {type: remote, url: "https://search.example.com/mcp"}
        headers: {Authorization: "Bearer ${SEARCH_TOKEN}"}

Env values and headers keep their ``${VAR}`` templates in the model; they are resolved
only when a server is launched (see :mod:`mcpfleet.secrets`), so exporting or printing a
config never reveals a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mcpfleet.audit.config import AuditConfig
from mcpfleet.autoscale.config import AutoscaleConfig
from mcpfleet.cache.config import CacheConfig
from mcpfleet.catalog.config import CatalogConfig
from mcpfleet.durations import parse_duration
from mcpfleet.exceptions import ConfigError
from mcpfleet.home import DEFAULT_HOME, SERVER_NAME
from mcpfleet.models import ConfigModel
from mcpfleet.packages import (
    CommandPackage,
    NpmPackage,
    OciPackage,
    PackageSpec,
    PypiPackage,
    RemotePackage,
)
from mcpfleet.percaller.config import PerCallerConfig, uses_caller_secrets
from mcpfleet.ratelimit.config import RateLimitConfig
from mcpfleet.sandbox.config import NetworkConfig, SandboxConfig
from mcpfleet.secrets import PER_CALLER_PLACES, user_references
from mcpfleet.security.config import AccessConfig, AuthConfig
from mcpfleet.security.token_exchange import TokenExchangeConfig

__all__ = [
    "BackupConfig",
    "CommandPackage",
    "FleetConfig",
    "GatewayConfig",
    "HealthConfig",
    "NpmPackage",
    "OciPackage",
    "OnDemandConfig",
    "PackageSpec",
    "PypiPackage",
    "RemotePackage",
    "RestartPolicy",
    "ServerSpec",
    "dump_config",
    "load_config",
    "parse_config",
    "parse_duration",
]

ServerName = Annotated[str, StringConstraints(pattern=SERVER_NAME)]
_NAME_RULE = (
    "server names are lower-case letters, digits, '-' or '_', starting with a letter or digit "
    "(a name becomes a folder and a tool-name prefix)"
)


class RestartPolicy(ConfigModel):
    """How the supervisor restarts a crashed instance."""

    max_restarts: int = Field(
        5, ge=0, description="restarts allowed within `window` seconds before giving up"
    )
    window: float = Field(60.0, gt=0)
    backoff_initial: float = Field(0.5, gt=0, description="first delay in seconds; doubles each time")
    backoff_max: float = Field(30.0, gt=0)


class ServerSpec(ConfigModel):
    """One named server of the fleet."""

    package: PackageSpec
    args: list[str] = Field(default_factory=list, description="arguments after the server's command")
    env: dict[str, str] = Field(default_factory=dict, description="values may use ${VAR} and ${file:path}")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers for remote servers")
    instances: int = Field(1, ge=0, le=256)
    enabled: bool = True
    protocol: Literal["auto", "session", "stateless"] = Field(
        "auto", description="auto probes server/discover (2026-07-28) and falls back to initialize"
    )
    startup_timeout: float = Field(30.0, gt=0, description="seconds to start and complete the handshake")
    request_timeout: float = Field(60.0, gt=0)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    balancing: Literal["round_robin", "least_connections", "random", "weighted", "session_hash"] = Field(
        "round_robin", description="how calls are spread over the server's instances"
    )
    backups: list[Annotated[str, Field(pattern=r"^https?://")]] = Field(
        default_factory=list,
        description="MCP URLs that take the server's calls while it has no instance that can",
    )
    retry_tools: list[str] = Field(
        default_factory=list,
        description="tools safe to repeat on another instance if one fails mid-call, beyond those "
        "the server annotates readOnlyHint or idempotentHint",
    )
    description: str = ""
    pin: Literal["strict", "warn", "off"] = Field("warn", description="changed tools: hold, report, ignore")
    token_exchange: TokenExchangeConfig | None = Field(None, description="RFC 8693, per JWT caller")
    sandbox: SandboxConfig | None = Field(None, description="oci: limits and isolation (defaults apply)")
    network: NetworkConfig | None = Field(None, description="oci: host:port it may reach; default none")
    per_caller: PerCallerConfig | None = Field(
        None, description="stdio with ${user:NAME} in env/args: its per-principal instances (defaults apply)"
    )

    @field_validator("env", "headers")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or "=" in key or "\0" in key:
                raise ValueError(f"{key!r} is not a valid variable or header name")
        return value

    @model_validator(mode="after")
    def _transport_fits(self) -> ServerSpec:
        if self.package.type == "remote" and self.args:
            raise ValueError("a remote server takes no args; put parameters in its URL or headers")
        if self.token_exchange is not None and self.package.type != "remote":
            raise ValueError("token_exchange is for remote servers (it sets an HTTP header)")
        if (self.sandbox is not None or self.network is not None) and self.package.type != "oci":
            raise ValueError("sandbox and network are for oci servers (containers); remove them here")
        elsewhere = self.headers.values() if self.transport == "stdio" else self.env.values()
        if any(user_references(v) for v in elsewhere):
            raise ValueError(PER_CALLER_PLACES)
        if self.per_caller is not None and not self.per_caller_secrets():
            raise ValueError("per_caller is for stdio servers whose env or args use ${user:NAME}; remove it")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "http" if self.package.type == "remote" else "stdio"

    def per_caller_secrets(self) -> list[str]:
        """The ``${user:NAME}`` secrets of a stdio server's env and args: it runs one process per caller."""
        return uses_caller_secrets(self.env.values(), self.args) if self.transport == "stdio" else []


class OnDemandConfig(ConfigModel):
    """Agents on ``/mcp`` may find and add servers themselves (``fleet__find_servers``,
    ``fleet__add_server``)."""

    enabled: bool = True
    approval: Literal["auto", "approve", "deny"] = Field(
        "approve",
        description="auto: install at once; approve: wait for `mcpfleet approve ID`; deny: refuse",
    )
    approval_timeout: float = Field(300.0, gt=0, description="seconds a request waits for an operator")
    install_timeout: float = Field(300.0, gt=0, description="seconds to install, verify and start")


class ConnectionsConfig(ConfigModel):
    """How long the gateway waits on a client's bytes, and how many connections it holds."""

    header_timeout: float = Field(
        10.0, gt=0, description="seconds from connecting, or a request's first byte, to its last header"
    )
    body_timeout: float = Field(
        10.0, gt=0, description="seconds from the last header to the end of the body (see body_min_rate)"
    )
    body_min_rate: int = Field(
        4096, ge=1, description="bytes a second: each this many body bytes received add a second"
    )
    keep_alive_timeout: float = Field(5.0, gt=0, description="seconds an idle connection is kept")
    max_per_address: int | None = Field(
        256, ge=1, description="connections at once from one client IP; more are refused (429); null: no cap"
    )
    max_total: int | None = Field(
        None, ge=1, description="connections at once; more are refused (503); null: 3/4 of the file limit"
    )


class GatewayConfig(ConfigModel):
    """The client-facing endpoint: ``/mcp`` for the fleet, ``/servers/{name}/mcp`` for one server."""

    host: str = Field("127.0.0.1", description="address to listen on; anything but loopback needs auth")
    port: int = Field(8765, ge=0, le=65535, description="0 picks a free port")
    separator: str = Field("__", min_length=1, description="between server and tool in /mcp tool names")
    virtual_servers: dict[ServerName, list[str]] = Field(
        default_factory=dict,
        description="name -> tool names or globs (server__tool); served at /virtual/{name}/mcp",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names beyond loopback (DNS rebinding)"
    )
    allowed_origins: list[str] = Field(default_factory=list, description="browser Origins allowed to call")
    session_idle_timeout: float = Field(3600.0, gt=0)
    max_sessions: int = Field(
        10_000, ge=1, description="client sessions held at once; more are refused (503)"
    )
    max_sessions_per_caller: int = Field(
        256, ge=1, description="per principal, or per address when anonymous; more are refused (429)"
    )
    session_data_limit: int = Field(
        64 * 1024, ge=1024, description="bytes of capabilities and clientInfo a session may keep"
    )
    session_secret: str | None = Field(
        None,
        min_length=1,
        description="the same on every replica (write it as ${VAR}): any replica then serves any "
        "client session; unset: each replica knows only the sessions it opened",
    )
    workers: int = Field(1, ge=1, le=64, description="gateway processes sharing the port (SO_REUSEPORT)")
    on_demand: OnDemandConfig = Field(default_factory=OnDemandConfig)
    metrics: bool = Field(True, description="count and time every tool call for /metrics")
    rate_limits: RateLimitConfig = Field(
        default_factory=RateLimitConfig, description="token buckets per principal, server and tool"
    )
    connections: ConnectionsConfig = Field(
        default_factory=ConnectionsConfig,
        description="read timeouts, keep-alive and connection caps against slow or greedy clients",
    )
    readiness: Literal["all", "any"] | list[str] = Field(
        "all",
        description="when /readyz says ready: all (every enabled server that runs instances has a "
        "ready one), any (at least one of them has), or a list of the servers that must",
    )

    @field_validator("readiness", mode="before")
    @classmethod
    def _readiness_is_a_rule(cls, value: object) -> object:
        if value in ("all", "any") or (isinstance(value, list) and value):
            return value
        raise ValueError(f"use `all`, `any` or a list of server names, not {value!r}")


class HealthConfig(ConfigModel):
    """What ``mcpfleet up`` does about sick servers (probes run every ``health_check_interval``)."""

    timeout: float = Field(5.0, gt=0, description="seconds a probe may take; longer is a failure")
    degraded_ms: float = Field(1000.0, gt=0, description="a slower answer counts as degraded")
    alert_threshold: int = Field(3, ge=1, description="failed probes in a row before alerting and replacing")
    max_recoveries: int = Field(3, ge=1, description="replacements within recovery_window before giving up")
    recovery_window: float = Field(600.0, gt=0)
    webhook_url: str | None = Field(None, pattern=r"^https?://", description="alerts are POSTed here as JSON")
    webhook_slack: bool = Field(False, description='send {"text": ...} (Slack incoming webhooks)')


class TracingConfig(ConfigModel):
    """OpenTelemetry traces, exported over OTLP/HTTP. Off until ``otlp_endpoint`` is set."""

    otlp_endpoint: str | None = Field(
        None,
        pattern=r"^https?://",
        description="OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces; unset: no tracing",
    )
    service_name: str = Field("mcpfleet", min_length=1)
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces kept (a caller's sampled flag decides for its own)"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="sent with every export, e.g. an API key; may use ${VAR}"
    )
    export_timeout: float = Field(10.0, gt=0)


class BackupConfig(ConfigModel):
    """Scheduled backups while ``mcpfleet up`` runs (off until ``every`` is set).

    ``backup: {every: 6h, keep_days: 30, dir: /backup/mcp}``; a relative ``dir`` is taken from
    the fleet home (default ``<home>/backups``).
    """

    every: str | None = Field(None, description="time between backups: 30m, 6h, 1d; unset: none scheduled")
    keep_days: float = Field(30.0, gt=0, description="backups older than this are pruned (never the newest)")
    dir: str | None = Field(None, description="folder of the backup archives; default <home>/backups")
    include_secrets: bool = Field(
        False, description="keep literal secret values of env and headers (they are redacted otherwise)"
    )
    include_env_file: bool = Field(False, description="put the fleet's .env file in the archive")

    @field_validator("every")
    @classmethod
    def _every_is_a_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def interval(self) -> float | None:
        """Seconds between scheduled backups, or None."""
        return parse_duration(self.every) if self.every is not None else None

    def directory(self, home: Path) -> Path:
        """Where the archives go: ``dir`` (relative to ``home``), else ``<home>/backups``."""
        return home / Path(self.dir).expanduser() if self.dir else home / "backups"


class FleetConfig(ConfigModel):
    """The whole fleet, as declared in ``mcpfleet.yaml``."""

    home: str = Field(DEFAULT_HOME, description="fleet home folder: servers/ configs/ logs/ data/")
    env_file: str | None = Field(None, description=".env file with variables for ${VAR} references")
    registry_url: str = Field("https://registry.modelcontextprotocol.io", pattern=r"^https?://")
    database_url: str | None = Field(
        None,
        pattern=r"^(sqlite|postgresql)(\+\w+)?://",
        description="SQLAlchemy URL of the fleet database; default: SQLite file fleet.db in the home",
    )
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    servers: dict[ServerName, ServerSpec] = Field(default_factory=dict)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    health_check_interval: float = Field(
        10.0, gt=0, description="seconds between health probes of every instance and backup"
    )
    health: HealthConfig = Field(default_factory=HealthConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    auth: AuthConfig = Field(
        default_factory=AuthConfig,
        description="who may call the gateway: `none`, API keys, JWTs, or both (see mcpfleet.security)",
    )
    access: AccessConfig = Field(
        default_factory=AccessConfig, description="roles, their permissions, and the tools each may use"
    )
    audit: AuditConfig = Field(default_factory=AuditConfig)
    cache: CacheConfig = Field(
        default_factory=CacheConfig, description="which tool results are cached, where, for how long"
    )
    backup: BackupConfig = Field(
        default_factory=BackupConfig, description="scheduled backups: every, keep_days, dir (mcpfleet.backup)"
    )
    autoscale: AutoscaleConfig = Field(
        default_factory=AutoscaleConfig,
        description="instance counts that follow load, per server (mcpfleet.autoscale); off by default",
    )

    @field_validator("gateway")
    @classmethod
    def _readiness_names_servers(cls, gateway: GatewayConfig, info: ValidationInfo) -> GatewayConfig:
        servers = info.data.get("servers")
        if isinstance(gateway.readiness, list) and isinstance(servers, dict):
            unknown = [name for name in gateway.readiness if name not in servers]
            if unknown:
                raise ValueError(
                    f"readiness names {', '.join(map(repr, unknown))}, not in the fleet; its servers: "
                    f"{', '.join(servers) or 'none'}"
                )
        return gateway

    def home_path(self) -> Path:
        return Path(self.home).expanduser()


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in a YAML document to its 1-based line, for error messages."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, child in node.value:
                walk(child, (*path, str(key.value)))
                lines[(*path, str(key.value))] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                walk(child, (*path, str(i)))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


_HINTS = {
    "extra_forbidden": "remove it or check its spelling",
    "union_tag_invalid": "use one of: npm, pypi, oci, command, remote",
    "union_tag_not_found": "add `type:` (npm, pypi, oci, command or remote)",
    "missing": "add it",
    "string_pattern_mismatch": "check the format",
}


def _problems(exc: ValidationError, text: str) -> list[str]:
    index = _line_index(text)
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        # Drop the union tag pydantic inserts (package.npm.name -> package.name).
        path = tuple(p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "package"))
        hint = _NAME_RULE if "[key]" in path else _HINTS.get(err["type"])
        path = tuple(p for p in path if p != "[key]")
        line = next((index[path[:n]] for n in range(len(path), 0, -1) if path[:n] in index), None)
        where = ".".join(path) or "(top level)"
        at = f" (line {line})" if line else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}{at}: {msg}" + (f"; {hint}" if hint else ""))
    return problems


def parse_config(text: str, source: str = "<string>") -> FleetConfig:
    """Parse YAML text into a :class:`FleetConfig`, reporting every problem at once."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping with a `servers:` key, not a {type(data).__name__}")
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, text)
        raise ConfigError(f"{source} has {len(problems)} problem(s):", problems) from None


def load_config(path: str | Path) -> FleetConfig:
    """Read and validate a fleet file. Relative ``home`` and ``env_file`` are taken from its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"No fleet file at {path}. Create one with `mcpfleet init`.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None
    config = parse_config(text, source=str(path))
    base = path.resolve().parent
    if not config.home.startswith("~") and not Path(config.home).is_absolute():
        config.home = str(base / config.home)
    if config.env_file and not Path(config.env_file).expanduser().is_absolute():
        config.env_file = str(base / config.env_file)
    return config


def dump_config(config: FleetConfig) -> str:
    """YAML for a config, defaults left out so the file stays as short as the user wrote it."""
    data = config.model_dump(mode="json", exclude_defaults=True)
    for name, server in config.servers.items():
        # The package type is a default of its own class but must always be written.
        data.setdefault("servers", {}).setdefault(name, {}).setdefault("package", {})["type"] = (
            server.package.type
        )
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
