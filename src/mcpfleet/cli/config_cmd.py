"""``mcpfleet config validate | import | export``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from mcpfleet.config import FleetConfig, dump_config, load_config
from mcpfleet.exceptions import FleetError
from mcpfleet.mcpjson import export_servers, import_servers, redact_config
from mcpfleet.preflight import preflight

__all__ = ["config_app"]

config_app = typer.Typer(no_args_is_help=True, help="Validate, import and export the fleet file.")
console = Console()
err = Console(stderr=True)


def _config_path(ctx: typer.Context) -> Path:
    path: Path = ctx.obj.config
    return path


@config_app.command()
def validate(ctx: typer.Context) -> None:
    """Check the fleet file; every problem is reported with its path, line and a hint."""
    path = _config_path(ctx)
    try:
        config = load_config(path)
    except FleetError as exc:
        err.print(f"[bold red]invalid:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
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
) -> None:
    """Turn a desktop client's MCP config into fleet servers (added to the fleet file)."""
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
    config.servers = {**config.servers, **result.servers}
    if result.secrets:
        if not config.env_file:
            config.env_file = ".env"
        env_file = (
            Path(config.env_file) if Path(config.env_file).is_absolute() else path.parent / config.env_file
        )
        _append_env(env_file, result.secrets)
        console.print(
            f"Moved {len(result.secrets)} secret value(s) to {env_file} (mode 600); the fleet file refers "
            "to them as ${NAME}."
        )
    text = dump_config(config)
    path.write_text(text, encoding="utf-8")
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
