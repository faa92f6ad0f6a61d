"""Import and export of the ``mcpServers`` JSON that desktop clients use.

Three dialects, all read by :func:`import_servers` and written by :func:`export_servers`:

- Claude Desktop and Cursor: ``{"mcpServers": {name: {"command", "args", "env"} | {"url", "headers"}}}``
- VS Code ``mcp.json``: ``{"servers": {name: {"type": "stdio" | "http" | "sse", ...}}, "inputs": [...]}``

Launch commands are mapped back to packages where they are recognisable (``npx -y pkg@1.2``
becomes an npm package, ``uvx pkg==1.2`` a PyPI one, ``docker run ... image`` an OCI image), so
an imported fleet installs pinned packages instead of fetching them at every start. Literal
secret values found in ``env`` and ``headers`` are moved out of the config into a ``secrets``
mapping (written to the fleet's ``.env`` by the CLI) and replaced by ``${NAME}`` references.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from mcpfleet.config import (
    CommandPackage,
    FleetConfig,
    NpmPackage,
    OciPackage,
    PypiPackage,
    RemotePackage,
    ServerSpec,
)
from mcpfleet.exceptions import ConfigError
from mcpfleet.secrets import is_secret_key, redact

__all__ = ["ImportResult", "export_servers", "import_servers", "redact_config"]

Dialect = Literal["claude", "vscode"]
_VSCODE_INPUT = re.compile(r"\$\{input:([^}]+)\}")
_VSCODE_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
_DOCKER_VALUE_FLAGS = {
    "-e",
    "--env",
    "-v",
    "--volume",
    "--name",
    "--network",
    "-p",
    "--publish",
    "-w",
    "--workdir",
    "--user",
    "-u",
    "--entrypoint",
    "--env-file",
    "--mount",
    "--platform",
}


@dataclass
class ImportResult:
    """What an import produced: servers for the fleet, secrets for its ``.env``, and notes for the user."""

    servers: dict[str, ServerSpec] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _server_name(raw: str, taken: set[str]) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-_") or "server"
    name = name[:60]
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _split_npm(spec: str) -> tuple[str, str]:
    at = spec.rfind("@")
    if at > 0:
        return spec[:at], spec[at + 1 :] or "latest"
    return spec, "latest"


def _package_from_command(command: str, args: list[str]) -> tuple[Any, list[str]]:
    base = command.rsplit("/", 1)[-1]
    if base in {"npx", "npx.cmd"}:
        rest = [a for a in args if a not in {"-y", "--yes"}]
        rest = [a for a in rest if not a.startswith("--package=")]
        if rest:
            name, version = _split_npm(rest[0])
            return NpmPackage(name=name, version=version), rest[1:]
    if base == "uvx":
        rest = list(args)
        python, held = None, []
        while rest and rest[0].startswith("-"):
            flag = rest.pop(0)
            if flag == "--python" and rest:
                python = rest.pop(0)
            elif flag == "--with" and rest:  # what it is run with: the versions its dependencies get
                held.append(rest.pop(0))
            elif flag == "--from" and rest:
                rest.pop(0)
        if rest:
            name, _, version = rest[0].partition("==")
            package = PypiPackage(name=name, version=version or "latest", python=python, constraints=held)
            return package, rest[1:]
    if base in {"docker", "podman"} and args[:1] == ["run"]:
        i, run_args = 1, []
        while i < len(args) and args[i].startswith("-"):
            flag = args[i]
            if flag in _DOCKER_VALUE_FLAGS and i + 1 < len(args):
                if flag not in {"-e", "--env"}:  # env comes from the server's env, not the command line
                    run_args += [flag, args[i + 1]]
                i += 2
                continue
            if flag not in {"-i", "--interactive", "--rm", "-t", "-it"}:
                run_args.append(flag)
            i += 1
        if i < len(args):
            image, _, tag = args[i].partition(":")
            if "@" in args[i]:
                image, tag = args[i], "latest"
            return OciPackage(image=image, version=tag or "latest", run_args=run_args), args[i + 1 :]
    return CommandPackage(command=command), list(args)


def _move_secrets(server: str, kind: str, values: Mapping[str, Any], result: ImportResult) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in values.items():
        value = str(raw)
        value = _VSCODE_ENV.sub(lambda m: "${" + m.group(1) + "}", value)
        if _VSCODE_INPUT.search(value):
            var = re.sub(r"[^A-Z0-9_]", "_", f"{server}_{key}".upper())
            value = _VSCODE_INPUT.sub("${" + var + "}", value)
            result.notes.append(
                f"{server}: {kind} {key} asked VS Code for input; set {var} in the fleet's .env"
            )
        elif is_secret_key(key) and not _TEMPLATE.search(value) and value:
            var = re.sub(r"[^A-Z0-9_]", "_", f"{server}_{key}".upper())
            result.secrets[var] = value
            value = "${" + var + "}"
        out[key] = value
    return out


def import_servers(text: str, *, source: str = "<json>", existing: set[str] | None = None) -> ImportResult:
    """Read a desktop client's config (any dialect) into fleet servers."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a JSON object with `mcpServers` (Claude, Cursor) or `servers` (VS Code)"
        )
    entries = data.get("mcpServers", data.get("servers"))
    if not isinstance(entries, dict):
        raise ConfigError(
            f"{source} has no `mcpServers` or `servers` object; "
            "is this a Claude Desktop, Cursor or VS Code MCP config?"
        )
    result = ImportResult()
    taken = set(existing or ())
    problems = []
    for raw_name, entry in entries.items():
        if not isinstance(entry, dict):
            problems.append(f"{raw_name}: expected an object, got {type(entry).__name__}")
            continue
        name = _server_name(str(raw_name), taken)
        taken.add(name)
        if name != raw_name:
            result.notes.append(f"{raw_name!r} imported as {name!r} (fleet names are lower-case, no spaces)")
        if "command" not in entry and "url" not in entry:
            problems.append(f"{raw_name}: needs `command` (a stdio server) or `url` (an HTTP server)")
            continue
        try:
            kind = entry.get("type", "stdio" if "command" in entry else "http")
            if kind in {"http", "streamable-http", "streamableHttp", "sse"} or "url" in entry:
                if kind == "sse":
                    result.notes.append(
                        f"{name}: legacy SSE transport; mcpfleet will use streamable HTTP at that URL"
                    )
                spec = ServerSpec(
                    package=RemotePackage(url=entry["url"]),
                    headers=_move_secrets(name, "header", entry.get("headers", {}), result),
                )
            else:
                package, args = _package_from_command(
                    str(entry["command"]), [str(a) for a in entry.get("args", [])]
                )
                spec = ServerSpec(
                    package=package,
                    args=args,
                    env=_move_secrets(name, "env", entry.get("env", {}), result),
                    enabled=not entry.get("disabled", False),
                )
                if entry.get("envFile"):
                    result.notes.append(
                        f"{name}: envFile {entry['envFile']} not imported; copy its values into .env"
                    )
        except KeyError as exc:
            problems.append(f"{raw_name}: missing {exc.args[0]!r}")
            continue
        except ValidationError as exc:
            problems += [f"{raw_name}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            continue
        result.servers[name] = spec
    if problems:
        raise ConfigError(f"{source}: {len(problems)} server(s) could not be imported:", problems)
    return result


def _command_for(spec: ServerSpec) -> dict[str, Any]:
    pkg = spec.package
    if isinstance(pkg, NpmPackage):
        return {"command": "npx", "args": ["-y", f"{pkg.name}@{pkg.version}", *spec.args]}
    if isinstance(pkg, PypiPackage):
        pinned = pkg.name if pkg.version == "latest" else f"{pkg.name}=={pkg.version}"
        held = [x for c in pkg.constraints for x in ("--with", c)]
        python = ["--python", pkg.python] if pkg.python else []
        return {"command": "uvx", "args": [*python, *held, pinned, *spec.args]}
    if isinstance(pkg, OciPackage):
        env_flags = [x for key in spec.env for x in ("-e", key)]
        return {
            "command": "docker",
            "args": [
                "run",
                "-i",
                "--rm",
                *env_flags,
                *pkg.run_args,
                f"{pkg.image}:{pkg.version}",
                *spec.args,
            ],
        }
    if isinstance(pkg, CommandPackage):
        return {"command": pkg.command, "args": list(spec.args)}
    raise TypeError(f"no command for {pkg.type}")


def export_servers(
    config: FleetConfig, *, dialect: Dialect = "claude", include_disabled: bool = False
) -> str:
    """JSON for a desktop client. Literal secrets are redacted; ``${VAR}`` references stay."""
    out: dict[str, Any] = {}
    for name, spec in config.servers.items():
        if not spec.enabled and not include_disabled:
            continue
        if isinstance(spec.package, RemotePackage):
            entry: dict[str, Any] = {"type": "http", "url": spec.package.url}
            if spec.headers:
                entry["headers"] = redact(spec.headers)
        else:
            entry = ({"type": "stdio"} if dialect == "vscode" else {}) | _command_for(spec)
            if spec.env:
                entry["env"] = redact(spec.env)
        if dialect == "vscode":
            for key in ("env", "headers"):
                if key in entry:
                    entry[key] = {
                        k: _TEMPLATE.sub(lambda m: "${env:" + m.group(1) + "}", v)
                        for k, v in entry[key].items()
                    }
        out[name] = entry
    return json.dumps({"servers" if dialect == "vscode" else "mcpServers": out}, indent=2) + "\n"


def redact_config(config: FleetConfig) -> FleetConfig:
    """A copy whose literal secret env values and headers are ``***`` (``${VAR}`` references stay)."""
    servers = {
        name: spec.model_copy(update={"env": redact(spec.env), "headers": redact(spec.headers)})
        for name, spec in config.servers.items()
    }
    return config.model_copy(update={"servers": servers})
