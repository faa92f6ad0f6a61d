"""``mcpfleet approve``: answer agents that asked the running fleet for a new server."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from mcpfleet.cli.app import app, console, fleet_command, state_of
from mcpfleet.cli.remote import AdminClient
from mcpfleet.exceptions import FleetError

__all__ = ["approve"]


@app.command()
@fleet_command
async def approve(
    ctx: typer.Context,
    request_id: Annotated[
        str | None, typer.Argument(help="the request's ID; none lists pending requests")
    ] = None,
    deny: Annotated[bool, typer.Option("--deny", help="decline instead of approving")] = False,
) -> None:
    """Approve (or `--deny`) an agent's request to add a server; with no ID, list the requests."""
    live = state_of(ctx).live()
    if live is None or not live.gateway_url:
        raise FleetError(
            "No running fleet: approvals are asked of the fleet `mcpfleet up` serves; start it first"
        )
    admin = AdminClient(live.gateway_url)
    if request_id is None:
        pending = await admin.approvals()
        if not pending:
            console.print("No agent is waiting for approval.")
            return
        table = Table("id", "server", "what", "waiting")
        for row in pending:
            table.add_row(
                row["id"], row["server"], row["description"], f"{time.time() - row['asked_at']:.0f}s"
            )
        console.print(table)
        return
    decided = await admin.decide(request_id, not deny)
    verb = "approved: installing" if not deny else "declined"
    console.print(f"{decided['server']}: {verb}")
