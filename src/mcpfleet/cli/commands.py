"""The fleet commands: init, install, search, status, tools, call, logs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from mcpfleet.cli import render
from mcpfleet.cli.app import app, console, err, fleet_command, print_error, state_of
from mcpfleet.cli.arguments import parse_tool_arguments
from mcpfleet.cli.remote import AdminClient
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.install import InstallStrategy
    from mcpfleet.manager import MCPManager, ToolInfo

__all__ = ["install_servers"]


EXAMPLE = """\
# mcpfleet.yaml: the fleet. `mcpfleet install` installs it, `mcpfleet up` runs it.
home: {home}
servers:
  memory:
    description: knowledge graph memory (npm)
    package: {{type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31"}}
    env: {{MEMORY_FILE_PATH: "${{MCPFLEET_SERVER_DATA}}/memory.json"}}
  everything:
    description: the MCP reference server with every feature (npm)
    package: {{type: npm, name: "@modelcontextprotocol/server-everything", version: "2026.8.31"}}
  time:
    description: time and time zones (PyPI)
    package: {{type: pypi, name: mcp-server-time, version: "2026.10.19"}}
    instances: 2
"""


@app.command()
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write an example mcpfleet.yaml (memory, everything, time) to start from."""
    state = state_of(ctx)
    if state.config.exists() and not force:
        err.print(f"[red]error:[/] {state.config} exists; use --force to overwrite it")
        raise typer.Exit(1)
    state.config.parent.mkdir(parents=True, exist_ok=True)
    state.config.write_text(EXAMPLE.format(home=state.home or "~/.mcpfleet"), encoding="utf-8")
    console.print(f"Wrote {state.config}. Next: [bold]mcpfleet install[/] then [bold]mcpfleet up[/].")


async def install_servers(
    manager: MCPManager, names: list[str] | None, strategy: InstallStrategy, verify: bool, force: bool
) -> bool:
    shown = names or [n for n, s in manager.config.servers.items() if s.enabled]
    if not shown:
        console.print("Nothing to install: the fleet has no servers. Try [bold]mcpfleet install memory[/].")
        return True
    with render.install_progress(console, shown) as progress:
        result = await manager.batch_install(
            names, strategy=strategy, verify=verify, force=force, progress=progress
        )
    console.print(render.install_table(result))
    return result.ok


@app.command()
@fleet_command
async def install(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="fleet servers or catalog names; default: the fleet")
    ] = None,
    strategy: Annotated[
        Literal["parallel", "sequential"], typer.Option(help="parallel or sequential")
    ] = "parallel",
    verify: Annotated[bool, typer.Option(help="start each server once and list its tools")] = True,
    force: Annotated[bool, typer.Option(help="reinstall even if installed")] = False,
    save: Annotated[bool, typer.Option(help="add catalog servers to the fleet file")] = True,
) -> None:
    """Install servers, in parallel, with progress; catalog names are added to the fleet file."""
    from mcpfleet.fleetfile import FleetFile
    from mcpfleet.install import InstallStrategy

    state = state_of(ctx)
    manager = state.manager()
    before = set(manager.config.servers)
    ok = await install_servers(manager, names, InstallStrategy(strategy), verify, force)
    added = [n for n in manager.config.servers if n not in before]  # installed: a failed one is not kept
    if added and save:
        fleet = FleetFile.load(manager.config_path or state.config)
        for name in added:  # their entries only: the rest of the file stays as it is
            fleet.set_server(name, manager.config.servers[name])
        path = fleet.save()
        console.print(f"Added {', '.join(added)} to {path} (found in the {manager.catalog.last_source}).")
    if not ok:
        raise typer.Exit(1)


@app.command()
@fleet_command
async def remove(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="servers of the fleet")],
) -> None:
    """Take servers out of the fleet file and uninstall them; their data/ and logs/ folders stay."""
    from mcpfleet.fleetfile import FleetFile
    from mcpfleet.install import uninstall

    state = state_of(ctx)
    manager = state.manager()
    for name in names:
        manager.spec(name)  # an unknown name fails before anything changes
    live = state.live()
    running = sorted({str(row.get("server")) for row in live.servers} & set(names)) if live else []
    if running:
        raise FleetError(f"`mcpfleet up` runs {', '.join(running)}; stop it first, then remove them")
    path = manager.config_path or state.config
    fleet = FleetFile.load(path)
    for name in names:
        fleet.remove_server(name)
    fleet.save()
    for name in names:
        uninstall(name, manager.home, manager.lock)
        data = manager.home.data_dir(name)
        console.print(f"Removed {name} from {path} and uninstalled it; its data stays in {data}.")


