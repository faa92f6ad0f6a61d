"""The fleet's home folder and its layout.

<home>/
  servers/<name>/     installed packages (node_modules, a venv, ...)
  configs/            copies of applied configs, the install lock
  logs/<name>/        each instance's stderr, rotated
  data/<name>/        each server's own data; the working directory of its processes
  fleet.db            the embedded fleet database (SQLite), unless database_url names another
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mcpfleet.exceptions import ConfigError

__all__ = ["DEFAULT_HOME", "SERVER_NAME", "FleetHome", "check_server_name"]

DEFAULT_HOME = "~/.mcpfleet"
"""The fleet home when neither the fleet file, ``--home`` nor ``MCPFLEET_HOME`` names one."""

# A server's name becomes a folder under servers/, logs/ and data/: no separators, no dots first.
SERVER_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def check_server_name(name: str) -> str:
    """``name`` if it is a valid server name, else :class:`ConfigError` (never a path outside the home)."""
    if not re.fullmatch(SERVER_NAME, name):
        raise ConfigError(
            f"{name!r} is not a valid server name: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (the name becomes a folder in the fleet home)"
        )
    return name


@dataclass(frozen=True)
class FleetHome:
    """Paths inside a fleet home. ``ensure()`` creates the folders."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> FleetHome:
        return cls(Path(path).expanduser().resolve())

    @property
    def servers(self) -> Path:
        return self.root / "servers"

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def database_file(self) -> Path:
        """The embedded fleet database (API keys, audit records) when no database URL is set."""
        return self.root / "fleet.db"

    @property
    def lock_file(self) -> Path:
        """Exact resolved versions of everything installed, so a fleet reinstalls the same bits."""
        return self.configs / "install-lock.json"

    def server_dir(self, name: str) -> Path:
        return self.servers / check_server_name(name)

    def data_dir(self, name: str) -> Path:
        return self.data / check_server_name(name)

    def log_dir(self, name: str) -> Path:
        return self.logs / check_server_name(name)

    def ensure(self) -> FleetHome:
        for folder in (self.servers, self.configs, self.logs, self.data):
            folder.mkdir(parents=True, exist_ok=True)
        return self
