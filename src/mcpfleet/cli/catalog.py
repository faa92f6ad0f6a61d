"""``mcpfleet catalog``: the fleet's mirror of the MCP registry, for air-gapped fleets.

mcpfleet catalog sync [--full] [--registry URL]    copy the registry into the fleet database
mcpfleet catalog status                            where the mirror came from, when, how big
mcpfleet catalog serve [--host H] [--port P]       serve it in the registry's API to other fleets
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mcpfleet.cli.app import console, err, fleet_command, state_of
from mcpfleet.exceptions import ConfigError

if TYPE_CHECKING:
    from mcpfleet.catalog.mirror import RegistryMirror


__all__ = ["catalog_app"]

catalog_app = typer.Typer(
    no_args_is_help=True,
    help="Mirror the MCP registry into the fleet database; search and install then work offline.",
)


def _mirror(ctx: typer.Context) -> tuple[RegistryMirror, str]:
    from mcpfleet.catalog.mirror import RegistryMirror

    config = state_of(ctx).manager().config
    return RegistryMirror.for_fleet(config), config.registry_url


@catalog_app.command("sync")
@fleet_command
async def sync(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="pull everything, not only what changed")] = False,
    registry: Annotated[
        str | None, typer.Option("--registry", help="registry root URL (default: registry_url)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each page")] = 30.0,
) -> None:
    """Copy the MCP registry (every page) into the fleet database; later runs fetch only changes."""
    from mcpfleet.catalog import RegistryClient
    from mcpfleet.catalog.sync import sync_mirror

    mirror, url = _mirror(ctx)
    source = registry or url
    if not source.startswith(("http://", "https://")):
        raise ConfigError(f"--registry {source!r} is not an http(s) URL; give the registry's root URL")
    with console.status(f"Syncing the registry mirror from {source} ..."):
        report = await sync_mirror(mirror, RegistryClient(source, timeout=timeout), full=full)
    kind = "incremental" if report.incremental else "full"
    console.print(
        f"Mirror synced from {report.source} ({kind}): {report.fetched} entries fetched in {report.pages} "
        f"page(s), {report.removed} removed, {report.offered} servers offered, {report.seconds:.1f}s."
    )
    if report.note:
        err.print(f"[yellow]note:[/] {report.note}", highlight=False)


@catalog_app.command("status")
@fleet_command
async def status(ctx: typer.Context) -> None:
    """Where the mirror came from, when it was synced, and how many servers it offers."""
    mirror, _ = _mirror(ctx)
    state = mirror.state()
    if state is None:
        console.print("The registry mirror is empty: run `mcpfleet catalog sync`.")
        return
    console.print(
        f"Registry mirror of {state.source}: {mirror.count()} servers offered; synced {state.synced_at}, "
        f"last full sync {state.full_sync_at}; newest change {state.watermark or 'unknown'}."
    )


@catalog_app.command("serve")
@fleet_command
async def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8780,
) -> None:
    """Serve the mirror in the MCP registry's API (read-only) until Ctrl-C; other fleets set
    ``registry_url: http://HOST:PORT`` and run ``mcpfleet catalog sync``."""
    import uvicorn

    from mcpfleet.catalog.serving import registry_app

    mirror, _ = _mirror(ctx)
    if mirror.state() is None:
        err.print("[yellow]warning:[/] the mirror is empty; run `mcpfleet catalog sync` first.")
    console.print(f"Serving the registry mirror at http://{host}:{port}/v0.1/servers (Ctrl-C stops).")
    server = uvicorn.Server(uvicorn.Config(registry_app(mirror), host=host, port=port, log_level="warning"))
    await server.serve()
