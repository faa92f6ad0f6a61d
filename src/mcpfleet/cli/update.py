"""``mcpfleet update SERVER VERSION``: move a server to another version without losing a call.

On a fleet that ``mcpfleet up`` runs, the rolling update happens there (through its admin API),
and each step is printed as it happens. With no fleet up, the new version is installed, checked
on one temporary instance, and recorded in the install lock and the fleet file for the next
``mcpfleet up``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from mcpfleet.cli import render
from mcpfleet.cli.app import app, console, fleet_command, state_of
from mcpfleet.cli.arguments import parse_tool_arguments
from mcpfleet.cli.remote import AdminClient
from mcpfleet.cli.runstate import read_state
from mcpfleet.exceptions import ConfigError, RolloutError

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager
    from mcpfleet.rollout import NewVersion

__all__ = ["update"]


def _target(
    manager: MCPManager, server: str, version: str, command: str | None, args: list[str] | None
) -> NewVersion:
    """A version string, or the server's next spec when the command or its args change too."""
    if command is None and args is None:
        return version
    spec = manager.spec(server)
    package = spec.package.model_dump()
    if command is not None:
        if spec.package.type != "command":
            raise ConfigError(
                f"--command is for command servers; {server} is a {spec.package.type} package, "
                "so give only its new version"
            )
        package["command"] = command
    package["version"] = version
    return spec.model_copy(
        update={
            "package": type(spec.package).model_validate(package),
            "args": list(args) if args is not None else spec.args,
        }
    )


def _show(step: str, message: str) -> None:
    console.print(f"  [bold]{step:>11}[/] {escape(message)}", highlight=False)


def _done(result: dict[str, Any]) -> None:
    if result["instances"]:
        console.print(render.rollout_table(result))
    console.print(
        f"{result['server']} runs {result['version']} ({len(result['instances'])} instance(s) in "
        f"{result['seconds']:.1f}s; install {result['install_seconds']:.1f}s)"
    )


@app.command()
@fleet_command
async def update(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument()],
    version: Annotated[str, typer.Argument(help="package version (a label for command and remote servers)")],
    command: Annotated[str | None, typer.Option(help="command servers: the new command")] = None,
    args: Annotated[
        list[str] | None,
        typer.Option(
            "--arg", help="the new args, replacing all (repeat; --arg=-x for one that starts with -)"
        ),
    ] = None,
    health_timeout: Annotated[float, typer.Option(help="seconds a new instance has to answer")] = 10.0,
    drain_timeout: Annotated[
        float, typer.Option(help="seconds an old instance has to finish its calls")
    ] = 30.0,
    smoke: Annotated[str | None, typer.Option(help="a tool each new instance must answer first")] = None,
    smoke_args: Annotated[str | None, typer.Option(help="the smoke tool's arguments, a JSON object")] = None,
) -> None:
    """Roll a server to another version, one instance at a time, rolling back if one fails its check."""
    manager = state_of(ctx).manager()
    target = _target(manager, server, version, command, args)
    smoke_call = (smoke, parse_tool_arguments([], smoke_args)) if smoke else None
    live = read_state(manager.home)
    try:
        if live is not None and live.gateway_url:
            body: dict[str, Any] = {"health_timeout": health_timeout, "drain_timeout": drain_timeout}
            if isinstance(target, str):
                body["version"] = target
            else:
                body["spec"] = target.model_dump(mode="json")
            if smoke_call is not None:
                body["smoke"] = {"tool": smoke_call[0], "arguments": smoke_call[1]}
            client = AdminClient(live.gateway_url, timeout=health_timeout + drain_timeout + 60.0)
            result = await client.update(server, body, lambda e: _show(e["step"], e["message"]))
        else:
            async with manager:
                done = await manager.rolling_update(
                    server,
                    target,
                    health_timeout=health_timeout,
                    drain_timeout=drain_timeout,
                    smoke=smoke_call,
                    progress=lambda e: _show(e.step, e.message),
                )
            result = done.to_dict()
    except RolloutError as exc:
        report = exc.result.to_dict() if hasattr(exc.result, "to_dict") else exc.result
        if isinstance(report, dict) and report.get("instances"):
            console.print(render.rollout_table(report))
        raise
    _done(result)
