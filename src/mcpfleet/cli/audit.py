"""``mcpfleet audit query | verify | prune``: the audit log the fleet file's ``audit:`` names."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mcpfleet.cli.app import console, print_error, state_of
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.audit import AuditRecord, BaseAuditStore, PruneResult


__all__ = ["audit_app", "parse_age", "parse_moment"]

audit_app = typer.Typer(no_args_is_help=True, help="Query, verify and prune the audit log of gateway calls.")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """``24h``, ``15m``, ``7d`` (that long ago) or an ISO 8601 time (local unless it has an offset)."""
    found = _DURATION.match(text.strip())
    if found:
        return (now or datetime.now().astimezone()) - timedelta(**{_UNITS[found[2]]: float(found[1])})
    try:
        return datetime.fromisoformat(text.strip()).astimezone()
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration nor a time; use e.g. 90s, 15m, 24h, 7d or 2025-01-31T12:00"
        ) from None


def parse_age(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``30d`` or ``2w`` as a timedelta."""
    found = _DURATION.match(text.strip())
    if not found or float(found[1]) <= 0:
        raise typer.BadParameter(f"{text!r} is not an age; use e.g. 12h, 30d or 2w")
    return timedelta(**{_UNITS[found[2]]: float(found[1])})


def _store(ctx: typer.Context) -> BaseAuditStore:
    from mcpfleet.audit.stores.auto import open_store

    return open_store(state_of(ctx).manager().config)


def _row(record: AuditRecord) -> list[str]:
    params = "" if record.params is None else json.dumps(record.params, ensure_ascii=False)
    latency = "" if record.latency_ms is None else f"{record.latency_ms:.1f} ms"
    outcome = record.outcome if record.error is None else f"{record.outcome}: {record.error}"
    colour = "green" if record.outcome == "success" else "red"
    return [
        record.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        escape(record.user or ""), escape(record.client or ""), escape(record.server or ""),
        escape(record.tool or ""), f"[{colour}]{escape(outcome[:80])}[/]", latency,
        escape(record.request_id or ""), escape(params[:80]),
    ]  # fmt: skip


@audit_app.command()
def query(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option(help="only calls to this server")] = None,
    user: Annotated[str | None, typer.Option(help="only calls by this user")] = None,
    tool: Annotated[str | None, typer.Option(help="only calls of this tool")] = None,
    outcome: Annotated[str | None, typer.Option(help="success, error, denied, ...")] = None,
    since: Annotated[str | None, typer.Option(help="e.g. 24h, 15m, 7d or 2025-01-31T12:00")] = None,
    until: Annotated[str | None, typer.Option(help="same forms as --since; exclusive")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Show audited calls, newest first."""
    from mcpfleet.audit import AuditQuery

    start = parse_moment(since) if since else None
    end = parse_moment(until) if until else None
    try:
        store = _store(ctx)
        try:
            records = store.query(AuditQuery(server, user, tool, outcome, start, end, limit))
        finally:
            store.close()
    except FleetError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    if as_json:
        for record in records:
            typer.echo(json.dumps(record.to_dict(), ensure_ascii=False))
        return
    table = Table(
        "time", "user", "client", "server", "tool", "outcome", "latency", "request", "params",
        title=f"mcpfleet audit: {len(records)} record(s), newest first", title_justify="left",
    )  # fmt: skip
    for record in records:
        table.add_row(*_row(record))
    console.print(table)


@audit_app.command()
def verify(ctx: typer.Context) -> None:
    """Check the hash chains of the audit log; exit 1 if a record was edited, deleted, moved or added.

    Chains that were pruned start from their signed checkpoint, checked with the checkpoint key
    (audit.checkpoint_key, or audit-checkpoint.key in the fleet home).
    """
    from mcpfleet.audit.checkpoint import load_key
    from mcpfleet.audit.stores.auto import open_store

    try:
        manager = state_of(ctx).manager()
        store = open_store(manager.config)
        try:
            result = store.verify(load_key(manager.config, manager.environ))
        finally:
            store.close()
    except FleetError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    if result.ok:
        console.print(f"[green]{escape(result.describe())}[/]", highlight=False)
        return
    console.print(f"[bold red]{escape(result.describe())}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        str | None, typer.Option(help="prune records older than this (12h, 30d, 2w); default retention_days")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would be pruned; change nothing")
    ] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="then give space back now (SQLite: VACUUM; writers wait)")
    ] = False,
) -> None:
    """Remove old audit records (audit.retention_days, audit.max_size_mb), leaving a signed
    checkpoint per chain so that `mcpfleet audit verify` still checks what remains.
    Exit 1 if a chain was left alone because its old records do not verify."""
    from mcpfleet.audit import RetentionPolicy
    from mcpfleet.audit.checkpoint import load_key
    from mcpfleet.audit.retention import prune as prune_store
    from mcpfleet.audit.stores.auto import open_store

    age = parse_age(older_than) if older_than is not None else None
    try:
        manager = state_of(ctx).manager()
        policy = RetentionPolicy.from_config(manager.config.audit, max_age=age)
        if not policy.active and not vacuum:
            raise FleetError(
                "nothing to prune by: audit.retention_days and audit.max_size_mb are both unset; "
                "pass --older-than 30d or set one of them"
            )
        store = open_store(manager.config)
        try:
            key = load_key(manager.config, manager.environ, create=not dry_run)
            result = prune_store(store, policy, key, dry_run=dry_run, vacuum=vacuum)
        finally:
            store.close()
    except FleetError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    _show_prune(result)
    if result.refused:
        raise typer.Exit(1)


def _show_prune(result: PruneResult) -> None:
    if result.chains:
        title = "would be pruned" if result.dry_run else "pruned"
        table = Table("chain", "records", "through seq", "checkpoint", title=f"mcpfleet audit: {title}",
                      title_justify="left")  # fmt: skip
        for part in result.chains:
            mark = "" if part.checkpoint is None else f"signed, key {part.checkpoint.key_id}"
            table.add_row(escape(part.chain), str(part.records), str(part.through), mark)
        console.print(table)
    colour = "yellow" if result.dry_run else "green"
    console.print(f"[{colour}]{escape(result.describe())}[/]", highlight=False, soft_wrap=True)
    for problem in result.refused:
        console.print(
            f"[bold red]not pruned:[/] chain {escape(problem.chain or '?')}: {escape(problem.describe())}; "
            "run `mcpfleet audit verify`",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
