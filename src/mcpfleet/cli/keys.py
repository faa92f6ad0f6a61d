"""``mcpfleet keys create | list | revoke``: API keys for the gateway, in the fleet database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mcpfleet.cli.app import console, err, fleet_database
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.security import ApiKeyInfo, ApiKeyStore


__all__ = ["keys_app", "parse_duration"]

keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys for the gateway.")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d``, ``2w`` or ``1y`` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdwy])\s*", text.lower())
    if match is None or int(match.group(1)) == 0:
        raise FleetError(f"--expires {text!r} is not a duration; write e.g. 90m, 12h, 30d, 2w or 1y")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@contextmanager
def _store(ctx: typer.Context) -> Iterator[tuple[ApiKeyStore, list[str]]]:
    """The fleet's key store and its declared roles; FleetErrors become a message and exit 1."""
    from mcpfleet.security import ApiKeyStore

    with fleet_database(ctx) as (database, manager):
        yield ApiKeyStore(database), list(manager.config.access.roles)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


@keys_app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="who or what uses the key, e.g. ci-bot")],
    role: Annotated[str, typer.Option("--role", help="a role declared under access.roles")],
    expires: Annotated[str | None, typer.Option("--expires", help="lifetime: 90m, 12h, 30d, 2w, 1y")] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    with _store(ctx) as (store, roles):
        if roles and role not in roles:
            raise FleetError(
                f"role {role!r} is not declared under access.roles (declared: {', '.join(roles)}); "
                "pick one of them or declare it in the fleet file"
            )
        key, info = store.create(name, role, expires_in=parse_duration(expires) if expires else None)
        until = f", expires {_when(info.expires_at)} UTC" if info.expires_at else ", never expires"
        err.print(f"Created API key {info.prefix} for {name} (role {role}{until}).", highlight=False)
        err.print("Store it now: it is not shown again. Send it as X-API-Key or Authorization: Bearer.")
        typer.echo(key)


@keys_app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every key: name, role, prefix, created, expires, last used, state."""
    with _store(ctx) as (store, _roles):
        keys = store.list_keys()
        now = datetime.now(UTC)
        if as_json:
            console.print_json(json.dumps([_as_dict(k, now) for k in keys]))
            return
        if not keys:
            console.print(
                "No API keys. Create one with [bold]mcpfleet keys create --name NAME --role ROLE[/]."
            )
            return
        table = Table("name", "role", "created", "expires", "last used", "state")
        table.add_column("prefix", no_wrap=True)
        colour = {"active": "green", "expired": "yellow", "revoked": "red"}
        for k in keys:
            state = k.state(now)
            table.add_row(
                k.name, k.role, _when(k.created_at), _when(k.expires_at),
                _when(k.last_used_at), f"[{colour[state]}]{state}[/]", k.prefix,
            )  # fmt: skip
        console.print(table)


@keys_app.command()
def revoke(ctx: typer.Context, key: Annotated[str, typer.Argument(help="key name, id or prefix")]) -> None:
    """Revoke a key; a running gateway refuses it within auth.api_key_cache_ttl (30 s by default)."""
    with _store(ctx) as (store, _roles):
        for info in store.revoke(key):
            console.print(f"Revoked {info.prefix} ({info.name}).", highlight=False)


def _as_dict(info: ApiKeyInfo, now: datetime) -> dict[str, str | None]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": info.id, "name": info.name, "role": info.role, "prefix": info.prefix,
        "created": iso(info.created_at), "expires": iso(info.expires_at),
        "last_used": iso(info.last_used_at), "revoked": iso(info.revoked_at), "state": info.state(now),
    }  # fmt: skip
