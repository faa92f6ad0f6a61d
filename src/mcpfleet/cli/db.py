"""``mcpfleet db upgrade | current | history``: the fleet database's schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from mcpfleet.cli.app import console, fleet_database

if TYPE_CHECKING:
    from mcpfleet.database import Database

__all__ = ["db_app"]

db_app = typer.Typer(
    no_args_is_help=True,
    help="Upgrade the fleet database's schema (SQLite fleet.db or database_url), and show its revision.",
)


@contextmanager
def _database(ctx: typer.Context) -> Iterator[Database]:
    """The fleet's database; FleetErrors become a message and exit 1."""
    with fleet_database(ctx) as (database, _):
        yield database


@db_app.command()
def upgrade(ctx: typer.Context) -> None:
    """Run the pending migrations, all in one transaction (`mcpfleet up` does this too)."""
    with _database(ctx) as database:
        report = database.upgrade()
        console.print(
            f"{escape(database.where)}: {escape(report.describe())}", highlight=False, soft_wrap=True
        )


@db_app.command()
def current(ctx: typer.Context) -> None:
    """Print the revision the database is at, and whether it is the newest."""
    from mcpfleet.migrations import head_revision, revisions

    with _database(ctx) as database:
        revision, head = database.schema_revision(), head_revision()
        if revision is None:
            state = "no schema version yet: `mcpfleet db upgrade` makes (or adopts) the tables"
        elif revision == head:
            state = "the newest"
        elif revision not in {r.id for r in revisions()}:
            state = "unknown to this mcpfleet: a newer one upgraded it"
        else:
            state = f"behind {head}: run `mcpfleet db upgrade`"
        console.print(
            f"{escape(database.where)}: {revision or '-'} ({escape(state)})", highlight=False, soft_wrap=True
        )


@db_app.command()
def history() -> None:
    """List the migrations this mcpfleet knows, oldest first."""
    from mcpfleet.migrations import revisions

    for revision in revisions():
        console.print(f"{revision.id}  {escape(revision.doc)}", highlight=False, soft_wrap=True)
