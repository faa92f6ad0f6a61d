"""``mcpfleet drain`` and ``mcpfleet maintenance``: take a server out of rotation on a running fleet;
``mcpfleet start``, ``stop`` and ``restart``: run it or not (``restart`` brings back one that gave up).

They act on the fleet that ``mcpfleet up`` runs (through its admin API), since that is where
calls flow; with no fleet up they say so.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.markup import escape

from mcpfleet.cli.app import app, console, fleet_command, state_of
from mcpfleet.cli.remote import AdminClient
from mcpfleet.exceptions import FleetError

__all__ = ["drain", "maintenance", "restart", "start", "stop"]


def _admin(ctx: typer.Context, timeout: float) -> AdminClient:
    live = state_of(ctx).live()
    if live is None or not live.gateway_url:
        raise FleetError(
            "No running fleet: this command acts on the fleet `mcpfleet up` serves; start it first"
        )
    return AdminClient(live.gateway_url, timeout=timeout + 30.0)


def _report(server: str, result: dict[str, object]) -> None:
    left = result.get("in_flight") or 0
    mode = result.get("mode") or "taking calls"
    note = f"; {left} call(s) were still in flight at the timeout" if left else ""
    console.print(f"{server}: {mode}{note}")


@app.command()
@fleet_command
async def drain(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument()],
    timeout: Annotated[float, typer.Option(help="seconds to wait for calls in flight")] = 30.0,
) -> None:
    """Stop new calls to a server (they go to its backups, if any) and wait for those in flight."""
    _report(server, await _admin(ctx, timeout).drain(server, timeout))


@app.command()
@fleet_command
async def maintenance(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument()],
    state: Annotated[
        Literal["on", "off"], typer.Argument(help="on: drain, then maintenance; off: health check, then back")
    ],
    drain_timeout: Annotated[float, typer.Option(help="seconds to wait for calls in flight")] = 30.0,
) -> None:
    """Put a server in maintenance (`on`) or bring it back after a health check (`off`)."""
    _report(server, await _admin(ctx, drain_timeout).maintenance(server, state == "on", drain_timeout))


async def _act(ctx: typer.Context, server: str, action: str) -> None:
    from mcpfleet.cli.render import state_text  # loaded only to print (the CLI starts fast)

    rows = await _admin(ctx, 120.0).act(server, action)
    row = next((r for r in rows if r["server"] == server), None)
    if row is not None:
        error = f": {row['last_error']}" if row.get("last_error") and row.get("state") != "ready" else ""
        console.print(f"{server}: {state_text(row)}{escape(error)}")


@app.command()
@fleet_command
async def start(ctx: typer.Context, server: Annotated[str, typer.Argument()]) -> None:
    """Start a server of the running fleet (and keep it running) until `mcpfleet stop`."""
    await _act(ctx, server, "start")


@app.command()
@fleet_command
async def stop(ctx: typer.Context, server: Annotated[str, typer.Argument()]) -> None:
    """Stop a server of the running fleet (its processes are reaped); it stays stopped."""
    await _act(ctx, server, "stop")


@app.command()
@fleet_command
async def restart(ctx: typer.Context, server: Annotated[str, typer.Argument()]) -> None:
    """Restart a server of the running fleet, one instance at a time; one that gave up starts afresh."""
    await _act(ctx, server, "restart")
