"""The state file ``mcpfleet up`` keeps, so commands in another shell find the live fleet.

Written atomically every few seconds to ``<home>/run/fleet.json``: the pid of ``up``, the
gateway's URL, and every server's status row. Stale (ignored) once that pid is gone.

:func:`find_home` finds the home from the global options alone, without the fleet's models: a
command that only asks the running gateway (``status``, ``call``) never imports pydantic or the
manager.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpfleet.home import DEFAULT_HOME, FleetHome

__all__ = ["RunState", "find_home", "read_state", "remove_state", "write_state"]


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


def find_home(config: Path | None, home: Path | None) -> FleetHome | None:
    """The fleet home for ``--config`` and ``--home`` (None: not given), as the manager finds it:
    ``--home``, ``$MCPFLEET_HOME``, the fleet file's ``home:`` (relative to the file), or the
    default. None when the fleet file cannot be read this simply: the manager then says what is
    wrong with it."""
    home = home or _env_path("HOME")
    if home is None:
        home = _home_in(config or _env_path("CONFIG") or Path("mcpfleet.yaml"))
    return FleetHome.at(home) if home is not None else None


def _env_path(name: str) -> Path | None:
    """``MCPFLEET_<name>`` as :class:`~mcpfleet.settings.Settings` reads it (any case)."""
    wanted = f"mcpfleet_{name}".lower()
    value = next((v for k, v in os.environ.items() if k.lower() == wanted), None)
    return Path(value) if value is not None else None


def _home_in(config: Path) -> Path | None:
    """The ``home:`` of a fleet file, as :func:`mcpfleet.config.load_config` resolves it."""
    import yaml  # what only this path needs

    if not config.exists():
        return Path(DEFAULT_HOME)
    try:
        data = yaml.load(
            config.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    home = data.get("home", DEFAULT_HOME) if isinstance(data, dict) else None
    if not isinstance(home, str):
        return None
    if home.startswith("~") or Path(home).is_absolute():
        return Path(home)
    return config.resolve().parent / home
