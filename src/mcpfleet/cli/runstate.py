"""The state file ``mcpfleet up`` keeps, so commands in another shell find the live fleet.

Written atomically every few seconds to ``<home>/run/fleet.json``: the pid of ``up``, the
gateway's URL, and every server's status row. Stale (ignored) once that pid is gone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpfleet.home import FleetHome

__all__ = ["RunState", "read_state", "remove_state", "write_state"]


@dataclass(frozen=True)
class RunState:
    pid: int
    gateway_url: str | None
    servers: list[dict[str, Any]]


def _path(home: FleetHome) -> Path:
    return home.root / "run" / "fleet.json"


def write_state(home: FleetHome, rows: list[dict[str, Any]], gateway_url: str | None = None) -> None:
    path = _path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".fleet.{os.getpid()}.tmp")
    data = {"pid": os.getpid(), "written_at": time.time(), "gateway_url": gateway_url, "servers": rows}
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)


def read_state(home: FleetHome) -> RunState | None:
    """The live fleet, or None if no ``mcpfleet up`` is running for this home."""
    try:
        data = json.loads(_path(home).read_text())
        os.kill(int(data["pid"]), 0)
        return RunState(int(data["pid"]), data.get("gateway_url"), list(data["servers"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_state(home: FleetHome) -> None:
    _path(home).unlink(missing_ok=True)