@app.command()
@fleet_command
async def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="words to look for; empty lists the built-in catalog")] = "",
    limit: Annotated[int, typer.Option(help="at most this many results")] = 30,
    registry: Annotated[bool, typer.Option(help="also search the official MCP registry")] = True,
) -> None:
    """Search the built-in catalog and the MCP registry; installed servers are marked."""
    manager = state_of(ctx).manager()
    entries = await manager.catalog.search(query, limit=limit, include_registry=registry)
    installed = {n for n, s in manager.config.servers.items() if manager.lock.get(n)}
    table = Table(title=f"{len(entries)} servers matching {query!r}", title_justify="left")
    for col in ("name", "aliases", "package", "source", "installed", "description"):
        table.add_column(col)
    for entry in entries:
        pkg = next(iter(entry.server.packages or []), None)
        package = f"{pkg.registry_type}:{pkg.identifier}" if pkg else "remote"
        mark = "[green]yes[/]" if installed & {entry.name, *entry.aliases} else ""
        table.add_row(
            entry.name, ", ".join(entry.aliases), package, entry.source, mark, entry.description[:80]
        )
    console.print(table)
    if entries:
        err.print(f"Answered by the {manager.catalog.last_source}.", highlight=False)
    if manager.catalog.last_registry_error:
        err.print(f"[yellow]Built-in catalog only: {escape(manager.catalog.last_registry_error)}[/]")


@app.command()
@fleet_command
async def status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show every server: package, install state, instances (live when `mcpfleet up` runs)."""
    live = state_of(ctx).live()
    if live is not None and live.gateway_url:
        rows = await AdminClient(live.gateway_url).status()
    else:
        rows = live.servers if live is not None else state_of(ctx).manager().status()
    if as_json:
        console.print_json(json.dumps(rows, default=str))
    else:
        console.print(render.status_table(rows, live=live is not None, width=console.width))


@fleet_command
async def tools(  # `mcpfleet tools [list]`: registered by mcpfleet.cli.tools
    ctx: typer.Context,
    server: Annotated[str | None, typer.Argument(help="one server; default: every enabled server")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the tools of a server (or of all): from the running fleet, or by starting them for the moment."""
    live = state_of(ctx).live()
    if live is not None and live.gateway_url:
        found = await AdminClient(live.gateway_url).tools(server)
    else:
        found = await _tools_here(state_of(ctx).manager(), server)
    if as_json:
        console.print_json(json.dumps([{"server": t.server, **t.tool} for t in found]))
    else:
        console.print(render.tools_table(found))


async def _tools_here(manager: MCPManager, server: str | None) -> list[ToolInfo]:
    async with manager:
        names = [server] if server else [n for n, s in manager.config.servers.items() if s.enabled]
        found: list[ToolInfo] = []
        for name in names:
            try:
                found += await manager.list_tools(name)
            except FleetError as exc:
                if server:
                    raise
                print_error(exc, f"skipped {name}")
        return found


@app.command()
@fleet_command
async def call(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument()],
    tool: Annotated[str, typer.Argument()],
    arguments: Annotated[list[str] | None, typer.Argument(help="key=value pairs or a JSON object")] = None,
    json_args: Annotated[str | None, typer.Option("--json", help="arguments as one JSON object")] = None,
    raw: Annotated[bool, typer.Option(help="print the whole CallToolResult as JSON")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait for the result")] = None,
) -> None:
    """Call a tool: `mcpfleet call time get_current_time timezone=UTC`."""
    params = parse_tool_arguments(arguments or [], json_args)
    live = state_of(ctx).live()
    if live is not None and live.gateway_url:
        result = await AdminClient(live.gateway_url, timeout=timeout or 120.0).call(server, tool, params)
    else:
        async with state_of(ctx).manager() as manager:
            result = await manager.execute_tool(server, tool, params, timeout=timeout)
    if raw:
        console.print_json(json.dumps(result))
    else:
        console.print(render.result_text(result), markup=False, highlight=False)
    if result.get("isError"):
        raise typer.Exit(2)


@app.command()
def logs(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument()],
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
) -> None:
    """Show the stderr log of a server's instances."""
    try:
        manager = state_of(ctx).manager()
        manager.spec(server)
    except FleetError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    files = sorted(manager.home.log_dir(server).glob("*.log"))
    if not files:
        err.print(f"No logs for {server} yet in {manager.home.log_dir(server)}; start it with `mcpfleet up`.")
        raise typer.Exit(1)
    for path in files:
        console.rule(str(path.name))
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            tail = fh.readlines()[-lines:]
        if not tail:
            console.print(f"(no output yet: {path.stem} has written nothing to stderr)", style="dim")
        for line in tail:
            console.print(line.rstrip("\n"), markup=False, highlight=False)
    if follow:
        _follow(files)


def _follow(files: list[Path]) -> None:
    handles = [p.open("r", encoding="utf-8", errors="replace") for p in files]
    for h in handles:
        h.seek(0, 2)
    try:
        while True:
            quiet = True
            for path, h in zip(files, handles, strict=True):
                for line in h.readlines():
                    quiet = False
                    console.print(f"[dim]{path.stem}[/] {line.rstrip()}", highlight=False)
            if quiet:
                time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        for h in handles:
            h.close()
