"""What the dashboard shows of the fleet: rows from the admin status, health, samples and psutil.

Reads the same ``manager.status()`` the admin API serves (``GET /api/v1/status``); a server
``state`` there is shown as it is, and derived from its instances when the status has none.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import psutil

from mcpfleet.audit.masking import Masker
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from mcpfleet.ui.context import DashboardContext
    from mcpfleet.ui.samples import Samples

__all__ = ["describe", "fleet_rows", "instance_rows", "server_state"]

# Instance states counted on the overview, in this order; others (new ones) follow as they come.
COUNTED = ("ready", "starting", "backing_off", "draining", "maintenance", "unhealthy", "failed")


def server_state(row: dict[str, Any]) -> str:
    """One word for a server: the status's own ``state`` if it has one, else what its instances say."""
    state = row.get("state")
    if isinstance(state, dict):  # a whole snapshot ({"state": "backing_off", "last_error": ...})
        state = state.get("state")
    if isinstance(state, str) and state:
        return state.replace("_", " ")
    if not row.get("enabled", True):
        return "disabled"
    if row.get("failed"):
        return "gave up"
    if row.get("mode"):
        return str(row["mode"])
    states = [i.get("state") for i in row.get("instances", [])]
    if not states:
        return "stopped"
    for candidate in ("ready", "starting", "backing_off", "unhealthy", "failed"):
        if candidate in states:
            return candidate.replace("_", " ")
    return str(states[0])


def counts(row: dict[str, Any]) -> list[tuple[str, int]]:
    """(state, how many instances) in the order of COUNTED; draining and maintenance are the
    server's mode applied to its ready instances."""
    found: dict[str, int] = {}
    mode = row.get("mode")
    for instance in row.get("instances", []):
        state = str(instance.get("state"))
        if state == "ready" and mode in ("draining", "maintenance"):
            state = str(mode)
        found[state] = found.get(state, 0) + 1
    ordered = [(s, found.pop(s)) for s in COUNTED if s in found]
    return [(s.replace("_", " "), n) for s, n in [*ordered, *sorted(found.items())]]


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-safe copies (datetimes and other values as text)."""
    plain: list[dict[str, Any]] = json.loads(json.dumps(rows, default=str))
    return plain


def fleet_rows(context: DashboardContext, samples: Samples, *, charts: bool = True) -> list[dict[str, Any]]:
    """One row per server for the overview (and its JSON endpoint)."""
    rows = []
    for row in context.manager.status():
        name = row["server"]
        health = context.monitor.last.get(name) or {}
        recent = samples.recent(name)
        rows.append(
            {
                "server": name,
                "state": server_state(row),
                "type": row.get("type"),
                "version": row.get("version"),
                "counts": counts(row),
                "instances": len(row["instances"]),
                "in_flight": sum(int(i.get("in_flight") or 0) for i in row["instances"]),
                "restarts": sum(int(i.get("restarts") or 0) for i in row["instances"]),
                "failed": row.get("failed"),
                **recent,
                "health": {
                    "healthy": health.get("healthy"),
                    "idle": health.get("idle"),
                    "checked_at": health.get("checked_at"),
                    "latency_ms": health.get("latency_ms"),
                    "error": health.get("error"),
                },
                **({"chart": samples.chart(name)} if charts else {}),
            }
        )
    return _plain(rows)


def _process(pid: int | None) -> dict[str, Any]:
    """CPU (percent since the last look) and resident memory of an instance's process."""
    if pid is None:
        return {"cpu": None, "memory_mb": None}
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        with process.oneshot():
            return {
                "cpu": process.cpu_percent(interval=None),
                "memory_mb": round(process.memory_info().rss / 1e6, 1),
            }
    return {"cpu": None, "memory_mb": None}


def instance_rows(context: DashboardContext, server: str, lines: int = 40) -> list[dict[str, Any]]:
    """The server's instances: the status snapshot, CPU and memory, and the masked stderr tail."""
    audit = context.manager.config.audit
    # The runtime already masked the server's own secret values; credential-shaped text (bearer
    # tokens, keys) and the fleet's own mask patterns go too, as in the audit log.
    masker = Masker(audit.mask_keys, audit.mask_patterns, max_string=16_384)
    rows = []
    for instance in context.manager.get_server_instances(server):
        snapshot = instance.snapshot()
        tail = instance.stderr.tail(lines) if instance.stderr is not None else ""
        stderr = "\n".join(masker.mask_text(line) for line in tail.splitlines())
        rows.append({**snapshot, **_process(snapshot.get("pid")), "stderr": stderr})
    return _plain(rows)


async def describe(context: DashboardContext, server: str) -> dict[str, Any]:
    """A running server's tools, prompts and resources (from the gateway's list cache); what it
    cannot list now is an empty list and a note why."""
    found: dict[str, Any] = {"tools": [], "prompts": [], "resources": [], "problem": None}
    if server not in context.manager.running_servers():
        found["problem"] = "not running: start it to see its tools"
        return found
    capabilities = context.manager.server_capabilities(server) or {}
    for kind in ("tools", "prompts", "resources"):
        method = f"{kind}/list"
        if kind != "tools" and kind not in capabilities:
            continue
        try:
            found[kind] = await context.lists.items(server, method)
        except FleetError as exc:
            found["problem"] = str(exc)
    return found
