"""Long-running commands: ``up`` (servers + HTTP gateway) and ``gateway --stdio``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mcpfleet import interpreter
from mcpfleet.cli import render
from mcpfleet.cli.app import app, console, err, fleet_command, print_error, state_of
from mcpfleet.cli.commands import install_servers
from mcpfleet.cli.runstate import remove_state, write_state
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.audit import AuditPruner
    from mcpfleet.gateway import GatewayServer
    from mcpfleet.gateway.workers import WorkerPool
    from mcpfleet.manager import MCPManager


__all__ = ["gateway", "gateway_worker", "up"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


async def _prepare(manager: MCPManager, install_missing: bool, workers: int = 1) -> None:
    """Install what is missing (``install_missing``) and start the servers: with several
    gateway workers, this process's share of each server's instances."""
    from mcpfleet.install import InstallStrategy

    if not manager.config.servers:
        raise FleetError(
            f"The fleet has no servers. Run `mcpfleet init` or add servers to {manager.config_path}."
        )
    if install_missing:
        missing = [r["server"] for r in manager.status() if r["enabled"] and not r["installed"]]
        if missing:
            await install_servers(manager, missing, InstallStrategy.PARALLEL, verify=False, force=False)
    if workers <= 1:
        await manager.start_all(on_error=lambda name, exc: print_error(exc, f"{name} did not start"))
        return
    import asyncio

    from mcpfleet.gateway.workers import shares

    async def start(name: str, count: int) -> None:
        try:
            await manager.start_server(name, instances=count)
        except FleetError as exc:  # one that fails leaves the rest running, as start_all does
            print_error(exc, f"{name} did not start")

    await asyncio.gather(*(start(n, c) for n, c in shares(manager.config, workers).items()))


def _multiprocess_metrics(root: Path) -> None:
    """Metrics shared by the gateway workers: set before anything loads them. A folder already
    named in the environment is used as it is; otherwise ``<home>/run/metrics``, emptied."""
    if os.environ.get(MULTIPROC_ENV):
        return
    if "prometheus_client" in sys.modules:
        raise FleetError("gateway.workers needs metrics in multiprocess mode, but they were loaded already")
    folder = root / "run" / "metrics"
    shutil.rmtree(folder, ignore_errors=True)  # figures of an earlier `up` are not this one's
    folder.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)


@app.command()
@fleet_command
async def up(
    ctx: typer.Context,
    install_missing: Annotated[
        bool, typer.Option("--install/--no-install", help="install what is missing")
    ] = True,
    host: Annotated[str | None, typer.Option(help="gateway address (default from config: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="gateway port (default from config: 8765)")] = None,
) -> None:
    """Install what is missing, start every enabled server, serve the gateway until Ctrl-C."""
    import asyncio

    manager = state_of(ctx).manager()
    workers = manager.config.gateway.workers
    if workers > 1:
        manager.home.ensure()
        _multiprocess_metrics(manager.home.root)  # before the imports below load the metrics

    from mcpfleet.audit import AuditPruner
    from mcpfleet.autoscale import AutoScaler
    from mcpfleet.backup import BackupScheduler
    from mcpfleet.gateway import Gateway, GatewayServer
    from mcpfleet.gateway.server import check_port_free
    from mcpfleet.gateway.workers import check_workers, worker_config
    from mcpfleet.security import check_exposure

    check_workers(manager.config)  # what several workers cannot do, before anything starts
    check_exposure(host or manager.config.gateway.host, manager.config.auth)  # before installing anything
    check_port_free(
        host or manager.config.gateway.host, manager.config.gateway.port if port is None else port
    )
    _upgrade_database(manager)  # before anything uses the database
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)  # handlers only enqueue; the loop below acts
    server: GatewayServer | None = None
    backups = BackupScheduler.for_fleet(manager)  # None unless the fleet file asks for backups
    autoscaler = AutoScaler.from_config(manager) if manager.config.autoscale.enabled else None
    pruner: AuditPruner | None = None
    pool: WorkerPool | None = None
    try:
        console.print(f"Fleet home: {manager.home.root}")
        await _prepare(manager, install_missing, workers)
        if workers > 1:
            secret = _session_secret(manager)
            config = worker_config(manager.config.gateway, secret)
            server = GatewayServer(Gateway(manager, config), host=host, port=port, reuse_port=True)
            await server.start()
            pool = _worker_pool(ctx, manager, server, secret)
            await pool.start()  # each listens before the fleet is said to be up
            console.print(
                f"Gateway workers: {workers} (pids {os.getpid()}, {', '.join(map(str, pool.pids))})"
            )
        else:
            server = GatewayServer(Gateway(manager), host=host, port=port)
            await server.start()
        if backups is not None:
            backups.start()
        if autoscaler is not None:
            server.gateway.metrics.autoscaler = autoscaler
            await autoscaler.start()
        pruner = AuditPruner.for_fleet(manager, server.gateway.audit)  # None when audit is off
        if pruner is not None:
            pruner.start()
        rows = manager.status()
        write_state(manager.home, rows, server.url)
        console.print(render.status_table(rows, live=True, width=console.width))
        _print_reach(manager, server.url)
        interpreter.settle()  # GC and GIL settings for serving (mcpfleet.interpreter)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)
            write_state(manager.home, manager.status(), server.url)
    finally:
        # Shutdown: 1. signals go back to default, 2. scheduled backups stop (a partial one leaves
        # nothing), audit pruning stops (after its current batch) and the autoscaler stops (a
        # drain under way ends first), 3. the other gateway workers drain and stop, 4. the
        # gateway stops accepting and finishes in-flight calls, 5. every server stops (its
        # process group reaped), 6. the state file goes.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        console.print("Stopping the fleet...")
        if backups is not None:
            await backups.stop()
        if pruner is not None:
            await pruner.stop()
        if autoscaler is not None:
            await autoscaler.stop()
        if pool is not None:
            await pool.stop()
        if server is not None:
            await server.stop()
        await manager.aclose()
        remove_state(manager.home)
        console.print("Stopped.")


def _session_secret(manager: MCPManager) -> str:
    """The secret every gateway worker signs session ids with: the configured one, else new."""
    from mcpfleet.gateway.workers import session_secret

    configured = manager.config.gateway.session_secret
    if configured:
        configured = manager.resolve_values({"s": configured}, where="gateway.session_secret")["s"]
    return session_secret(configured)


def _worker_pool(ctx: typer.Context, manager: MCPManager, server: GatewayServer, secret: str) -> WorkerPool:
    """Workers 1..N-1: ``mcpfleet gateway-worker`` on this fleet, its home and the port we hold;
    the secret goes in their environment (never in argv, which any user may read)."""
    from mcpfleet.gateway.workers import SECRET_ENV, WorkerPool

    argv = [
        sys.executable,
        "-m",
        "mcpfleet",
        "-c",
        str(manager.config_path),
        "--home",
        str(manager.home.root),
    ]
    argv += ["-v"] * state_of(ctx).verbose
    argv += ["gateway-worker", "--host", server.host, "--port", str(server.port)]
    env = {**os.environ, SECRET_ENV: secret}
    return WorkerPool(argv, env, manager.config.gateway.workers)


def _upgrade_database(manager: MCPManager) -> None:
    """Run the fleet database's pending migrations (a SQLite file not made yet is left to its
    first user, which makes it through the migrations too)."""
    from mcpfleet.database import Database

    database = Database.for_fleet(manager.config)
    try:
        if database.exists():
            report = database.upgrade()
            if report.applied:
                text = report.describe()
                console.print(f"{text[0].upper()}{text[1:]}.", highlight=False)
    finally:
        database.dispose()


def _print_reach(manager: MCPManager, url: str) -> None:
    first = next(iter(manager.running_servers()), "SERVER")
    virtual = "".join(f"  {url}/virtual/{v}/mcp\n" for v in manager.config.gateway.virtual_servers)
    console.print(
        f"\n[bold]The fleet is up.[/] MCP clients connect to:\n"
        f"  {url}/mcp                      every server, tools named server__tool\n"
        f"  {url}/servers/{first}/mcp{' ' * max(1, 12 - len(first))}one server, names as they are\n"
        f"{virtual}"
        f"Admin API: {url}/api/v1/status (OpenAPI at {url}/api/v1/openapi.json)\n"
        f"Dashboard: {url}/ui\n"
        "From another shell (same --config / MCPFLEET_HOME):\n"
        "  mcpfleet status | mcpfleet tools | "
        f"mcpfleet call {first} TOOL key=value | mcpfleet logs {first}\n"
        "Press Ctrl-C to stop.",
        highlight=False,
    )


@app.command()
@fleet_command
async def gateway(
    ctx: typer.Context,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="serve MCP on stdin/stdout (for desktop clients)")
    ] = False,
) -> None:
    """Serve the whole fleet as one MCP server on stdio: `mcpfleet gateway --stdio`.

    Servers must be installed first (`mcpfleet install`): stdout carries only MCP, so nothing
    is installed here.
    """
    from mcpfleet.gateway import Gateway
    from mcpfleet.gateway.stdio import serve_stdio

    if not stdio:
        err.print("Use `mcpfleet up` for the HTTP gateway, or `mcpfleet gateway --stdio` for stdio.")
        raise typer.Exit(2)
    async with state_of(ctx).manager() as manager:
        await _prepare(manager, install_missing=False)
        await serve_stdio(Gateway(manager))


@app.command("gateway-worker", hidden=True)
@fleet_command
async def gateway_worker(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="the address `mcpfleet up` listens on")],
    port: Annotated[int, typer.Option(help="the port `mcpfleet up` listens on")],
) -> None:
    """One more gateway process of a fleet with `gateway.workers` above 1 (`mcpfleet up` runs it)."""
    import asyncio

    from mcpfleet.gateway import Gateway, GatewayServer
    from mcpfleet.gateway.workers import SECRET_ENV, WorkerRole, announce_ready, worker_config

    role, secret = WorkerRole.from_env(), os.environ.pop(SECRET_ENV, "")
    if role is None or not secret:
        err.print("`mcpfleet up` starts gateway workers itself (gateway.workers in mcpfleet.yaml); run that.")
        raise typer.Exit(2)
    manager = state_of(ctx).manager()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server: GatewayServer | None = None
    try:
        await _prepare(manager, install_missing=False, workers=role.count)
        config = worker_config(manager.config.gateway, secret)
        server = GatewayServer(Gateway(manager, config), host=host, port=port, reuse_port=True)
        await server.start()
        interpreter.settle()
        announce_ready()
        await stop.wait()
    finally:  # as `up`: stop accepting, finish in-flight calls, stop this worker's instances
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if server is not None:
            await server.stop()
        await manager.aclose()
