"""The typer app, its global options, and what every command shares.

Importing the command line must stay cheap (``mcpfleet --help`` in a fraction of a second): a
command module imports at its top only typer, rich and light modules of ours, and what only
one command needs (the manager, the gateway, databases, HTTP clients) inside that command.
``tests/cli/test_main.py`` keeps the heavy ones out of ``import mcpfleet.cli.main``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from mcpfleet.cli.runstate import RunState, find_home, read_state
from mcpfleet.exceptions import FleetError
from mcpfleet.logs import configure_logging

if TYPE_CHECKING:
    from mcpfleet.database import Database
    from mcpfleet.manager import MCPManager
    from mcpfleet.settings import Settings

__all__ = ["State", "app", "console", "err", "fleet_command", "fleet_database", "print_error", "state_of"]

app = typer.Typer(
    name="mcpfleet",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Run a fleet of MCP servers: install, supervise, and call them.",
)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")


class State:
    """Global options, shared by every command. ``MCPFLEET_*`` settings are read (and logging
    set up) when a command first needs them: a command that only asks the running fleet
    (:meth:`live`) never imports pydantic."""

    def __init__(self, config: Path | None, home: Path | None, verbose: int = 0) -> None:
        self.options = (config, home)
        self.verbose = verbose
        self._settings: Settings | None = None
        self._manager: MCPManager | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from mcpfleet.settings import Settings

            self._settings = settings = Settings()
            configure_logging(
                [settings.log_level, "INFO", "DEBUG"][min(self.verbose, 2)], settings.log_format
            )
        return self._settings

    @property
    def config(self) -> Path:
        return self.options[0] or self.settings.config

    @property
    def home(self) -> Path | None:
        return self.options[1] or self.settings.home

    def live(self) -> RunState | None:
        """The running fleet (``mcpfleet up``) of this home, found cheaply (:func:`find_home`); when
        there is none, the fleet file is loaded after all, so a mistake in it is what the user hears."""
        home = find_home(*self.options)
        found = read_state(home) if home is not None else None
        return found if found is not None else read_state(self.manager().home)

    def manager(self, **kwargs: Any) -> MCPManager:
        """The fleet's manager; without arguments, the same one each time it is asked for."""
        from mcpfleet.manager import MCPManager

        if kwargs:
            return MCPManager(self.config_file(), home=self.home, **kwargs)
        if self._manager is None:
            self._manager = MCPManager(self.config_file(), home=self.home)
        return self._manager

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


@contextmanager
def fleet_database(ctx: typer.Context) -> Iterator[tuple[Database, MCPManager]]:
    """The fleet's database and manager, the database disposed after; a FleetError (raised here
    or in the ``with`` body) becomes one line on stderr and exit 1."""
    from mcpfleet.database import Database

    database = None
    try:
        manager = state_of(ctx).manager()
        database = Database.for_fleet(manager.config)
        yield database, manager
    except FleetError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    finally:
        if database is not None:
            database.dispose()


def fleet_command(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; FleetErrors print their message and exit 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            import asyncio  # not for `--help`

            return asyncio.run(func(*args, **kwargs))
        except FleetError as exc:
            print_error(exc)
            raise typer.Exit(1) from None

    return wrapper


def _print_version(value: bool | None) -> None:
    if value:
        from mcpfleet import __version__

        console.print(f"mcpfleet {__version__}", highlight=False)
        raise typer.Exit()


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
    version: Annotated[
        bool | None,
        typer.Option("--version", is_eager=True, callback=_print_version, help="print the version and exit"),
    ] = None,
) -> None:
    ctx.obj = State(config, home, verbose)
