"""The typer app, its global options, and what every command shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from mcpfleet.exceptions import FleetError
from mcpfleet.logs import configure_logging
from mcpfleet.manager import MCPManager
from mcpfleet.settings import Settings

__all__ = ["State", "app", "console", "err", "fleet_command", "print_error", "state_of"]

app = typer.Typer(
    name="mcpfleet",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    help="Run a fleet of MCP servers: install, supervise, and call them.",
)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")


class State:
    """Global options, shared by every command."""

    def __init__(self, config: Path, home: Path | None) -> None:
        self.config = config
        self.home = home

    def manager(self, **kwargs: Any) -> MCPManager:
        return MCPManager(self.config_file(), home=self.home, **kwargs)

    def config_file(self) -> Path | None:
        """The fleet file; without one, ``<home>/mcpfleet.yaml`` (where a restore puts it)."""
        if self.config.exists():
            return self.config
        restored = self.home.expanduser() / "mcpfleet.yaml" if self.home is not None else None
        return restored if restored is not None and restored.exists() else None


def state_of(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


def print_error(exc: BaseException | str, label: str = "error") -> None:
    err.print(f"[bold red]{label}:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def fleet_command(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; FleetErrors print their message and exit 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(func(*args, **kwargs))
        except FleetError as exc:
            print_error(exc)
            raise typer.Exit(1) from None

    return wrapper


@app.callback()
def _options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="fleet file [env MCPFLEET_CONFIG]")
    ] = None,
    home: Annotated[Path | None, typer.Option("--home", help="fleet home folder [env MCPFLEET_HOME]")] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="more logging (-vv for debug)")
    ] = 0,
) -> None:
    settings = Settings()
    level = [settings.log_level, "INFO", "DEBUG"][min(verbose, 2)]
    configure_logging(level, settings.log_format)
    ctx.obj = State(config or settings.config, home or settings.home)
