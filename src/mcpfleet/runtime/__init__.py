"""Running servers: instances (child processes or remote endpoints) and their supervisor."""

from __future__ import annotations

from mcpfleet.runtime.instance import Instance, InstanceState
from mcpfleet.runtime.supervisor import Supervisor

__all__ = ["Instance", "InstanceState", "Supervisor"]
