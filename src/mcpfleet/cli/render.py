"""Tables, progress bars and error output for the CLI (rich)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import TaskID

    from mcpfleet.install import BatchResult

__all__ = [
    "install_progress",
    "install_table",
    "result_text",
    "rollout_table",
    "state_text",
    "status_table",
    "tools_table",
]


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


_STATE_STYLE = {
    "ready": "green",
    "starting": "yellow",
    "backing_off": "yellow",
    "draining": "yellow",
    "maintenance": "blue",
    "gave_up": "bold red",
    "stopped": "dim",
    "idle": "dim",
}


def state_text(row: dict[str, Any]) -> str:
    """A server's (or instance's) state for a table cell: ``backing off (next try in 8s)``."""
    from mcpfleet.runtime.state import StateSnapshot  # only for the commands that show states

    state = StateSnapshot.from_dict(row)
    return f"[{_STATE_STYLE.get(state.state.value, '')}]{escape(state.headline())}[/]"


def status_table(rows: Sequence[dict[str, Any]], *, live: bool, width: int = 200) -> Table:
    """Every server: its package, its state (``backing off``, ``gave up``, ...) and last error.
    Narrower than 110 columns, package, pids and uptime are left out (``--json`` has everything)."""
    table = Table(title="mcpfleet status" + ("" if live else " (fleet not running)"), title_justify="left")
    errors = any(row.get("last_error") for row in rows)
    columns = ["server", "package", "version", "instances", "state", "pids", "restarts", "uptime"]
    if width < 110:
        columns = [c for c in columns if c not in ("package", "pids", "uptime")]
    # Short cells stay whole; the package and the error fold into what is left.
    for col in columns + (["last error"] if errors else []):  # no empty column on a healthy fleet
        flexible = col in ("package", "last error")
        table.add_column(col, no_wrap=not flexible, overflow="fold", min_width=16 if flexible else None)
    for row in rows:
        instances = row["instances"]
        state = state_text(row) if row["enabled"] else "[dim]disabled[/]"
        others: dict[str, int] = {}  # instances not in the server's state (one of two backing off)
        for i in instances:
            if i.get("phase", row.get("state")) != row.get("state"):
                others[str(i["phase"])] = others.get(str(i["phase"]), 0) + 1
        if others:
            state += "".join(f", {n} {phase.replace('_', ' ')}" for phase, n in sorted(others.items()))
        ready = sum(1 for i in instances if i["state"] == "ready")
        version = str(row["version"])
        running = sorted({str(i["version"]) for i in instances if i.get("version") is not None})
        if running and running != [version]:  # mid-update, or an update stopped half-way
            version += f" (running {', '.join(running)})"
        restarts = row.get("restarts", sum(int(i.get("restarts", 0)) for i in instances))
        if not row["installed"]:
            version += " [yellow](not installed)[/]"
        uptimes = [i["uptime"] for i in instances if i.get("uptime") is not None]
        values = {
            "server": row["server"],
            "package": f"{row['type']}: {row['package']}",
            "version": version,
            "instances": f"{ready}/{len(instances)}" if instances else "0",
            "state": state,
            "pids": " ".join(str(i["pid"]) for i in instances if i.get("pid")) or "-",
            "restarts": str(restarts),
            "uptime": _uptime(min(uptimes, default=None)),
        }
        cells = [values[col] for col in columns]
        if errors:
            cells.append(escape(row.get("last_error") or "") or "-")
        table.add_row(*cells)
    return table


def rollout_table(result: dict[str, Any]) -> Table:
    """Each instance of a rolling update (a ``RolloutResult.to_dict()``): outcome, version, time."""
    title = f"{result['server']}: {result['from_version']} -> {result['to_version']}"
    table = Table(title=title, title_justify="left")
    for col in ("instance", "now", "outcome", "version", "seconds", "reason"):
        table.add_column(col, no_wrap=col != "reason")
    styles = {"updated": "green", "rolled_back": "yellow", "not_reached": "dim"}
    for r in result["instances"]:
        style = styles.get(r["outcome"], "bold red")
        cut = f"; {r['cut']} call(s) cut at the drain timeout" if r.get("cut") else ""
        table.add_row(
            r["instance"],
            r["now"] or "-",
            f"[{style}]{r['outcome']}[/]",
            r["version"],
            f"{r['seconds']:.2f}",
            (r["reason"] or "")[:300] + cut,
        )
    return table


def tools_table(tools: Sequence[Any]) -> Table:
    table = Table(title=f"{len(tools)} tools", title_justify="left")
    table.add_column("server", no_wrap=True)
    table.add_column("tool", no_wrap=True)
    table.add_column("arguments")
    table.add_column("description")
    for info in tools:
        schema = info.tool.get("inputSchema") or {}
        required = set(schema.get("required") or ())
        args = " ".join(f"{k}{'' if k in required else '?'}" for k in (schema.get("properties") or {}))
        description = info.description.strip().splitlines()[0] if info.description.strip() else ""
        table.add_row(info.server, info.name, args, description[:100])
    return table


def install_table(result: BatchResult) -> Table:
    table = Table(title="install", title_justify="left")
    for col in ("server", "outcome", "version", "seconds", "reason"):
        table.add_column(col)
    for o in result.outcomes:
        outcome = "[dim]already installed[/]" if o.skipped else ("[green]ok[/]" if o.ok else "[red]failed[/]")
        table.add_row(o.server, outcome, o.version or "-", f"{o.duration:.1f}", (o.reason or "")[:400])
    return table


@contextmanager
def install_progress(console: Console, servers: Sequence[str]) -> Iterator[Any]:
    """A progress bar per server; yields the callback ``install_many`` reports to."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[server]:<20}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def report(server: str, message: str, fraction: float | None) -> None:
        if server not in tasks:
            tasks[server] = progress.add_task(message, server=server, total=1.0)
        task = tasks[server]
        progress.update(task, description=message[:70])
        if fraction is not None:
            progress.update(task, completed=fraction)

    with progress:
        for name in servers:
            report(name, "waiting", 0.0)
        yield report


def result_text(result: dict[str, Any]) -> str:
    """A CallToolResult as text: text content as is, other content as JSON."""
    parts = []
    for item in result.get("content") or []:
        if item.get("type") == "text":
            parts.append(str(item.get("text", "")))
        else:
            shown = dict(item)
            if isinstance(shown.get("data"), str) and len(shown["data"]) > 200:
                shown["data"] = shown["data"][:200] + f"... ({len(item['data'])} chars)"
            parts.append(json.dumps(shown, indent=2))
    if not parts and result.get("structuredContent") is not None:
        parts.append(json.dumps(result["structuredContent"], indent=2))
    return "\n".join(parts)


def elapsed_since(start: float) -> str:
    return f"{time.monotonic() - start:.1f}s"
