"""``mcpfleet health``: probe every server of the running fleet now and show the result."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mcpfleet.cli.app import app, console, fleet_command, state_of
from mcpfleet.cli.remote import AdminClient
from mcpfleet.exceptions import FleetError

__all__ = ["health"]


@app.command()
@fleet_command
async def health(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Probe every instance of the running fleet (a real MCP request each); exit 1 if any server is down."""
    live = state_of(ctx).live()
    if live is None or not live.gateway_url:
        raise FleetError("No running fleet: health probes the fleet `mcpfleet up` runs; start it first")
    servers = await AdminClient(live.gateway_url).health()
    if as_json:
        console.print_json(json.dumps(servers))
    else:
        from mcpfleet.cli.render import state_text  # loaded only to print (the CLI starts fast)

        table = Table(
            "server",
            "health",
            "instance",
            "state",
            "latency",
            "error",
            title="mcpfleet health",
            title_justify="left",
        )
        for name, status in servers.items():
            verdict = "[green]healthy[/]" if status["healthy"] else "[red]down[/]"
            if status.get("idle"):
                verdict = "[dim]idle[/]"
            if status["healthy"] and status.get("degraded"):
                verdict = "[yellow]degraded[/]"
            rows = status["instances"] or [  # not running: its state says why, and what comes next
                {
                    "id": "-",
                    "state": state_text(status) if "state" in status else "-",
                    "latency_ms": None,
                    "error": status.get("last_error") or status["error"],
                }
            ]
            for i, detail in enumerate(rows):
                latency = f"{detail['latency_ms']:.1f} ms" if detail.get("latency_ms") is not None else ""
                table.add_row(
                    name if i == 0 else "", verdict if i == 0 else "", detail["id"], detail["state"], latency,
                    str(detail.get("error") or ""),
                )  # fmt: skip
        console.print(table)
    if not all(s["healthy"] for s in servers.values()):
        raise typer.Exit(1)
