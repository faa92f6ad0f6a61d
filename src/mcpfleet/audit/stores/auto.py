"""The store and spill file that a fleet's ``audit:`` settings name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.audit.stores.jsonl import JsonlAuditStore
from mcpfleet.audit.stores.postgres import PostgresAuditStore
from mcpfleet.audit.stores.sqlite import SqliteAuditStore
from mcpfleet.exceptions import AuditError
from mcpfleet.home import FleetHome

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = ["open_store", "spill_path"]


def _in_home(fleet: FleetConfig, path: str | None, default: str) -> Path:
    chosen = Path(path or default).expanduser()
    return chosen if chosen.is_absolute() else FleetHome.at(fleet.home_path()).root / chosen


def open_store(fleet: FleetConfig) -> BaseAuditStore:
    """The store ``fleet.audit`` names (nothing is connected until the first read or write)."""
    audit = fleet.audit
    if audit.store == "jsonl":
        return JsonlAuditStore(_in_home(fleet, audit.file, "audit.jsonl"))
    url = audit.url or fleet.database_url
    store = audit.store or ("postgresql" if url and url.startswith("postgresql") else "sqlite")
    if store == "postgresql":
        if not url or not url.startswith("postgresql"):
            raise AuditError(
                "audit.store is postgresql but no PostgreSQL URL is set; set audit.url or database_url "
                "to postgresql://user@host:5432/dbname"
            )
        return PostgresAuditStore(url)
    if url and url.startswith("sqlite"):
        path = url.split("://", 1)[1].removeprefix("/")
        return SqliteAuditStore(path)
    return SqliteAuditStore(FleetHome.at(fleet.home_path()).database_file)


def spill_path(fleet: FleetConfig) -> Path:
    """Where records wait while the store is down (shared by the fleet's gateway processes)."""
    return _in_home(fleet, fleet.audit.spill_file, "audit-spill.jsonl")
