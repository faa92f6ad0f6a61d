"""Per-principal instances of stdio servers whose ``env`` or ``args`` use ``${user:NAME}``.

:mod:`mcpfleet.percaller.config` holds the per-server settings (``per_caller:``),
:mod:`mcpfleet.percaller.caller` who a request is made for, and :mod:`mcpfleet.percaller.pool`
the pool of each server's per-principal instances (imported by the manager, not here, so that
the fleet config can use the settings without importing the runtime).
"""

from __future__ import annotations

from mcpfleet.percaller.caller import acting_for, current_caller
from mcpfleet.percaller.config import PerCallerConfig, uses_caller_secrets

__all__ = ["PerCallerConfig", "acting_for", "current_caller", "uses_caller_secrets"]
