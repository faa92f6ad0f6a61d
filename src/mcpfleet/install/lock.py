"""The install lock: exact resolved versions of everything installed, so a fleet reinstalls the
same bits. Kept at ``<home>/configs/install-lock.json`` and written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcpfleet.exceptions import ConfigError

__all__ = ["InstallLock", "LockRecord"]


@dataclass(frozen=True)
class LockRecord:
    """One installed server: what was asked for and exactly what was installed."""

    type: str
    identifier: str
    requested: str
    resolved: str
    installed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    detail: Mapping[str, str] = field(default_factory=dict)

    def matches(self, type_: str, identifier: str, requested: str) -> bool:
        return (self.type, self.identifier, self.requested) == (type_, identifier, requested)


class InstallLock:
    """Server name -> :class:`LockRecord`, persisted as JSON."""

    VERSION = 1

    def __init__(self, path: Path, records: dict[str, LockRecord] | None = None) -> None:
        self.path = path
        self._records = records or {}

    @classmethod
    def load(cls, path: str | Path) -> InstallLock:
        path = Path(path)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"The install lock {path} cannot be read ({exc}); move it away and run `mcpfleet install` "
                "to record the installed versions again"
            ) from None
        records = {}
        for name, raw in (data.get("servers") or {}).items():
            try:
                records[name] = LockRecord(**raw)
            except TypeError as exc:
                raise ConfigError(f"The install lock {path} has a bad entry for {name!r}: {exc}") from None
        return cls(path, records)

    def get(self, server: str) -> LockRecord | None:
        return self._records.get(server)

    def set(self, server: str, record: LockRecord) -> None:
        self._records[server] = record

    def remove(self, server: str) -> None:
        self._records.pop(server, None)

    def servers(self) -> list[str]:
        return list(self._records)

    def save(self) -> None:
        """Write the whole lock to a temporary file and move it into place."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": self.VERSION,
            "servers": {
                name: {**asdict(r), "detail": dict(r.detail)} for name, r in sorted(self._records.items())
            },
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)
