"""``mcpfleet config validate | import | export``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.config import ServerSpec

__all__ = ["config_app"]

config_app = typer.Typer(no_args_is_help=True, help="Validate, import and export the fleet file.")
console = Console()
err = Console(stderr=True)


Pin = Annotated[
    bool,
    typer.Option(
        "--pin",
        help="write the exact current version of each unpinned npm and PyPI package into the fleet file",
    ),
]


def _config_path(ctx: typer.Context) -> Path:
    path: Path = ctx.obj.config
    return path


def _pinned(servers: Mapping[str, ServerSpec]) -> dict[str, ServerSpec]:
    """The servers whose package was unpinned, each with the exact version its registry has now."""
    from mcpfleet.install.pinning import pin_versions

    try:
        versions = asyncio.run(pin_versions(servers))
    except FleetError as exc:
        err.print(f"[bold red]error:[/] {exc}; nothing was pinned", highlight=False)
        raise typer.Exit(1) from None
    pinned = {}
    for name, version in versions.items():
        spec = servers[name]
        pinned[name] = spec.model_copy(
            update={"package": spec.package.model_copy(update={"version": version})}
        )
        console.print(
            f"pinned {name}: {spec.package.identifier} {spec.package.version} -> {version}", highlight=False
        )
    return pinned


@config_app.command()
def validate(ctx: typer.Context, pin: Pin = False) -> None:
    """Check the fleet file; every problem is reported with its path, line and a hint."""
    from mcpfleet.config import load_config
    from mcpfleet.fleetfile import FleetFile
    from mcpfleet.preflight import preflight

    path = _config_path(ctx)
    try:
        config = load_config(path)
    except FleetError as exc:
        err.print(f"[bold red]invalid:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if pin:
        pinned = _pinned(config.servers)
        if pinned:
            fleet = FleetFile.load(path)  # only each version changes; the rest stays as written
            for name, spec in pinned.items():
                fleet.set_field(("servers", name, "package", "version"), spec.package.version)
            fleet.save()
            config.servers = {**config.servers, **pinned}
        else:
            console.print("Every npm and PyPI package is pinned already.")
    found = preflight(config)
    for warning in found.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if found.problems:
        err.print(f"[bold red]invalid:[/] {path}: `mcpfleet up` would fail:", highlight=False)
        for problem in found.problems:
            err.print(f"  - {problem}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"[green]valid:[/] {path}: {len(config.servers)} server(s): {', '.join(config.servers) or 'none'}"
    )


def _append_env(env_file: Path, secrets: dict[str, str]) -> None:
    existing = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
    lines = [
        f"{k}={v!r}" if any(c in v for c in " #'\"$") else f"{k}={v}"
        for k, v in secrets.items()
        if f"\n{k}=" not in f"\n{existing}"
    ]
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if existing and not existing.endswith("\n"):
            fh.write("\n")
        fh.write("".join(line + "\n" for line in lines))
    env_file.chmod(0o600)


@config_app.command("import")
def import_(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="claude_desktop_config.json, .vscode/mcp.json, .cursor/mcp.json")
    ],
    replace: Annotated[bool, typer.Option(help="replace servers of the same name")] = False,
    pin: Pin = False,
) -> None:
    """Turn a desktop client's MCP config into fleet servers (added to the fleet file)."""
    from mcpfleet.config import FleetConfig, load_config
    from mcpfleet.fleetfile import FleetFile
    from mcpfleet.mcpjson import import_servers

    path = _config_path(ctx)
    try:
        config = load_config(path) if path.exists() else FleetConfig()
        result = import_servers(
            source.read_text(encoding="utf-8"),
            source=str(source),
            existing=set() if replace else set(config.servers),
        )
    except OSError as exc:
        err.print(f"[bold red]error:[/] cannot read {source}: {exc.strerror}")
        raise typer.Exit(1) from None
    except FleetError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if pin:
        result.servers.update(_pinned(result.servers))
    fleet = FleetFile.load(path)  # the imported entries are added; the rest stays as written
    for name, spec in result.servers.items():
        fleet.set_server(name, spec)
    if result.secrets:
        if not config.env_file:  # load_config made a relative env_file absolute: that one is in the file
            fleet.set_field(("env_file",), ".env")
        env_file = Path(config.env_file).expanduser() if config.env_file else path.parent / ".env"
        _append_env(env_file, result.secrets)
        console.print(
            f"Moved {len(result.secrets)} secret value(s) to {env_file} (mode 600); the fleet file refers "
            "to them as ${NAME}."
        )
    fleet.save()
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"Imported {len(result.servers)} server(s) into {path}: {', '.join(result.servers)}")


@config_app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[
        Literal["claude", "vscode", "yaml"],
        typer.Option("--format", help="claude (also Cursor), vscode, yaml"),
    ] = "claude",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Print the fleet as a desktop client's mcpServers JSON (or YAML); secrets are redacted."""
    from mcpfleet.config import dump_config, load_config
    from mcpfleet.mcpjson import export_servers, redact_config

    try:
        config = load_config(_config_path(ctx))
    except FleetError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    text = dump_config(redact_config(config)) if fmt == "yaml" else export_servers(config, dialect=fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"Wrote {output}")
    else:
        typer.echo(text, nl=False)
