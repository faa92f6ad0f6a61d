"""``mcpfleet secrets set | list | delete | keygen``: per-principal secrets for remote servers.

A value is read from a hidden prompt, or from stdin when it is not a terminal
(``printf %s "$TOKEN" | mcpfleet secrets set --principal alice github_token``); never from
the command line, where other users of the machine and the shell history would see it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mcpfleet.cli.app import console, err, fleet_database, print_error

if TYPE_CHECKING:
    from mcpfleet.security.user_secrets import UserSecretStore


__all__ = ["secrets_app"]

secrets_app = typer.Typer(
    no_args_is_help=True, help="Per-principal secrets for ${user:NAME} in remote servers' headers."
)
Principal = Annotated[
    str, typer.Option("--principal", help="whose secret: an API key's name or a token's subject")
]
Name = Annotated[str, typer.Argument(help="the secret's name, as in ${user:NAME}")]


@contextmanager
def _store(ctx: typer.Context, *, need_key: bool = True) -> Iterator[UserSecretStore]:
    from mcpfleet.security.user_secrets import SecretKey, UserSecretStore

    with fleet_database(ctx) as (database, manager):
        key = SecretKey.from_environ(manager.environ) if need_key else None
        yield UserSecretStore(database, key)


@secrets_app.command("set")
def set_secret(ctx: typer.Context, name: Name, principal: Principal) -> None:
    """Set a principal's secret; the value comes from a hidden prompt or stdin."""
    if sys.stdin.isatty():
        value = typer.prompt(f"value of {name} for {principal}", hide_input=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        print_error("the value is empty; type it at the prompt or pipe it on stdin")
        raise typer.Exit(1)
    with _store(ctx) as store:
        store.set(principal, name, value)
    err.print(f"Set {name} for {principal}.", highlight=False)


@secrets_app.command("list")
def list_secrets(
    ctx: typer.Context,
    principal: Annotated[str | None, typer.Option("--principal", help="only this principal's")] = None,
) -> None:
    """List secrets by principal and name (never their values)."""
    with _store(ctx, need_key=False) as store:
        rows = store.list(principal)
    table = Table("principal", "name", "updated (UTC)")
    for row in rows:
        table.add_row(row.principal, row.name, row.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@secrets_app.command("delete")
def delete_secret(ctx: typer.Context, name: Name, principal: Principal) -> None:
    """Delete a principal's secret."""
    with _store(ctx, need_key=False) as store:
        if not store.delete(principal, name):
            print_error(
                f"{principal!r} has no secret {name!r}; see `mcpfleet secrets list --principal {principal}`"
            )
            raise typer.Exit(1)
    err.print(f"Deleted {name} of {principal}.", highlight=False)


@secrets_app.command()
def keygen() -> None:
    """Print a new key for MCPFLEET_SECRET_KEY (or a key file)."""
    from mcpfleet.security.user_secrets import generate_key

    print(generate_key())
