"""``mcpfleet tools [list] | diff | accept``: a server's tools, and their pinned definitions.

``mcpfleet tools SERVER`` (or ``tools list SERVER``) lists tools as before; ``tools diff SERVER``
shows each tool whose definition changed since it was pinned (old against new, with any
poisoning patterns found), and ``tools accept SERVER [TOOL]`` makes the new definitions the
pinned ones, which releases tools a ``pin: strict`` server held back.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from mcpfleet.cli import commands
from mcpfleet.cli.app import console, err, fleet_database
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.security.pins import PinRecord, PinStore


__all__ = ["render_diff", "tools_app"]


class _ToolsGroup(TyperGroup):
    """``tools SERVER`` still lists: anything that is not a subcommand goes to ``list``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


tools_app = typer.Typer(
    cls=_ToolsGroup, help="List tools; review and accept changed tool definitions (pins)."
)
tools_app.command("list")(commands.tools)


@contextmanager
def _pins(ctx: typer.Context) -> Iterator[tuple[PinStore, list[str]]]:
    from mcpfleet.security.pins import PinStore

    with fleet_database(ctx) as (database, manager):
        yield PinStore(database), list(manager.config.servers)


def _visible(text: str) -> str:
    """Text with invisible and direction-changing characters shown as escapes."""
    out = []
    for char in text:
        code = ord(char)
        hidden = (
            0xE0000 <= code <= 0xE007F or 0x200B <= code <= 0x200F or 0x202A <= code <= 0x202E
            or 0x2060 <= code <= 0x2069 or code in (0xFEFF, 0x180E, 0x061C)
        )  # fmt: skip
        out.append(f"\\u{{{code:04X}}}" if hidden else char)
    return "".join(out)


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return _visible(value).splitlines()
    return _visible(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)).splitlines()


def render_diff(old: PinRecord | None, new: PinRecord) -> list[str]:
    """The lines ``tools diff`` prints for one held tool: old against new, part by part."""
    from mcpfleet.security.poisoning import scan_tool

    if old is None:
        head = f"{new.tool}: new since the server was pinned (seen {new.at:%Y-%m-%d %H:%M}, "
        head += f"version {new.version})"
    else:
        head = (
            f"{new.tool}: changed (pinned {old.at:%Y-%m-%d %H:%M} at version {old.version}; "
            f"seen {new.at:%Y-%m-%d %H:%M} at version {new.version})"
        )
    out = [head]
    for part in ("description", "inputSchema", "annotations"):
        before = _lines(old.definition.get(part)) if old is not None else []
        after = _lines(new.definition.get(part))
        if before == after:
            continue
        out.append(f"  {part}:")
        diff = difflib.unified_diff(before, after, "pinned", "now", lineterm="", n=2)
        out.extend(f"    {line}" for line in diff)
    findings = new.findings or tuple(str(f) for f in scan_tool(new.definition))
    for finding in findings:
        out.append(f"  ! poisoning pattern: {finding}")
    return out


@tools_app.command()
def diff(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="the server whose changed tools to show")],
) -> None:
    """Show the tools whose definitions changed since they were pinned (old against new)."""
    with _pins(ctx) as (store, servers):
        if server not in servers:
            raise FleetError(f"no server {server!r} in this fleet; servers: {', '.join(servers) or 'none'}")
        accepted = {r.tool: r for r in store.records(server, "accepted")}
        pending = store.records(server, "pending")
        if not pending:
            state = f"{len(accepted)} tool(s) pinned" if store.is_pinned(server) else "not pinned yet"
            console.print(f"No changed tools of {server} ({state}).", highlight=False)
            return
        for record in pending:
            for line in render_diff(accepted.get(record.tool), record):
                console.print(escape(line), highlight=False, soft_wrap=True)
        err.print(
            f"Accept with `mcpfleet tools accept {server}` (all) or `mcpfleet tools accept {server} TOOL`.",
            highlight=False,
        )


@tools_app.command()
def accept(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="the server whose changed tools to accept")],
    tool: Annotated[str | None, typer.Argument(help="one tool; default: every changed tool")] = None,
) -> None:
    """Pin the new definitions: held tools are served again (within a second)."""
    with _pins(ctx) as (store, servers):
        if server not in servers:
            raise FleetError(f"no server {server!r} in this fleet; servers: {', '.join(servers) or 'none'}")
        accepted = store.accept(server, tool)
        if not accepted:
            what = f"tool {tool!r} of {server}" if tool else server
            raise FleetError(
                f"{what} has no changed definition to accept; see `mcpfleet tools diff {server}`"
            )
        for record in accepted:
            console.print(f"accepted {server} {record.tool} ({record.hash[:12]})", highlight=False)
