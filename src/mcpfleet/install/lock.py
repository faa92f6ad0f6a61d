"""The install lock: exact resolved versions of everything installed, so a fleet reinstalls the
same bits. Kept at ``<home>/configs/install-lock.json`` and written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
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
    constraints: tuple[str, ...] = ()  # PyPI: what its dependencies were held to
    overrides: Mapping[str, Any] = field(default_factory=dict)  # npm: its package.json overrides

    def __post_init__(self) -> None:
        object.__setattr__(self, "constraints", tuple(self.constraints))  # a list, read from JSON

    def matches(
        self,
        type_: str,
        identifier: str,
        requested: str,
        constraints: Sequence[str] = (),
        overrides: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether this install is what a package asks for: a changed constraint or override
        asks for another install."""
        return (self.type, self.identifier, self.requested, self.constraints, dict(self.overrides)) == (
            type_,
            identifier,
            requested,
            tuple(constraints),
            dict(overrides or {}),
        )


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
            "servers": {name: _record_data(r) for name, r in sorted(self._records.items())},
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)


def _record_data(record: LockRecord) -> dict[str, Any]:
    """A record as JSON data; constraints and overrides only when it has them."""
    data = {**asdict(record), "detail": dict(record.detail), "constraints": list(record.constraints)}
    for key in ("constraints", "overrides"):
        if not data[key]:
            del data[key]
    return data
