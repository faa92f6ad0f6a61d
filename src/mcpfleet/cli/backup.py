"""``mcpfleet backup create | list | verify | restore | prune``.

The backup folder is ``--dir``, else the fleet file's ``backup.dir``, else ``<home>/backups``.
``verify`` exits 0 when the backup is intact, 1 when it is damaged, foreign or unsafe, 2 when
there is no such backup.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mcpfleet.cli.app import console, fleet_command, print_error, state_of
from mcpfleet.exceptions import BackupError, BackupNotFoundError

if TYPE_CHECKING:
    from mcpfleet.backup import BackupManager, BackupRecord


__all__ = ["backup_app"]

backup_app = typer.Typer(no_args_is_help=True, help="Back up the fleet, and restore it into a new home.")
DirOption = Annotated[
    Path | None, typer.Option("--dir", help="backup folder (default: backup.dir, else <home>/backups)")
]


def _backups(ctx: typer.Context, folder: Path | None, **overrides: bool) -> BackupManager:
    from mcpfleet.backup import BackupManager

    manager = state_of(ctx).manager()
    backups = BackupManager.for_fleet(manager.config, manager.home, folder)
    for name, value in overrides.items():
        if value:
            setattr(backups, name, True)
    return backups


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _describe(record: BackupRecord) -> None:
    console.print(f"[green]{escape(record.id)}[/] {escape(str(record.path))}", highlight=False)
    console.print(f"  {_size(record.size)}: {escape(', '.join(record.contents))}", highlight=False)
    for note in record.notes:
        console.print(f"  [yellow]note:[/] {escape(note)}", highlight=False)
    if record.redacted:
        console.print(f"  [yellow]redacted:[/] {escape(', '.join(record.redacted))}", highlight=False)


@backup_app.command()
@fleet_command
async def create(
    ctx: typer.Context,
    folder: DirOption = None,
    include_secrets: Annotated[
        bool, typer.Option("--include-secrets", help="keep literal secret values in clear")
    ] = False,
    include_env: Annotated[
        bool, typer.Option("--include-env", help="put the .env file in the backup")
    ] = False,
) -> None:
    """Back up the fleet now: config, install lock, each server's data, the fleet database."""
    backups = _backups(ctx, folder, include_secrets=include_secrets, include_env_file=include_env)
    record = await backups.create(state_of(ctx).manager())
    _describe(record)


@backup_app.command("list")
def list_(
    ctx: typer.Context,
    folder: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per backup")] = False,
) -> None:
    """Show the backups in the folder, newest first."""
    records = _backups(ctx, folder).list_backups()
    if as_json:
        for record in records:
            row = {**asdict(record), "path": str(record.path), "created": record.created.isoformat()}
            typer.echo(json.dumps(row))
        return
    table = Table("id", "created", "size", "contents", title="mcpfleet backups", title_justify="left")
    for record in records:
        created = record.created.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(escape(record.id), created, _size(record.size), escape(", ".join(record.contents)))
    console.print(table)
    if not records:
        console.print("No backups yet: `mcpfleet backup create` makes one.")


@backup_app.command()
def verify(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument(help="id or archive path")],
    folder: DirOption = None,
) -> None:
    """Check a backup's names, types and SHA-256 checksums; exit 1 if it is damaged or unsafe."""
    try:
        record = _backups(ctx, folder).verify(backup_id)
    except BackupNotFoundError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    except BackupError as exc:
        print_error(exc, "damaged")
        raise typer.Exit(1) from None
    console.print(f"[green]intact:[/] {escape(str(record))}", highlight=False)


@backup_app.command()
def restore(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument(help="id or archive path")],
    home: Annotated[
        Path, typer.Option("--home", help="new fleet home to restore into (must be new or empty)")
    ],
    folder: DirOption = None,
) -> None:
    """Restore a backup as a new fleet home; then `mcpfleet --home HOME up` runs that fleet."""
    try:
        result = _backups(ctx, folder).restore(backup_id, home)
    except BackupNotFoundError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    except BackupError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    console.print(f"Restored {escape(result.backup_id)} into {escape(str(result.home))}", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    console.print(
        f"Start it with: mcpfleet --home {escape(str(result.home))} up "
        "(servers not installed there are installed at the versions of the restored lock)",
        highlight=False,
    )


@backup_app.command()
def prune(
    ctx: typer.Context,
    folder: DirOption = None,
    keep_days: Annotated[
        float | None, typer.Option(min=0.0, help="keep this many days (default: backup.keep_days)")
    ] = None,
) -> None:
    """Delete backups older than keep_days; the newest one is always kept."""
    backups = _backups(ctx, folder)
    if keep_days is not None:
        backups.retention_days = keep_days
    deleted = backups.prune()
    for record in deleted:
        console.print(f"deleted {escape(record.id)} ({record.created.isoformat()})", highlight=False)
    console.print(f"{len(deleted)} backup(s) deleted, {len(backups.list_backups())} kept.")
