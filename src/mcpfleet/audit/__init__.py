"""The audit log: every gateway call recorded (who, from where, which tool, masked arguments,
outcome, latency), in a hash chain that makes tampering detectable.

    from mcpfleet.audit import AuditLogger

    audit = AuditLogger(log_file="/var/log/mcp/audit.log")
    audit.record(server="filesystem", tool="read_file", params={"path": "/etc/hosts"}, user="admin")
    audit.query(server="filesystem", user="admin")

Stores: :class:`JsonlAuditStore`, :class:`SqliteAuditStore` (the fleet database, default) and
:class:`PostgresAuditStore`; ``mcpfleet audit query`` and ``mcpfleet audit verify`` read them.
"""

from __future__ import annotations

from mcpfleet.audit.chain import BrokenRecord, VerifyResult
from mcpfleet.audit.config import AuditConfig
from mcpfleet.audit.logger import AuditLogger
from mcpfleet.audit.masking import Masker
from mcpfleet.audit.records import AuditQuery, AuditRecord
from mcpfleet.audit.stores import (
    BaseAuditStore,
    JsonlAuditStore,
    PostgresAuditStore,
    SqlAuditStore,
    SqliteAuditStore,
)
from mcpfleet.audit.writer import AuditStats

__all__ = [
    "AuditConfig",
    "AuditLogger",
    "AuditQuery",
    "AuditRecord",
    "AuditStats",
    "BaseAuditStore",
    "BrokenRecord",
    "JsonlAuditStore",
    "Masker",
    "PostgresAuditStore",
    "SqlAuditStore",
    "SqliteAuditStore",
    "VerifyResult",
]
