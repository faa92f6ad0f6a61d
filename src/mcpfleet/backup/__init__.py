"""Backups of a fleet: config, install lock, each server's data and the fleet database, in one
checked archive; restore into a new fleet home; scheduled backups inside ``mcpfleet up``.

    from mcpfleet.backup import BackupManager

    backups = BackupManager("/backup/mcp", retention_days=30)
    record = await backups.create(manager)
    backups.restore(record.id, "/opt/mcp-restored")   # then: mcpfleet --home /opt/mcp-restored up
"""

from __future__ import annotations

from mcpfleet.backup.manager import BackupManager, BackupRecord
from mcpfleet.backup.restore import RestoreResult
from mcpfleet.backup.schedule import BackupScheduler
from mcpfleet.backup.serverdata import ServerData

__all__ = ["BackupManager", "BackupRecord", "BackupScheduler", "RestoreResult", "ServerData"]
