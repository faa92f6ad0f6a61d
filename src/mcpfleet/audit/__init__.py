"""The audit log: every gateway call recorded (who, from where, which tool, masked arguments,
outcome, latency), in a hash chain that makes tampering detectable.

    from mcpfleet.audit import AuditLogger

    audit = AuditLogger(log_file="/var/log/mcp/audit.log")
    audit.record(server="filesystem", tool="read_file", params={"path": "/etc/hosts"}, user="admin")
    audit.query(server="filesystem", user="admin")

Stores: :class:`JsonlAuditStore`, :class:`SqliteAuditStore` (the fleet database, default) and
:class:`PostgresAuditStore`; ``mcpfleet audit query`` and ``mcpfleet audit verify`` read them.
Retention (:class:`RetentionPolicy`, ``mcpfleet audit prune``, :class:`AuditPruner` inside
``mcpfleet up``) removes the oldest records and leaves a signed :class:`Checkpoint` per chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.audit.chain import BrokenRecord, VerifyResult
    from mcpfleet.audit.checkpoint import Checkpoint, CheckpointKey
    from mcpfleet.audit.config import AuditConfig
    from mcpfleet.audit.logger import AuditLogger
    from mcpfleet.audit.masking import Masker
    from mcpfleet.audit.records import AuditQuery, AuditRecord
    from mcpfleet.audit.retention import PruneResult, RetentionPolicy
    from mcpfleet.audit.schedule import AuditPruner
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
    "AuditPruner",
    "AuditQuery",
    "AuditRecord",
    "AuditStats",
    "BaseAuditStore",
    "BrokenRecord",
    "Checkpoint",
    "CheckpointKey",
    "JsonlAuditStore",
    "Masker",
    "PostgresAuditStore",
    "PruneResult",
    "RetentionPolicy",
    "SqlAuditStore",
    "SqliteAuditStore",
    "VerifyResult",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "mcpfleet.audit.chain": ["BrokenRecord", "VerifyResult"],
        "mcpfleet.audit.checkpoint": ["Checkpoint", "CheckpointKey"],
        "mcpfleet.audit.config": ["AuditConfig"],
        "mcpfleet.audit.logger": ["AuditLogger"],
        "mcpfleet.audit.masking": ["Masker"],
        "mcpfleet.audit.records": ["AuditQuery", "AuditRecord"],
        "mcpfleet.audit.retention": ["PruneResult", "RetentionPolicy"],
        "mcpfleet.audit.schedule": ["AuditPruner"],
        "mcpfleet.audit.stores": [
            "BaseAuditStore",
            "JsonlAuditStore",
            "PostgresAuditStore",
            "SqlAuditStore",
            "SqliteAuditStore",
        ],
        "mcpfleet.audit.writer": ["AuditStats"],
    },
)
