"""Audit stores: siblings of :class:`BaseAuditStore`; ``audit.store`` in the fleet file picks one."""

from __future__ import annotations

from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.audit.stores.jsonl import JsonlAuditStore
from mcpfleet.audit.stores.postgres import PostgresAuditStore
from mcpfleet.audit.stores.sql import SqlAuditStore
from mcpfleet.audit.stores.sqlite import SqliteAuditStore

__all__ = ["BaseAuditStore", "JsonlAuditStore", "PostgresAuditStore", "SqlAuditStore", "SqliteAuditStore"]
